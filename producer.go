package cipurge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Outcome is what happened to one input URL.
type Outcome int

// Outcomes of EnqueueURLs.
const (
	Enqueued         Outcome = iota // a new request is waiting for its window
	AlreadyPending                  // an earlier request for the same key is still waiting and covers it
	DuplicateInInput                // the same key appeared earlier in the same call
	Rejected                        // the input is not a valid image URL for this configuration
)

func (o Outcome) String() string {
	switch o {
	case Enqueued:
		return "enqueued"
	case AlreadyPending:
		return "already pending"
	case DuplicateInInput:
		return "duplicate"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// MarshalText makes an Outcome print as its name in JSON.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Result is the outcome for one input URL.
type Result struct {
	Input   string  `json:"input"`
	Key     string  `json:"key,omitempty"`
	Outcome Outcome `json:"outcome"`
	Err     error   `json:"-"`
	Reason  string  `json:"reason,omitempty"` // Err's text, for JSON
}

// Report is the outcome of one EnqueueURLs call: a Result per input, in input order, and counts.
type Report struct {
	Results        []Result `json:"results"`
	Enqueued       int      `json:"enqueued"`
	AlreadyPending int      `json:"already_pending"`
	Duplicates     int      `json:"duplicates"`
	Rejected       int      `json:"rejected"`
}

// Producer requests invalidations. It is safe for concurrent use.
type Producer struct {
	store    *store.Store
	guard    *store.Guard
	client   *asynq.Client
	norm     *normalize.Normalizer
	maxRetry int
	batch    int
	// The guard's settings, read by NewProducer after the options.
	policyEvery time.Duration
	note        func(string)
}

// ProducerOption configures a Producer.
type ProducerOption func(*Producer)

// WithMaxRetry sets PURGE_MAX_RETRY for the tasks this producer enqueues directly (bulk requests
// and flush-all). Default: PURGE_MAX_RETRY's (internal/defaults).
func WithMaxRetry(n int) ProducerOption { return func(p *Producer) { p.maxRetry = n } }

// WithBatchSize sets PURGE_BATCH_SIZE for bulk requests (1 to the API's cap, which is the default).
func WithBatchSize(n int) ProducerOption {
	return func(p *Producer) { p.batch = min(max(n, 1), tasks.MaxURLsPerTask) }
}

// NewProducer returns a Producer that writes to rdb (a client, failover client or cluster client,
// which the caller keeps and closes) and normalises with norm. norm may be nil for a producer that
// only requests flush-alls (RequestFlushAll, ReplayFlushAll), which name no URL.
func NewProducer(rdb redis.UniversalClient, norm *normalize.Normalizer, opts ...ProducerOption) *Producer {
	st := store.New(rdb)
	p := &Producer{store: st, client: asynq.NewClientFromRedisClient(rdb), norm: norm, maxRetry: defaults.MaxRetry, batch: defaults.BatchSize,
		policyEvery: DefaultPolicyEvery}
	for _, o := range opts {
		o(p)
	}
	p.guard = store.NewGuard(st, p.policyEvery, p.note)
	return p
}

// EvictionError is what every call that would write (EnqueueURLs, AddKeys, EnqueueBulk,
// RequestFlushAll, ReplayFlushAll) returns, having written nothing, while Redis's maxmemory-policy is
// allkeys-*: such a Redis may evict queued requests and asynq's queues, so an acknowledgement would
// not mean kept. Policy names the policy; the message names the fix (CONFIG SET maxmemory-policy
// noeviction). Test for it with errors.As:
//
//	var ev *cipurge.EvictionError
//	if errors.As(err, &ev) { ... ev.Policy ... }
type EvictionError = store.EvictionError

// WithRedisNotes makes the producer say, through note, what the Redis it writes to costs: a
// volatile-* maxmemory-policy (history may be evicted), or a policy it cannot read. Each is said
// once. Without it they go unsaid; an allkeys-* policy is refused either way (*EvictionError).
func WithRedisNotes(note func(string)) ProducerOption {
	return func(p *Producer) { p.note = note }
}

// DefaultPolicyEvery is how often a Producer reads Redis's maxmemory-policy again: a Redis switched
// to an allkeys-* policy is refused from then on, at most this long after the switch.
const DefaultPolicyEvery = 30 * time.Second

// WithPolicyEvery makes the producer read Redis's maxmemory-policy at most once per d instead of
// DefaultPolicyEvery (d <= 0: the default). Shorter notices a switch to allkeys-* sooner, at one
// CONFIG GET per d.
func WithPolicyEvery(d time.Duration) ProducerOption {
	return func(p *Producer) {
		if d > 0 {
			p.policyEvery = d
		}
	}
}

// Normalizer returns the producer's normaliser.
func (p *Producer) Normalizer() *normalize.Normalizer { return p.norm }

// EnqueueURLs normalises urls and requests their invalidation. It reports per URL whether it was
// enqueued, was already pending, repeated an earlier input, or was rejected (with the reason). The
// error is set only when Redis could not be written; then no URL of this call is reported enqueued.
func (p *Producer) EnqueueURLs(ctx context.Context, urls ...string) (*Report, error) {
	return p.EnqueueURLsFrom(ctx, "", urls...)
}

// EnqueueURLsFrom is EnqueueURLs with a free-text source or reason (for example "cms: image 42
// replaced") that travels with the request and shows in asynqmon.
func (p *Producer) EnqueueURLsFrom(ctx context.Context, source string, urls ...string) (*Report, error) {
	r := &Report{Results: make([]Result, len(urls))}
	keys := make([]string, 0, len(urls))
	idx := make([]int, 0, len(urls))
	in := p.NewIngest()
	for i, raw := range urls {
		res := Result{Input: raw}
		key, outcome, err := in.Add(raw)
		res.Key, res.Outcome = key, outcome
		if err != nil {
			res.Err, res.Reason = err, err.Error()
		}
		if outcome == Enqueued {
			keys = append(keys, key)
			idx = append(idx, i)
		}
		r.Results[i] = res
	}
	if len(keys) > 0 {
		added, err := p.AddKeys(ctx, source, keys)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			if added[j] {
				r.Results[i].Outcome = Enqueued
			} else {
				r.Results[i].Outcome = AlreadyPending
			}
		}
	}
	for _, res := range r.Results {
		switch res.Outcome {
		case Enqueued:
			r.Enqueued++
		case AlreadyPending:
			r.AlreadyPending++
		case DuplicateInInput:
			r.Duplicates++
		case Rejected:
			r.Rejected++
		}
	}
	return r, nil
}

// AddKeys requests the invalidation of keys that are already canonical (the output of the
// normaliser), for producers that normalise and dedupe themselves, such as the enqueue command.
// added[i] is false when keys[i] was already pending.
func (p *Producer) AddKeys(ctx context.Context, source string, keys []string) (added []bool, err error) {
	if err := p.guard.Check(ctx); err != nil {
		return nil, err
	}
	added, err = p.store.AddPending(ctx, source, keys)
	if err != nil {
		return nil, err // "add pending: ..." names the step; callers add their own context
	}
	return added, nil
}

// Now returns the Redis server's clock: the request time to give EnqueueBulk.
func (p *Producer) Now(ctx context.Context) (time.Time, error) {
	ms, err := p.store.Now(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

// EnqueueBulk enqueues canonical keys on the bulk queue as bulk tasks of up to BulkRequests
// requests of the batch size each, requested at requestedAt (from Now). It returns how many API
// requests' worth of URLs it enqueued; a task that was already enqueued (same keys, same request
// time) is not counted.
// Bulk tasks skip the pending set and its window: they are for re-ingest jobs that normalise and
// dedupe a whole file first.
func (p *Producer) EnqueueBulk(ctx context.Context, source string, requestedAt time.Time, keys []string) (enqueued int, err error) {
	var sources []string
	if source != "" {
		sources = []string{source}
	}
	if err := p.guard.Check(ctx); err != nil {
		return 0, err
	}
	per := p.batch * tasks.BulkRequests
	for len(keys) > 0 {
		chunk := keys[:min(per, len(keys))]
		keys = keys[len(chunk):]
		t, err := taskq.NewURLsTask(tasks.URLs{URLs: chunk, RequestedAt: requestedAt, Origin: tasks.OriginBulk, Sources: sources}, tasks.QueueBulk, p.maxRetry)
		if err != nil {
			return enqueued, err
		}
		ok, err := taskq.Enqueue(ctx, p.client, t)
		if err != nil {
			return enqueued, fmt.Errorf("enqueue bulk: %w", err)
		}
		if ok {
			enqueued += (len(chunk) + p.batch - 1) / p.batch
		}
	}
	return enqueued, nil
}

// Why RequestFlushAll and ReplayFlushAll refuse a flush-all: the Cause of the *FlushRefusedError
// they return, so that errors.Is(err, ErrFlushAllPending) and the like work on it. Their words
// name no command (a program, the enqueue command and the HTTP intake each say their own fix).
var (
	// ErrFlushAllNoToken: the token (the CLOUDIMAGE_TOKEN value) is empty, so there is nothing
	// to confirm against.
	ErrFlushAllNoToken = flushall.ErrNoToken
	// ErrFlushAllNotConfirmed: no confirmation was given.
	ErrFlushAllNotConfirmed = flushall.ErrNotConfirmed
	// ErrFlushAllMismatch: the confirmation does not match the token.
	ErrFlushAllMismatch = flushall.ErrMismatch
	// ErrFlushAllPending: a flush-all request is already pending, retrying or dead-lettered
	// (task tasks.TaskIDAll on queue tasks.QueueAll): one at a time.
	ErrFlushAllPending = errors.New("a flush-all request is already pending, retrying or in the dead-letter queue (task " +
		tasks.TaskIDAll + " on queue " + tasks.QueueAll + ")")
	// ErrFlushAllCoolingDown: the last flush-all that may have reached Cloudimage was less than
	// the cooldown (PURGE_ALL_COOLDOWN) ago; FlushRefusedError.Next says when the next may go.
	ErrFlushAllCoolingDown = errors.New("within PURGE_ALL_COOLDOWN of the last flush-all")
)

// FlushRefusedError says why a flush-all request was refused. Nothing was enqueued.
type FlushRefusedError struct {
	Reason string    // the refusal in words (no remedy: the caller words its own)
	Cause  error     // ErrFlushAllNoToken, ErrFlushAllNotConfirmed, ErrFlushAllMismatch, ErrFlushAllPending or ErrFlushAllCoolingDown
	Next   time.Time // with ErrFlushAllCoolingDown: when the next flush-all may be requested
}

func (e *FlushRefusedError) Error() string { return "flush-all refused: " + e.Reason }

// Unwrap returns the Cause, for errors.Is.
func (e *FlushRefusedError) Unwrap() error { return e.Cause }

// FlushAllCost is what a flush-all costs, said to whoever asks for one.
const FlushAllCost = flushall.Cost

// RequestFlushAll enqueues a flush-all. confirm must equal token (the CLOUDIMAGE_TOKEN value),
// which is checked before anything touches Redis; a request is also refused while another is
// pending or dead-lettered, and within cooldown of the last flush-all that may have reached
// Cloudimage. Refusals are a *FlushRefusedError whose Cause is one of the ErrFlushAll* errors;
// any other error is Redis's (or an *EvictionError), and nothing was enqueued.
func (p *Producer) RequestFlushAll(ctx context.Context, token, confirm string, cooldown time.Duration, requestedBy, reason string) error {
	return p.ReplayFlushAll(ctx, token, confirm, cooldown, requestedBy, reason, "")
}

// ReplayFlushAll is RequestFlushAll for a dead-lettered flush-all, the task deadLetter ("" for
// none: a plain request) on the flush-all queue: a fresh, confirmed request takes its place, under
// the same rules. A dead-lettered flush-all never runs again as it is.
//
// Nothing is lost when a step fails: the dead letter is first kept in the product's own record
// (the one `enqueue dlq ls` lists and `enqueue dlq replay` replays), copied from asynq's archive
// when only asynq has it; only then is asynq's archived copy deleted (it holds the flush-all's task
// ID, which the new request takes), and the record is forgotten only once the new request is
// enqueued. When the enqueue fails, the new request's confirmation is used up and the dead letter
// is still listed and can be replayed again.
func (p *Producer) ReplayFlushAll(ctx context.Context, token, confirm string, cooldown time.Duration, requestedBy, reason, deadLetter string) error {
	switch err := flushall.Confirm(token, confirm); err {
	case nil:
	case flushall.ErrNotConfirmed:
		return &FlushRefusedError{Reason: err.Error() + ": " + FlushAllCost, Cause: err}
	default:
		return &FlushRefusedError{Reason: err.Error(), Cause: err}
	}
	if err := p.guard.Check(ctx); err != nil {
		return err
	}
	st, err := p.store.AllState(ctx)
	if err != nil {
		return fmt.Errorf("flush-all: %w", err)
	}
	now, err := p.Now(ctx)
	if err != nil {
		return err
	}
	if next, why, wait := flushall.CoolingDown(st.Last(), now, cooldown); wait {
		return &FlushRefusedError{Reason: why, Cause: ErrFlushAllCoolingDown, Next: next}
	}
	if deadLetter != "" {
		if err := p.keepDeadLetter(ctx, deadLetter); err != nil {
			return fmt.Errorf("flush-all: %w; nothing was changed", err)
		}
	}
	reqMS := now.UnixMilli()
	// The confirmation is recorded before the task exists: the worker sends a flush-all only for a
	// request confirmed here, once.
	if err := p.store.AllConfirm(ctx, reqMS); err != nil {
		return fmt.Errorf("flush-all: %w", err)
	}
	ok, err := p.enqueueAll(ctx, tasks.All{Confirm: confirm, RequestedAt: now, RequestedBy: requestedBy, Reason: reason}, deadLetter)
	if err != nil || !ok {
		_, _ = p.store.AllDone(context.WithoutCancel(ctx), reqMS)
	}
	if err != nil {
		if deadLetter != "" {
			return fmt.Errorf("flush-all: %w; the dead letter %s is kept", err, deadLetter)
		}
		return fmt.Errorf("flush-all: %w", err)
	}
	if !ok {
		return &FlushRefusedError{Reason: ErrFlushAllPending.Error(), Cause: ErrFlushAllPending}
	}
	if deadLetter != "" {
		if err := p.store.ForgetDeadLetters(context.WithoutCancel(ctx), deadLetter); err != nil {
			return fmt.Errorf("flush-all requested, but the dead letter %s it replaces is still listed (%w): delete that entry", deadLetter, err)
		}
	}
	return nil
}

// enqueueAll enqueues the flush-all task for a, after deleting asynq's archived copy of the dead
// letter it replaces (when not ""), which the product's record already keeps. ok is false when a
// flush-all task is already there.
func (p *Producer) enqueueAll(ctx context.Context, a tasks.All, deadLetter string) (ok bool, err error) {
	if deadLetter != "" {
		ti, err := p.inspector().GetTaskInfo(tasks.QueueAll, deadLetter)
		if err == nil && ti.State == asynq.TaskStateArchived {
			err = p.inspector().DeleteTask(tasks.QueueAll, deadLetter)
		}
		if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			return false, fmt.Errorf("remove the dead letter from asynq's archive: %w", err)
		}
	}
	t, err := taskq.NewAllTask(a)
	if err != nil {
		return false, err
	}
	return taskq.Enqueue(ctx, p.client, t)
}

// keepDeadLetter makes sure the product's own record holds the dead letter id of the flush-all
// queue, copying it from asynq's archive when only asynq has it (an earlier version's, or one whose
// record could not be written).
func (p *Producer) keepDeadLetter(ctx context.Context, id string) error {
	if _, ok, err := p.store.DeadLetterByID(ctx, id); err != nil || ok {
		return err
	}
	ti, err := p.inspector().GetTaskInfo(tasks.QueueAll, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return fmt.Errorf("no dead letter %s on queue %s", id, tasks.QueueAll)
	}
	if err != nil {
		return fmt.Errorf("dead letter %s: %w", id, err)
	}
	if ti.State != asynq.TaskStateArchived {
		return nil // not a dead letter: the enqueue finds the task there and refuses (pending)
	}
	at := ti.LastFailedAt
	if at.IsZero() {
		at = time.Now()
	}
	return p.store.KeepDeadLetter(ctx, store.DeadLetterFromArchived(ti, at.UnixMilli()))
}

func (p *Producer) inspector() *asynq.Inspector {
	return asynq.NewInspectorFromRedisClient(p.store.Client())
}

// History returns what is known of the canonical key's latest request: pending since, or sent,
// confirmed, failed.
type History struct {
	Key          string     `json:"key"`
	PendingSince *time.Time `json:"pending_since,omitempty"`  // waiting for its window in the pending set
	QueuedAt     *time.Time `json:"queued_request,omitempty"` // the latest request put in a request task
	Task         string     `json:"task,omitempty"`           // the request task it is in, or was dead-lettered in
	TaskQueue    string     `json:"task_queue,omitempty"`     // that task's queue
	TaskState    string     `json:"task_state,omitempty"`     // asynq's state of it (pending, active, retry, archived...), or "deleted"
	TaskError    string     `json:"task_error,omitempty"`     // its last error (retry, archived)
	RequestedAt  *time.Time `json:"requested_at,omitempty"`
	SentAt       *time.Time `json:"sent_at,omitempty"`
	UUID         string     `json:"uuid,omitempty"`
	State        string     `json:"state,omitempty"`
	Detail       string     `json:"detail,omitempty"`
}

// Lookup normalises raw and returns its history.
func (p *Producer) Lookup(ctx context.Context, raw string) (*History, error) {
	key, err := p.norm.Normalize(raw)
	if err != nil {
		return nil, err
	}
	h := &History{Key: key}
	if ms, ok, err := p.store.PendingScore(ctx, key); err != nil {
		return nil, err
	} else if ok {
		h.PendingSince = msTime(ms)
	}
	rec, ok, err := p.store.History(ctx, key)
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
		if err := p.taskState(h); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// taskState fills in where h.Task is and in which state, or "deleted" when no queue holds it.
func (p *Producer) taskState(h *History) error {
	insp := p.inspector()
	for _, q := range tasks.QueueNames() {
		ti, err := insp.GetTaskInfo(q, h.Task)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
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

func msTime(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}
