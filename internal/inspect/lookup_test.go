package inspect

import (
	"testing"
	"time"
)

// TestCoverWording (issue 24): a prefix and a flush-all that cover a request are said the same way.
func TestCoverWording(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		c    Cover
		want string
	}{
		{Cover{Prefix: "https://img.example.com/a/*", SentAt: at}, "covered by prefix https://img.example.com/a/*, sent at 2026-12-06T10:00:00Z"},
		{Cover{SentAt: at, UUID: "u-1"}, "covered by flush-all, sent at 2026-12-06T10:00:00Z (request u-1)"},
	} {
		if got := c.c.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.c, got, c.want)
		}
	}
}
