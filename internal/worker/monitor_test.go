package worker

import (
	"strings"
	"testing"
	"time"
)

// TestShortfallNamesTheCause: the warning says what keeps the rate from being reached.
func TestShortfallNamesTheCause(t *testing.T) {
	base := rateSample{configured: 20, achieved: 10, backlog: true, latency: time.Second, slots: 10, capacity: 300}
	for _, c := range []struct {
		name  string
		edit  func(*rateSample)
		short bool
		cause string
	}{
		{"reached", func(s *rateSample) { s.achieved = 19 }, false, ""},
		{"no backlog", func(s *rateSample) { s.backlog = false }, false, ""},
		{"no limit", func(s *rateSample) { s.configured = 0 }, false, ""},
		{"pauses", func(s *rateSample) { s.paused = true }, true, "pauses"},
		{"latency", func(s *rateSample) { s.latency, s.capacity = 3*time.Second, 40 }, true, "latency and concurrency"},
		{"confirmations", func(s *rateSample) { s.confirmActive = 6 }, true, "confirmations"},
		{"unknown", func(*rateSample) {}, true, "none of"},
	} {
		s := base
		c.edit(&s)
		cause, short := shortfall(s)
		if short != c.short || !strings.HasPrefix(cause, c.cause) {
			t.Errorf("%s: short=%v cause %q; want %v, %q", c.name, short, cause, c.short, c.cause)
		}
	}
}
