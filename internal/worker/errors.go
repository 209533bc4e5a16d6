package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// snoozeError asks asynq to run the task again after d without counting a failure: the request
// was not tried (shared pause, rate limit, a rejected key) or was throttled by Cloudimage.
type snoozeError struct {
	d      time.Duration
	reason string
}

func (e *snoozeError) Error() string {
	// The reason comes first: asynqmon's task list shows the start of the error ("paused: 429 ...").
	return e.reason + "; not sent yet, next try in " + e.d.Round(time.Millisecond).String()
}

func snooze(d time.Duration, reason string) error {
	// Up to 10% jitter, so that tasks snoozed together do not all come back in the same instant.
	d += time.Duration(rand.Int64N(int64(d)/10 + 1))
	return &snoozeError{d: d, reason: reason}
}

// failure is a transient failure (5xx, network, timeout): it counts against PURGE_MAX_RETRY and
// is retried after at least d (the shared backoff every worker observes).
type failure struct {
	err error
	d   time.Duration
}

func (e *failure) Error() string { return e.err.Error() }
func (e *failure) Unwrap() error { return e.err }

// deadLetter archives the task at once with msg: bad input, a URL Cloudimage rejects, a refused
// flush-all, or retries used up. It reads as the reason in asynqmon and in `enqueue dlq ls`.
type deadLetter struct{ msg string }

func (e *deadLetter) Error() string        { return e.msg }
func (e *deadLetter) Is(target error) bool { return target == asynq.SkipRetry }

// isFailure tells asynq which errors count as a failed attempt.
func isFailure(err error) bool {
	var s *snoozeError
	return !errors.As(err, &s)
}

// retryDelay is asynq's RetryDelayFunc: snoozes wait as asked; failures back off exponentially
// from RetryBase (with jitter, capped at 10 min), and never sooner than the shared pause.
func (w *Worker) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var s *snoozeError
	if errors.As(err, &s) {
		return s.d
	}
	d := min(w.cfg.RetryBase<<min(n, 12), 10*time.Minute)
	d = d/2 + time.Duration(rand.Int64N(int64(d)/2+1))
	var f *failure
	if errors.As(err, &f) && f.d > d {
		d = f.d
	}
	return d
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// lastAttempt reports whether a failure now would use up the task's retries. Tasks are enqueued
// with asynq MaxRetry = PURGE_MAX_RETRY + 1 (taskq.AsynqMaxRetry), so the budget is MaxRetry-1.
func lastAttempt(ctx context.Context) (attempts int, last bool) {
	n, _ := asynq.GetRetryCount(ctx)
	m, ok := asynq.GetMaxRetry(ctx)
	if !ok {
		return n + 1, false
	}
	return n + 1, n >= m-1
}
