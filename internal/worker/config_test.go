package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/defaults"
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

// TestConfigDefaultsAndValidation: zero settings that mean nothing at zero get their defaults
// (internal/defaults'); zero settings that mean something keep it, as the same variable set to 0
// does (no rate limit, no retries, no resends, no cooldown); settings the worker cannot run with
// are refused by New with an error naming them, never patched.
func TestConfigDefaultsAndValidation(t *testing.T) {
	d := Config{}.WithDefaults()
	if d.BatchSize != defaults.BatchSize || d.Window != defaults.Window || d.MaxDelay != defaults.MaxDelay ||
		d.Concurrency != defaults.Concurrency || d.HistoryTTL != defaults.HistoryTTL || d.Tick != 250*time.Millisecond {
		t.Errorf("defaults: %+v", d)
	}
	if d.Limit.Rate != 0 || d.MaxRetry != 0 || d.MaxResends != 0 || d.AllCooldown != 0 {
		t.Errorf("a zero that means something was replaced: rate %v, retries %d, resends %d, cooldown %s",
			d.Limit.Rate, d.MaxRetry, d.MaxResends, d.AllCooldown)
	}
	if got := (Config{Limit: store.Limit{Rate: 7, Burst: 3}}).WithDefaults().ConfirmLimit; got != (store.Limit{Rate: 7, Burst: 3}) {
		t.Errorf("the status checks' budget defaults to the send rate: %+v", got)
	}
	if got := (Config{Window: time.Minute}).WithDefaults().MaxDelay; got != time.Minute {
		t.Errorf("a window longer than the default MaxDelay: MaxDelay %s, want the window", got)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{BatchSize: 16}, "BatchSize 16 is out of range"},
		{Config{BatchSize: -1}, "BatchSize -1 is out of range"},
		{Config{Concurrency: -2}, "Concurrency -2 is out of range"},
		{Config{Concurrency: defaults.MaxConcurrency + 1}, "Concurrency 1001 is out of range"},
		{Config{Window: -time.Second}, "Window -1s is too short"},
		{Config{Window: 5 * time.Second, MaxDelay: time.Second}, "MaxDelay 1s is shorter than Window 5s"},
		{Config{Limit: store.Limit{Rate: -1}}, "Limit.Rate -1 is negative"},
		{Config{MaxRetry: -1}, "MaxRetry -1 is out of range"},
		{Config{MaxRetry: defaults.MaxRetryLimit + 1}, "MaxRetry 101 is out of range: use 0 to 100"},
		{Config{MaxResends: -1}, "MaxResends -1 is out of range"},
		{Config{AllCooldown: -time.Hour}, "AllCooldown -1h0m0s is negative"},
		{Config{RetryBase: time.Millisecond}, "RetryBase 1ms is too short"},
	} {
		_, err := New(c.cfg, nil, &nopAPI{}, zap.NewNop(), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
}
