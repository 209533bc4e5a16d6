package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
)

// mustNew is New for tests: a config New refuses fails the test.
func mustNew(t testing.TB, cfg Config, rdb redis.UniversalClient, api API, log *zap.Logger, m *Metrics) *Worker {
	t.Helper()
	w, err := New(cfg, rdb, api, log, m)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestConfigDefaultsAndValidation: zero settings get their defaults; settings the worker cannot
// run with are refused by New with an error naming them, never patched.
func TestConfigDefaultsAndValidation(t *testing.T) {
	d := Config{}.WithDefaults()
	if d.BatchSize != 15 || d.Window != 2*time.Second || d.Concurrency != 10 || d.MaxResends != 3 || d.Tick != 250*time.Millisecond {
		t.Errorf("defaults: %+v", d)
	}
	if got := (Config{Limit: store.Limit{Rate: 7, Burst: 3}}).WithDefaults().ConfirmLimit; got != (store.Limit{Rate: 7, Burst: 3}) {
		t.Errorf("the status checks' budget defaults to the send rate: %+v", got)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{BatchSize: 16}, "BatchSize 16"},
		{Config{BatchSize: -1}, "BatchSize -1"},
		{Config{Concurrency: -2}, "Concurrency -2"},
		{Config{Window: -time.Second}, "Window -1s"},
		{Config{Limit: store.Limit{Rate: -1}}, "rate limit"},
	} {
		_, err := New(c.cfg, nil, &nopAPI{}, zap.NewNop(), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
}
