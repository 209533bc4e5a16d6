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
	Kind         string     `json:"kind"`                     // KindURL or KindPrefix
	Account      string     `json:"account,omitempty"`        // the account whose history it is: the store's
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
	// CoveredBy says what covers its latest request without a send of its own: a prefix or a
	// flush-all sent after it ("covered by prefix P, sent at T").
	CoveredBy *Cover `json:"covered_by,omitempty"`
}

// Kinds of request.
const (
	KindURL    = "url"    // one image and its resizes
	KindPrefix = "prefix" // a folder: every image whose key starts with the prefix
)

// Cover is a prefix or a flush-all that covers a request.
type Cover struct {
	Prefix string    `json:"prefix,omitempty"` // the prefix; "" for a flush-all
	SentAt time.Time `json:"sent_at"`
	UUID   string    `json:"uuid,omitempty"` // the invalidation's uuid at Cloudimage
}

// String is the one wording of a cover: "covered by prefix P, sent at T" or "covered by
// flush-all, sent at T".
func (c Cover) String() string {
	what := "flush-all"
	if c.Prefix != "" {
		what = "prefix " + c.Prefix
	}
	s := "covered by " + what + ", sent at " + c.SentAt.UTC().Format(time.RFC3339)
	if c.UUID != "" {
		s += " (request " + c.UUID + ")"
	}
	return s
}

// LookupURL normalises raw with norm and returns its history. A folder ending with /* is read
// as a prefix (normalize.NormalizePrefix), a root one too.
// A rejected input is the normaliser's *normalize.Error.
func LookupURL(ctx context.Context, st *store.Store, norm *normalize.Normalizer, raw string) (*History, error) {
	if normalize.IsPrefix(raw) {
		p, err := norm.NormalizePrefix(raw)
		if err != nil {
			return nil, err
		}
		return Lookup(ctx, st, p.Key)
	}
	key, err := norm.Normalize(raw)
	if err != nil {
		return nil, err
	}
	return Lookup(ctx, st, key)
}

// Lookup returns the history of the canonical key.
func Lookup(ctx context.Context, st *store.Store, key string) (*History, error) {
	h := &History{Key: key, Kind: KindURL, Account: st.Account()}
	if normalize.IsPrefix(key) {
		h.Kind = KindPrefix
	}
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
	if err := cover(ctx, st, h); err != nil {
		return nil, err
	}
	if h.Task != "" {
		if err := taskState(asynq.NewInspectorFromRedisClient(st.Client()), h); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// cover fills in what covers h's latest request, when its own send does not.
func cover(ctx context.Context, st *store.Store, h *History) error {
	var req time.Time
	for _, t := range []*time.Time{h.PendingSince, h.QueuedAt, h.RequestedAt} {
		if t != nil && t.After(req) {
			req = *t
		}
	}
	if req.IsZero() || h.RequestedAt != nil && !h.RequestedAt.Before(req) {
		return nil // never requested, or its own send covered its latest request
	}
	c, ok, err := st.CoveredBy(ctx, h.Key, req.UnixMilli())
	if err != nil || !ok {
		return err
	}
	h.CoveredBy = &Cover{Prefix: c.Prefix, SentAt: *msTime(c.SentAt), UUID: c.UUID}
	if c.Prefix != "" {
		if rec, ok, err := st.History(ctx, c.Prefix); err == nil && ok && rec.SentAt == c.SentAt {
			h.CoveredBy.UUID = rec.UUID
		}
	}
	return nil
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
