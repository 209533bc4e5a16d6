package worker

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// An accepted call records its status check in Redis with one ZADD (followUp, store.AddCheck).
// Each worker's check loop hands the checks that came due to asynq as confirm tasks.
// So a drain pays one plain command per call for its checks, not an asynq enqueue.
// And asynq never has to forward thousands of scheduled checks while the drain runs.
// While this worker sends flat out, the loop waits (sendingFlatOut), at most confirmYieldMax.
// A worker killed between taking checks and enqueueing them loses none: see store.TakeChecks.

const (
	// checksEvery is how often the check loop looks for checks that came due.
	checksEvery = 200 * time.Millisecond
	// checksBatch is how many checks it takes at once.
	checksBatch = 100
	// checksLease is how long a check taken stays with its taker: then another takes it.
	checksLease = time.Minute
)

// runChecks hands the status checks that came due to asynq, every checksEvery, until ctx is done.
func (w *Worker) runChecks(ctx context.Context) {
	t := time.NewTicker(checksEvery)
	defer t.Stop()
	warn := oncePer{period: time.Minute}
	var flatSince time.Time // when this worker began to send flat out; zero: it does not
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if holdChecks(&flatSince, w.sendingFlatOut(), time.Now()) {
			continue
		}
		if err := w.handChecks(ctx); err != nil && ctx.Err() == nil && warn.allow(time.Now()) {
			w.log.Warn("could not hand status checks to the task queue: they are taken again after a minute", zap.Error(err))
		}
	}
}

// holdChecks reports whether the check loop waits at now, flat saying whether this worker sends
// flat out. It waits while it does, up to confirmYieldMax from *since, when that began.
func holdChecks(since *time.Time, flat bool, now time.Time) bool {
	switch {
	case !flat:
		*since = time.Time{}
		return false
	case since.IsZero():
		*since = now
		return true
	}
	return now.Sub(*since) < confirmYieldMax
}

// handChecks enqueues the confirm tasks of the checks due, batch by batch, and removes them. The
// first failure stops it: the checks not removed are taken again after checksLease.
func (w *Worker) handChecks(ctx context.Context) error {
	for ctx.Err() == nil {
		raw, err := w.store.TakeChecks(ctx, time.Now(), checksBatch, checksLease)
		if err != nil {
			return err
		}
		done := make([]string, 0, len(raw))
		for _, r := range raw {
			c, err := tasks.DecodeConfirm([]byte(r))
			if err != nil {
				w.log.Error("dropped a status check record that does not decode", zap.Int("bytes", len(r)), zap.Error(err))
				done = append(done, r)
				continue
			}
			t, err := taskq.NewConfirmTask(c, w.q.Confirm, 0, w.cfg.MaxRetry)
			if err == nil {
				_, err = taskq.Enqueue(ctx, w.client, t) // a check enqueued before is the same task
			}
			if err != nil {
				_ = w.store.DoneChecks(context.WithoutCancel(ctx), done)
				return err
			}
			done = append(done, r)
		}
		if err := w.store.DoneChecks(context.WithoutCancel(ctx), done); err != nil {
			return err
		}
		if len(raw) < checksBatch {
			return nil
		}
	}
	return nil
}
