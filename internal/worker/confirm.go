package worker

import (
	"context"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
)

// Status checks have their own budget (PURGE_CONFIRM_RATE, shared by every worker, its own limit
// in the limiter: see store.Status), so they never take an invalidation's place. Their backlog is
// bounded: past confirmBacklog checks waiting, an accepted request is not followed (its URLs are
// marked unconfirmed, counted and logged), because checks that cannot run within the budget only
// grow a queue. Cloudimage publishes no limit for either endpoint.

// statusSlots is how many status checks a worker runs at once: half its PURGE_CONCURRENCY. They
// run on task slots of their own (a server of their own for the confirm queue, see Run), so an
// invalidation never waits for a check's slot, and a check never takes one from the queue of
// invalidations only to hand it back.
func statusSlots(cfg Config) int { return max(cfg.Concurrency/2, 1) }

// confirmYieldMax bounds how long one status check waits for flat-out sending to pause.
const confirmYieldMax = time.Minute

// limitedFor is how long after an invalidation last waited for the shared limit sending still
// counts as paced by the limit, not by this worker.
const limitedFor = time.Second

// yieldToSends waits, up to confirmYieldMax, while this worker sends flat out: invalidations run
// and none of them waited for the shared limit within limitedFor. Then the worker's CPU and
// Redis's are what sets the pace of sending, and a check would slow it. When the limit sets the
// pace (the usual case against the real API) a check does not wait. The wait reads no Redis.
func (w *Worker) yieldToSends(ctx context.Context) error {
	deadline := time.Now().Add(confirmYieldMax)
	for w.sendingFlatOut() && time.Now().Before(deadline) {
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// sendGap is how long after an invalidation handler ended sending still counts as running. Between
// two tasks of a drain no handler runs for a moment: checks slipped in there, 138 during a drain
// of 5,000 URLs (the bench's smoke run).
const sendGap = 250 * time.Millisecond

// sendingFlatOut reports whether invalidations run in this worker, or ran within sendGap, at a
// pace the limit does not set.
func (w *Worker) sendingFlatOut() bool {
	running := w.sending.Load() > 0 || time.Since(time.Unix(0, w.sentAt.Load())) < sendGap
	return running && time.Since(time.Unix(0, w.limitedAt.Load())) > limitedFor
}

// counted runs h with w.sending counting it: an invalidation handler.
func (w *Worker) counted(h asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		w.sending.Add(1)
		defer func() {
			w.sentAt.Store(time.Now().UnixNano())
			w.sending.Add(-1)
		}()
		return h(ctx, t)
	}
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
