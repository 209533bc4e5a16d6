package worker

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Status checks have their own budget (PURGE_CONFIRM_RATE, shared by every worker, its own limit
// in the limiter: see store.Status), so they never take an invalidation's place. Their backlog is
// bounded: past confirmBacklog checks waiting, an accepted request is not followed (its URLs are
// marked unconfirmed, counted and logged), because checks that cannot run within the budget only
// grow a queue. Cloudimage publishes no limit for either endpoint.

// statusSlots is how many task slots status checks may hold at once: half of them, so that
// invalidations always have the other half (each slot carries many calls: see pace.go).
func statusSlots(cfg Config) int64 { return int64(max(cfg.Concurrency/2, 1)) }

// holdStatusSlot takes one of the status checks' slots; release gives it back. ok is false when
// they are all taken (the check comes back later, without a failure).
func (w *Worker) holdStatusSlot() (release func(), ok bool) {
	if w.statusBusy.Add(1) > statusSlots(w.cfg) {
		w.statusBusy.Add(-1)
		return nil, false
	}
	return func() { w.statusBusy.Add(-1) }, true
}

// confirmBacklog is the most status checks that may wait: what the budget runs in ten minutes, at
// least 1,000; 100,000 with no limit.
func confirmBacklog(cfg Config) int64 {
	if cfg.ConfirmLimit.Rate <= 0 {
		return 100_000
	}
	return max(int64(cfg.ConfirmLimit.Rate*600), 1000)
}

// confirmGate caches the backlog count (read at most once a second) and rate-limits the warning.
type confirmGate struct {
	mu   sync.Mutex
	read time.Time
	n    int64
	warn oncePer
}

// confirmRoom reports whether one more status check may be scheduled.
func (w *Worker) confirmRoom(ctx context.Context) bool {
	g := &w.confirm
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.read) > time.Second {
		n, err := w.status.ConfirmBacklog(ctx)
		if err != nil {
			return true // schedule it; the count comes back with Redis
		}
		g.n, g.read = n, time.Now()
	}
	limit := confirmBacklog(w.cfg)
	if g.n < limit {
		g.n++
		return true
	}
	if g.warn.allow(time.Now()) {
		w.log.Warn("status-check backlog full: accepted requests are not followed (marked unconfirmed) until it shrinks; "+
			"raise PURGE_CONFIRM_RATE or turn confirmations off (PURGE_CONFIRM=false)",
			zap.Int64("waiting_checks", g.n), zap.Int64("limit", limit), zap.Float64("confirm_rate", w.cfg.ConfirmLimit.Rate))
	}
	return false
}
