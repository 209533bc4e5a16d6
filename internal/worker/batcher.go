package worker

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// maxClaim bounds the entries one batcher step reads (and so the memory it holds): 100 requests.
const maxClaim = 100 * tasks.MaxURLsPerTask

// runBatcher forms request tasks from the pending set until ctx is done. Only the holder of the
// batcher lease forms batches; the others stand by and take over within a lease if it dies.
func (w *Worker) runBatcher(ctx context.Context) {
	lease := max(5*w.cfg.Tick, 2*time.Second)
	t := time.NewTicker(w.cfg.Tick)
	defer t.Stop()
	var leader bool
	defer func() {
		if leader {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = w.store.Release(ctx, store.KeyBatcher, w.id)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A step runs to its end even when shutdown begins, so that nothing is half done.
		step, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		ok, err := w.store.Lease(step, store.KeyBatcher, w.id, lease)
		if err != nil {
			w.log.Debug("batcher lease", zap.Error(err))
		}
		if ok != leader {
			w.log.Debug("batcher lease changed", zap.Bool("leader", ok))
			leader = ok
		}
		if ok {
			for {
				n, err := w.formBatches(step)
				if err != nil {
					w.log.Warn("batcher step failed; retrying next tick", zap.Error(err))
					break
				}
				if n < maxClaim || ctx.Err() != nil {
					break
				}
			}
		}
		cancel()
	}
}

// formBatches enqueues request tasks for the pending entries that are due and then removes them
// from the pending set. It returns how many entries it handled.
func (w *Worker) formBatches(ctx context.Context) (int, error) {
	entries, _, err := w.store.DueEntries(ctx, store.Window{
		Window: w.cfg.Window, MaxDelay: w.cfg.MaxDelay, Batch: w.cfg.BatchSize, MaxClaim: maxClaim,
	})
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	sources, err := w.store.Sources(ctx, entries)
	if err != nil {
		return 0, err
	}
	taskIDs := make([]string, len(entries))
	for start := 0; start < len(entries); start += w.cfg.BatchSize {
		chunk := entries[start:min(start+w.cfg.BatchSize, len(entries))]
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
		t, err := tasks.NewURLsTask(p, tasks.QueueInteractive, w.cfg.MaxRetry)
		if err != nil {
			return 0, err
		}
		id := tasks.URLsTaskID(p) // once per task, not per URL: a SHA-256 over the whole payload
		for i := range chunk {
			taskIDs[start+i] = id
		}
		if _, err := w.client.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return 0, err
		}
		w.metrics.BatchesFormed.Inc()
	}
	if err := w.store.RemovePending(ctx, entries, taskIDs, w.cfg.HistoryTTL); err != nil {
		return 0, err
	}
	return len(entries), nil
}

func appendDistinct(dst []string, v string) []string {
	for _, d := range dst {
		if d == v {
			return dst
		}
	}
	return append(dst, v)
}
