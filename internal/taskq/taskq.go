// Package taskq turns the wire contract (package tasks) into asynq tasks and enqueues them: each
// task type with its task ID, queue, retries and timeout. The producers (package cipurge) and the
// worker build their tasks here, so that the rules are written once.
package taskq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// Timeouts of one run of a task.
const (
	requestTimeout = 5 * time.Minute // a request task: one API call, or a bulk task's few
	confirmTimeout = 2 * time.Minute // one status check
)

// AsynqMaxRetry is asynq's retry limit for a task that may fail maxRetry+1 times in all.
// It is one higher, so that asynq does not archive a task snoozed by the rate limit on its last
// attempt. The worker archives it itself when the failures are used up.
func AsynqMaxRetry(maxRetry int) int { return maxRetry + 1 }

// NewURLsTask returns the request task for p on queue, with a task ID derived from its content
// (tasks.URLsTaskID) so that a batch formed twice (after a crash between enqueue and bookkeeping)
// is enqueued once. maxRetry is the worker's retry limit.
func NewURLsTask(p tasks.URLs, queue string, maxRetry int) (*asynq.Task, error) {
	b, err := tasks.EncodeURLs(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(tasks.TypeURLs, b, asynq.TaskID(tasks.URLsTaskID(p)), asynq.Queue(queue),
		asynq.MaxRetry(AsynqMaxRetry(maxRetry)), asynq.Timeout(requestTimeout)), nil
}

// FlushAllMaxRetry is asynq's retry limit of a flush-all task: as high as asynq takes.
// So asynq never archives a flush-all by its own count. The sending worker's retry limit decides
// when a failing flush-all stops. The worker dead-letters it only after using up the request's
// confirmation. A task archived by asynq with a live confirmation would be sent by a run from
// the dead-letter queue or the UI.
const FlushAllMaxRetry = math.MaxInt32

// NewAllTask returns the flush-all task for p on queue, the account's flush-all queue (task ID
// tasks.TaskIDAll: one at a time per account), with asynq's retry limit FlushAllMaxRetry.
func NewAllTask(p tasks.All, queue string) (*asynq.Task, error) {
	b, err := tasks.EncodeAll(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(tasks.TypeAll, b, asynq.TaskID(tasks.TaskIDAll), asynq.Queue(queue),
		asynq.MaxRetry(FlushAllMaxRetry), asynq.Timeout(requestTimeout)), nil
}

// NewConfirmTask returns the status-check task for p on queue, the account's status-check queue,
// first due after delay; its failures count against maxRetry, the worker's retry limit, as a
// request's do.
func NewConfirmTask(p tasks.Confirm, queue string, delay time.Duration, maxRetry int) (*asynq.Task, error) {
	b, err := tasks.EncodeConfirm(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(tasks.TypeConfirm, b, asynq.TaskID(tasks.ConfirmTaskID(p.UUID)), asynq.Queue(queue),
		asynq.ProcessIn(delay), asynq.MaxRetry(AsynqMaxRetry(maxRetry)), asynq.Timeout(confirmTimeout)), nil
}

// Rebuild returns a request or status-check task again from its type, payload and queue, built by
// its constructor above (NewURLsTask, NewConfirmTask), so that it has that type's own retries and
// timeout; a status check is due at once. It is for a dead letter enqueued again from the
// product's record; the caller keeps the task ID of the record (asynq.TaskID at enqueue). A
// payload that does not decode, and a flush-all (replayed only with a fresh confirmation), are
// refused.
func Rebuild(typ string, payload []byte, queue string, maxRetry int) (*asynq.Task, error) {
	switch typ {
	case tasks.TypeURLs:
		p, err := tasks.DecodeURLs(payload)
		if err != nil {
			return nil, err
		}
		return NewURLsTask(p, queue, maxRetry)
	case tasks.TypeConfirm:
		p, err := tasks.DecodeConfirm(payload)
		if err != nil {
			return nil, err
		}
		return NewConfirmTask(p, queue, 0, maxRetry)
	case tasks.TypeAll:
		return nil, errors.New("a flush-all is not rebuilt: it needs a fresh confirmation")
	}
	return nil, fmt.Errorf("unknown task type %q", typ)
}

// Enqueue enqueues t, with opts over its own options. A task with the same ID already there is not
// an error (the IDs derive from the content, so it is the same work): enqueued is false then.
func Enqueue(ctx context.Context, c *asynq.Client, t *asynq.Task, opts ...asynq.Option) (enqueued bool, err error) {
	if _, err := c.EnqueueContext(ctx, t, opts...); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
