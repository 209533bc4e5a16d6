package worker

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// maxClaim bounds the entries one batcher round reads (and so the memory it holds): 100 requests.
const maxClaim = 100 * tasks.MaxURLsPerTask

// runBatcher forms request tasks from the pending set until ctx is done. Only the holder of the
// batcher lease forms batches; the others stand by and take over within a lease if it dies.
//
// A step never outlives the lease that allows it: the lease is renewed before every round of a
// step (one claim of at most maxClaim entries), and each round ends within the lease: it begins no
// chunk after its deadline (three quarters of the lease), and the writes of a chunk begun before it
// are bounded by the lease's end. So a long backlog never has two workers forming batches at once.
func (w *Worker) runBatcher(ctx context.Context) {
	lease := max(5*w.cfg.Tick, 2*time.Second)
	t := time.NewTicker(w.cfg.Tick)
	defer t.Stop()
	var leader bool
	defer func() {
		if leader {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = w.store.Release(ctx, w.store.Keys().Batcher, w.id)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.checkGuard(ctx); err != nil {
			// An evicting Redis would lose the batches formed: leave the requests pending.
			if w.guardWarn.allow(time.Now()) {
				w.log.Error("batcher: forming no batches", zap.Error(err))
			}
			continue
		}
		for {
			// A round runs to its end even when shutdown begins, so that nothing is half done; it
			// ends before the lease taken for it can lapse. leaseEnd is read before the lease is
			// taken, so the lease lasts at least until then.
			leaseEnd := time.Now().Add(lease)
			round, cancel := context.WithTimeout(context.WithoutCancel(ctx), lease*3/4)
			ok, err := w.store.Lease(round, w.store.Keys().Batcher, w.id, lease)
			if err != nil {
				w.log.Debug("batcher lease", zap.Error(err))
			}
			if ok != leader {
				w.log.Debug("batcher lease changed", zap.Bool("leader", ok))
				leader = ok
			}
			more := false
			if ok {
				more, err = w.formBatches(round, leaseEnd)
				if err != nil {
					w.log.Warn("batcher step failed; retrying next tick", zap.Error(err))
					more = false
				}
			}
			cancel()
			if !more || ctx.Err() != nil {
				break
			}
		}
	}
}

// formBatches enqueues request tasks for the pending entries that are due.
// It forms no more than the lookahead allows.
// It removes each chunk's entries from the pending set right after the chunk's task is enqueued.
// It reports whether more may be due.
// That is so when a whole claim was due, or when the round stopped early.
//
// ctx is the round, and it bounds the reads.
// No chunk begins once the round's deadline is past or near.
// Near means closer than the slowest chunk of the round took.
// The entries not begun stay pending, untouched, for the next round.
//
// A chunk begun is finished: first the enqueue, then the removal.
// Its context does not inherit the round's deadline or cancel.
// It is bounded by until, the lease's end.
// So a round never leaves an enqueued chunk pending.
// The next round may chunk with another size, since the latency it sees may differ.
// It would then form those URLs into tasks with other IDs and send them twice.
// Only a crash or a failing Redis between the enqueue and the removal can do that.
// The URLs are then sent twice, never lost.
func (w *Worker) formBatches(ctx context.Context, until time.Time) (more bool, err error) {
	latency := w.latency.get()
	perTask := requestsPerTask(w.cfg, latency)
	queued, err := w.queuedTasks(ctx)
	if err != nil {
		return false, err
	}
	claim := claimSize(w.cfg, latency, perTask, queued)
	if claim == 0 {
		w.metrics.LookaheadFull.Inc()
		return false, nil
	}
	win := store.Window{
		Window: w.cfg.Window, MaxDelay: w.cfg.MaxDelay, Batch: w.cfg.BatchSize, MaxClaim: claim,
		Spare: queued == 0, Limit: w.cfg.Limit,
	}
	entries, _, err := w.store.DueEntries(ctx, win)
	if err != nil || len(entries) == 0 {
		return false, err
	}
	sources, err := w.store.Sources(ctx, entries)
	if err != nil {
		return false, err
	}
	// Requests per task: enough to carry the calls needed in flight, in unequal shares (taskSize).
	// (A task's requests go out concurrently, so packing costs a small backlog no latency; capping
	// it by this round's claim would form one-request tasks once the lookahead hands out a few
	// requests a round.)
	deadline, bounded := ctx.Deadline()
	var slowest time.Duration
	for start, per := 0, 0; start < len(entries); start += per {
		if ctx.Err() != nil || bounded && time.Until(deadline) < slowest {
			w.log.Debug("batcher round ends at its deadline; the rest of its claim stays pending",
				zap.Int("formed", start), zap.Int("left", len(entries)-start))
			return true, nil
		}
		began := time.Now()
		per = taskSize(perTask, w.batchTurn) * w.cfg.BatchSize
		w.batchTurn++
		chunk := entries[start:min(start+per, len(entries))]
		p := tasks.URLs{URLs: make([]string, len(chunk)), Origin: tasks.OriginInteractive}
		var newest int64
		var srcs []string
		for i, e := range chunk {
			p.URLs[i] = e.Key
			newest = max(newest, e.RequestedAt)
			if s, ok := sources[e.Key]; ok {
				srcs = appendDistinct(srcs, s)
			}
		}
		p.RequestedAt = time.UnixMilli(newest).UTC()
		p.Sources = srcs
		t, err := taskq.NewURLsTask(p, w.q.Interactive, w.cfg.MaxRetry)
		if err != nil {
			return false, err
		}
		id := tasks.URLsTaskID(p) // once per task, not per URL: a SHA-256 over the whole payload
		taskIDs := make([]string, len(chunk))
		for i := range chunk {
			taskIDs[i] = id
		}
		if err := w.formChunk(ctx, until, t, chunk, taskIDs); err != nil {
			return false, err
		}
		w.metrics.BatchesFormed.Inc()
		slowest = max(slowest, time.Since(began))
	}
	return len(entries) == win.Claim(), nil
}

// formChunk enqueues the task of one chunk and then removes the chunk's entries from the pending
// set (in that order: a crash in between sends them twice, never loses them), with a context that
// does not inherit ctx's deadline or cancel, bounded by until.
func (w *Worker) formChunk(ctx context.Context, until time.Time, t *asynq.Task, chunk []store.Entry, taskIDs []string) error {
	wctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), until)
	defer cancel()
	if _, err := w.enqueue(wctx, t); err != nil {
		return err
	}
	// With the replica wait, a failover cannot keep the removal and lose the task.
	if err := store.WaitReplicas(wctx, w.rdb, taskq.PendingKey(w.q.Interactive), w.cfg.Replicas); err != nil {
		return err
	}
	return w.store.RemovePending(wctx, chunk, taskIDs, w.cfg.HistoryTTL)
}

// claimSize is how many pending entries one round may claim when queued tasks of perTask
// requests each already wait for a slot: maxClaim, bounded by the room the lookahead leaves (in
// requests of cfg.BatchSize URLs). 0 means the lookahead is full: form nothing this round.
func claimSize(cfg Config, latency time.Duration, perTask, queued int) int {
	ahead := lookaheadRequests(cfg, latency, perTask)
	if ahead < 0 {
		return maxClaim
	}
	room := ahead - queued*perTask
	if room <= 0 {
		return 0
	}
	return min(maxClaim, room*cfg.BatchSize)
}

func appendDistinct(dst []string, v string) []string {
	for _, d := range dst {
		if d == v {
			return dst
		}
	}
	return append(dst, v)
}
