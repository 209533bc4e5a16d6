package cipurge

import (
	"context"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// Inspector reads what the queues know of a request: the read side of the API.
// It writes nothing. It is safe for concurrent use.
type Inspector struct {
	parts []part // one per account, in declared order; one without InspectAccounts
	accts *Accounts
}

// NewInspector returns an Inspector that reads rdb and normalises URLs with norm.
// With InspectAccounts, norm may be nil: each account normalises with its own URL rules.
// The caller keeps and closes rdb.
func NewInspector(rdb redis.UniversalClient, norm *normalize.Normalizer, opts ...InspectorOption) (*Inspector, error) {
	if rdb == nil {
		return nil, &OptionError{Option: "NewInspector", Value: "nil", Reason: "a Redis client is required"}
	}
	i := &Inspector{}
	for _, o := range opts {
		o(i)
	}
	switch {
	case i.accts != nil:
		i.parts = partsOf(rdb, i.accts)
	case norm == nil:
		return nil, &OptionError{Option: "NewInspector", Value: "nil", Reason: "a normalize.Normalizer is required: build one with normalize.New"}
	default:
		i.parts = []part{{name: DefaultAccount, st: store.New(rdb), norm: norm}}
	}
	return i, nil
}

// stores returns the store of every account the inspector reads.
func (i *Inspector) stores() []*store.Store {
	out := make([]*store.Store, len(i.parts))
	for k, p := range i.parts {
		out[k] = p.st
	}
	return out
}

// History is what is known of one URL's latest request: pending since, or sent, confirmed, failed.
type History struct {
	Key          string     `json:"key"`                      // the canonical key of the URL
	Kind         string     `json:"kind"`                     // "url", or "prefix" for a folder ending with /*
	Account      string     `json:"account,omitempty"`        // the account whose history it is
	PendingSince *time.Time `json:"pending_since,omitempty"`  // waiting for its window in the pending set
	QueuedAt     *time.Time `json:"queued_request,omitempty"` // the latest request put in a request task
	Task         string     `json:"task,omitempty"`           // the request task it is in, or was dead-lettered in
	TaskQueue    string     `json:"task_queue,omitempty"`     // that task's queue
	TaskState    string     `json:"task_state,omitempty"`     // asynq's state of the task, or "deleted"
	TaskError    string     `json:"task_error,omitempty"`     // its last error, when retrying or archived
	RequestedAt  *time.Time `json:"requested_at,omitempty"`   // when the request that was sent was made
	SentAt       *time.Time `json:"sent_at,omitempty"`        // when it was sent to the API
	UUID         string     `json:"uuid,omitempty"`           // the API's id of that invalidation
	State        string     `json:"state,omitempty"`          // sent, confirmed, failed, unconfirmed or dead
	Detail       string     `json:"detail,omitempty"`         // what the state says in words
	CoveredBy    *Cover     `json:"covered_by,omitempty"`     // a prefix or flush-all sent after its latest request
}

// Cover is a prefix or a flush-all sent after a request.
// It covers the request, which is not sent on its own.
type Cover struct {
	Prefix string    `json:"prefix,omitempty"` // the prefix; "" for a flush-all
	SentAt time.Time `json:"sent_at"`          // when it was sent to the API
	UUID   string    `json:"uuid,omitempty"`   // the API's id of that invalidation
}

// String says "covered by prefix P, sent at T", or "covered by flush-all, sent at T".
func (c Cover) String() string { return inspect.Cover(c).String() }

// Lookup normalises rawURL and returns its history.
// With InspectAccounts it reads the keys of the URL's account, and the history names it.
// A URL the normaliser rejects, or that no account or two take, is an *InvalidURLError; a
// failed read is a *RedisError.
func (i *Inspector) Lookup(ctx context.Context, rawURL string) (*History, error) {
	p := i.parts[0]
	if i.accts != nil && len(i.parts) > 1 {
		a, err := i.accts.set.Route(rawURL, "")
		if err != nil {
			return nil, apiError("lookup", err)
		}
		p = i.parts[slices.IndexFunc(i.parts, func(p part) bool { return p.name == a.Name })]
	}
	h, err := lookup(ctx, p.st, p.norm, rawURL)
	if err == nil && i.accts != nil && len(i.parts) > 1 {
		h.Account = p.name
	}
	return h, err
}

func lookup(ctx context.Context, st *store.Store, norm *normalize.Normalizer, rawURL string) (*History, error) {
	h, err := inspect.LookupURL(ctx, st, norm, rawURL)
	if err != nil {
		return nil, apiError("lookup", err)
	}
	return historyOf(h), nil
}

// historyOf converts the internal history to the public one.
// Both have the same fields; only the type of CoveredBy differs.
func historyOf(h *inspect.History) *History {
	out := History{Key: h.Key, Kind: h.Kind, Account: h.Account, PendingSince: h.PendingSince, QueuedAt: h.QueuedAt,
		Task: h.Task, TaskQueue: h.TaskQueue, TaskState: h.TaskState, TaskError: h.TaskError,
		RequestedAt: h.RequestedAt, SentAt: h.SentAt, UUID: h.UUID, State: h.State, Detail: h.Detail}
	if h.CoveredBy != nil {
		c := Cover(*h.CoveredBy)
		out.CoveredBy = &c
	}
	return &out
}
