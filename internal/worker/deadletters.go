package worker

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// runDeadLetterSweep reconciles the product's dead-letter record with asynq's archive every
// DeadLetterSweep until ctx is done (inspect.Reconcile): it records the tasks asynq's
// recoverer archived without the error handler (a worker died during a task's last attempt), and
// forgets the records of tasks an operator deleted in asynqmon or ran again to completion. One
// worker at a time does it (a lease); several would only repeat each other.
func (w *Worker) runDeadLetterSweep(ctx context.Context) {
	t := time.NewTicker(w.cfg.DeadLetterSweep)
	defer t.Stop()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = w.store.Release(rctx, w.store.Keys().DeadSweep, w.id)
	}()
	for {
		w.sweepDeadLetters(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepDeadLetters runs one reconciliation if this worker holds the sweep's lease (renewed each
// time, so one worker keeps it while it lives), and logs and counts what it changed.
func (w *Worker) sweepDeadLetters(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, max(w.cfg.DeadLetterSweep, 10*time.Second))
	defer cancel()
	mine, err := w.store.Lease(sctx, w.store.Keys().DeadSweep, w.id, 2*w.cfg.DeadLetterSweep)
	if err != nil {
		w.log.Debug("dead-letter sweep lease", zap.Error(err))
	}
	if !mine {
		return
	}
	res, err := inspect.Reconcile(sctx, w.store, w.cfg.HistoryTTL)
	for _, d := range res.Added {
		w.metrics.DeadLettered.WithLabelValues("archived_by_asynq").Inc()
		if d.Type == tasks.TypeConfirm {
			w.metrics.Final.WithLabelValues(store.StateUnconfirmed).Inc()
		}
		w.log.Warn("task dead-lettered by asynq without the worker (its lease expired on its last attempt: the worker running it "+
			"died or lost Redis; or archived by hand): recorded as a dead letter",
			zap.String("task_id", d.ID), zap.String("queue", d.Queue), zap.String("type", d.Type), zap.String("reason", d.Reason),
			zap.Int("urls", len(d.URLs)))
	}
	for _, d := range res.Forgotten {
		w.log.Info("dead letter forgotten: its task was deleted in asynq (asynqmon), or ran again and completed",
			zap.String("task_id", d.ID), zap.String("queue", d.Queue), zap.String("type", d.Type))
	}
	if err != nil && ctx.Err() == nil {
		w.log.Warn("dead-letter sweep failed; it runs again", zap.Duration("every", w.cfg.DeadLetterSweep), zap.Error(err))
	}
}
