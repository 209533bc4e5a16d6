package worker

import (
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// TestClaimSize: a round claims maxClaim entries with no rate limit, and otherwise no more than
// the lookahead leaves room for once the tasks already queued are counted; none when it is full.
func TestClaimSize(t *testing.T) {
	latency := time.Second

	unlimited := Config{Concurrency: 10}.WithDefaults()
	for _, queued := range []int{0, 1, 1000} {
		if got := claimSize(unlimited, latency, requestsPerTask(unlimited, latency), queued); got != maxClaim {
			t.Errorf("no rate limit, %d queued: claim %d, want maxClaim %d", queued, got, maxClaim)
		}
	}

	cfg := Config{Limit: store.Limit{Rate: 20, Burst: 5}, Concurrency: 10}.WithDefaults()
	per := requestsPerTask(cfg, latency)
	ahead := lookaheadRequests(cfg, latency, per)
	if ahead*cfg.BatchSize >= maxClaim {
		t.Fatalf("the case needs a lookahead below maxClaim: %d requests of %d URLs", ahead, cfg.BatchSize)
	}
	fullAt := (ahead + per - 1) / per // tasks queued that fill the lookahead
	for _, c := range []struct {
		queued int
		want   int
	}{
		{0, ahead * cfg.BatchSize},
		{1, (ahead - per) * cfg.BatchSize},
		{fullAt - 1, (ahead - (fullAt-1)*per) * cfg.BatchSize},
		{fullAt, 0},
		{fullAt + 10, 0},
	} {
		if got := claimSize(cfg, latency, per, c.queued); got != c.want {
			t.Errorf("rate 20, %d tasks of %d requests queued, lookahead %d requests: claim %d, want %d", c.queued, per, ahead, got, c.want)
		}
	}

	fast := Config{Limit: store.Limit{Rate: 100000, Burst: 5}, Concurrency: 10}.WithDefaults()
	if got := claimSize(fast, latency, requestsPerTask(fast, latency), 0); got != maxClaim {
		t.Errorf("a lookahead above maxClaim: claim %d, want maxClaim %d", got, maxClaim)
	}
}
