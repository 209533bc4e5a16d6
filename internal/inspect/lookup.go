// Package inspect reads and repairs what the queues hold: the history of a URL and the dead
// letters.
// The enqueue command, the HTTP server, the worker and the Go client's Inspector all call it.
// Each front end keeps its own flags and printing.
package inspect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// History is what is known of one canonical key's latest request.
type History struct {
	Key          string     `json:"key"`
	PendingSince *time.Time `json:"pending_since,omitempty"`  // waiting for its window in the pending set
	QueuedAt     *time.Time `json:"queued_request,omitempty"` // the latest request put in a request task
	Task         string     `json:"task,omitempty"`           // the request task it is in, or was dead-lettered in
	TaskQueue    string     `json:"task_queue,omitempty"`     // that task's queue
	TaskState    string     `json:"task_state,omitempty"`     // asynq's state of the task, or "deleted"
	TaskError    string     `json:"task_error,omitempty"`     // its last error, when retrying or archived
	RequestedAt  *time.Time `json:"requested_at,omitempty"`
	SentAt       *time.Time `json:"sent_at,omitempty"`
	UUID         string     `json:"uuid,omitempty"`
	State        string     `json:"state,omitempty"`
	Detail       string     `json:"detail,omitempty"`
}

// LookupURL normalises raw with norm and returns its history.
// A rejected input is the normaliser's *normalize.Error.
func LookupURL(ctx context.Context, st *store.Store, norm *normalize.Normalizer, raw string) (*History, error) {
	key, err := norm.Normalize(raw)
	if err != nil {
		return nil, err
	}
	return Lookup(ctx, st, key)
}

// Lookup returns the history of the canonical key.
func Lookup(ctx context.Context, st *store.Store, key string) (*History, error) {
	h := &History{Key: key}
	if ms, ok, err := st.PendingScore(ctx, key); err != nil {
		return nil, err
	} else if ok {
		h.PendingSince = msTime(ms)
	}
	rec, ok, err := st.History(ctx, key)
	if err != nil {
		return nil, err
	}
	if ok {
		h.RequestedAt, h.SentAt, h.UUID, h.State, h.Detail = msTime(rec.RequestedAt), msTime(rec.SentAt), rec.UUID, rec.State, rec.Detail
		if rec.QueuedAt > rec.SentAt {
			h.QueuedAt, h.Task = msTime(rec.QueuedAt), rec.Task
		}
		if rec.State == store.StateDead {
			h.Task = rec.Task
		}
	}
	if h.Task != "" {
		if err := taskState(asynq.NewInspectorFromRedisClient(st.Client()), h); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// taskState fills in where h.Task is and in which state.
// The state is "deleted" when no queue holds the task.
func taskState(insp *asynq.Inspector, h *History) error {
	for _, q := range tasks.QueueNames() {
		ti, err := insp.GetTaskInfo(q, h.Task)
		if NotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("task %s: %w", h.Task, err)
		}
		h.TaskQueue, h.TaskState, h.TaskError = q, ti.State.String(), ti.LastErr
		return nil
	}
	h.TaskState = "deleted"
	return nil
}

// NotFound reports whether err is asynq saying the task or its queue does not exist.
func NotFound(err error) bool {
	return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
}

func msTime(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}
