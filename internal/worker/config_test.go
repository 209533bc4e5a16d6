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
		{Config{BatchSize: 16}, "BatchSize (PURGE_BATCH_SIZE) 16"},
		{Config{BatchSize: -1}, "BatchSize (PURGE_BATCH_SIZE) -1"},
		{Config{Concurrency: -2}, "Concurrency (PURGE_CONCURRENCY) -2"},
		{Config{Window: -time.Second}, "Window (PURGE_WINDOW) -1s"},
		{Config{Window: 5 * time.Second, MaxDelay: time.Second}, "shorter than Window"},
		{Config{Limit: store.Limit{Rate: -1}}, "rate limit"},
		{Config{MaxRetry: -1}, "MaxRetry (PURGE_MAX_RETRY) -1"},
		{Config{MaxResends: -1}, "MaxResends (PURGE_MAX_RESENDS) -1"},
		{Config{AllCooldown: -time.Hour}, "AllCooldown (PURGE_ALL_COOLDOWN) -1h"},
	} {
		_, err := New(c.cfg, nil, &nopAPI{}, zap.NewNop(), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
}
