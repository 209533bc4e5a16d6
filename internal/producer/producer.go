// Package producer writes invalidation requests to Redis for the workers.
// The Go client (package cipurge), the enqueue command, the intake and the event receivers all
// write through it, so the rules of a request are written once.
// Its callers validate the settings; it takes them as given.
package producer

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Settings shape a Producer.
type Settings struct {
	MaxRetry    int           // retries of the tasks enqueued directly: bulk requests and flush-all
	BatchSize   int           // URLs per API request of a bulk task, 1 to tasks.MaxURLsPerTask
	PolicyEvery time.Duration // how often Redis's maxmemory-policy is read again
	Note        func(string)  // says once what the Redis costs; nil: silent
	// Account is the account the producer writes for: its keys (store.KeysFor) and queues
	// (tasks.QueuesOf). "" is tasks.DefaultAccount. The caller checks the name.
	Account string
	// Replicas makes each write that acknowledges URLs wait for replicas (store.WaitReplicas).
	Replicas store.Replicas
}

// Producer writes requests. It is safe for concurrent use.
type Producer struct {
	store  *store.Store
	guard  *store.Guard
	client *asynq.Client
	q      tasks.AccountQueues
	s      Settings
}

// New returns a Producer that writes to rdb, which the caller keeps and closes.
func New(rdb redis.UniversalClient, s Settings) *Producer {
	st := store.New(rdb).For(s.Account)
	return &Producer{store: st, guard: store.NewGuard(st, s.PolicyEvery, s.Note), client: asynq.NewClientFromRedisClient(rdb),
		q: tasks.QueuesOf(s.Account), s: s}
}

// Store returns the producer's store.
func (p *Producer) Store() *store.Store { return p.store }

// AddKeys requests the invalidation of keys that are already canonical.
// added[i] is false when keys[i] was already pending.
// With Settings.Replicas it returns only once the replicas hold them.
// Errors: the guard's *store.EvictionError or *store.PolicyUnknownError, a *store.ReplicaError,
// or Redis's.
func (p *Producer) AddKeys(ctx context.Context, source string, keys []string) (added []bool, err error) {
	if err := p.guard.Check(ctx); err != nil {
		return nil, err
	}
	// A prefix is recorded as waiting first: a prefix under it, sent before it is, would cost a
	// search that its send makes useless.
	if err := p.store.PrefixRequested(ctx, keys); err != nil {
		return nil, err
	}
	added, err = p.store.AddPending(ctx, source, keys)
	if err != nil {
		return added, err
	}
	// The request record is in the same slot, written before: the wait covers it too.
	if err := p.store.WaitReplicas(ctx, p.s.Replicas); err != nil {
		return nil, fmt.Errorf("add pending: %w", err)
	}
	return added, nil
}

// OpenRequest checks the guard, then opens a request record (store.OpenRequest).
func (p *Producer) OpenRequest(ctx context.Context, o store.NewRequestOptions) (id string, made bool, err error) {
	if err := p.guard.Check(ctx); err != nil {
		return "", false, err
	}
	return p.store.OpenRequest(ctx, o)
}

// AddToRequest adds canonical keys to the open request id (store.AddToRequest).
func (p *Producer) AddToRequest(ctx context.Context, id string, keys []string, o store.NewRequestOptions, end bool) (unlinked []int, err error) {
	_, unlinked, err = p.store.AddToRequest(ctx, id, keys, o, end)
	return unlinked, err
}

// ForgetIdempotencyKey forgets the request the idempotency key k made, after a call that
// queued nothing: a retry makes a new request. It is best effort.
func (p *Producer) ForgetIdempotencyKey(ctx context.Context, k string) {
	if k != "" {
		_ = p.store.Client().Del(ctx, p.store.Keys().RequestIdem(k)).Err()
	}
}

// Now returns the Redis server's clock: the request time of a bulk run.
func (p *Producer) Now(ctx context.Context) (time.Time, error) {
	ms, err := p.store.Now(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

// EnqueueBulk enqueues canonical keys on the bulk queue.
// Each bulk task holds up to tasks.BulkRequests requests of the batch size.
// requestedAt comes from Now.
// It returns how many API requests' worth of URLs it enqueued.
// A task that was already enqueued, with the same keys and request time, is not counted.
// Bulk tasks skip the pending set and its window.
// Its tasks carry requestID ("" for none): each URL counts for it.
// With Settings.Replicas it returns only once the replicas hold the tasks; on a
// *store.ReplicaError it counts none.
func (p *Producer) EnqueueBulk(ctx context.Context, source, requestID string, requestedAt time.Time, keys []string) (enqueued int, err error) {
	var sources []string
	if source != "" {
		sources = []string{source}
	}
	if err := p.guard.Check(ctx); err != nil {
		return 0, err
	}
	if err := p.store.PrefixRequested(ctx, keys); err != nil {
		return 0, err
	}
	var reqs []string
	if requestID != "" {
		reqs = []string{requestID}
	}
	batch := p.s.BatchSize
	per := batch * tasks.BulkRequests
	if len(keys) == 0 {
		return 0, nil
	}
	for len(keys) > 0 {
		chunk := keys[:min(per, len(keys))]
		keys = keys[len(chunk):]
		t, err := taskq.NewURLsTask(tasks.URLs{URLs: chunk, RequestedAt: requestedAt, Origin: tasks.OriginBulk, Sources: sources, Requests: reqs}, p.q.Bulk, p.s.MaxRetry)
		if err != nil {
			return enqueued, err
		}
		ok, err := taskq.Enqueue(ctx, p.client, t)
		if err != nil {
			return enqueued, fmt.Errorf("enqueue bulk: %w", err)
		}
		if ok {
			enqueued += (len(chunk) + batch - 1) / batch
		}
	}
	// Every task above is in the bulk queue's slot: one wait covers them.
	if err := store.WaitReplicas(ctx, p.store.Client(), taskq.PendingKey(p.q.Bulk), p.s.Replicas); err != nil {
		return 0, fmt.Errorf("enqueue bulk: %w", err)
	}
	return enqueued, nil
}

// FlushAll is one request for a flush-all.
type FlushAll struct {
	Token       string        // what the confirmation must equal
	Confirm     string        // the confirmation
	Cooldown    time.Duration // the least time between two flush-alls
	RequestedBy string
	Reason      string
	DeadLetter  string // the dead-lettered flush-all this request replaces; "" for none
	// Prefix is a root prefix (a whole host, alias or token: RootPrefixError.Key) to send in
	// place of scope all. It is confirmed, cooled down and sent once as a flush-all is.
	Prefix string
}

// RequestFlushAll enqueues a flush-all.
// The confirmation is checked before anything touches Redis.
// A request is refused while another is pending or dead-lettered.
// It is also refused within the cooldown of the last flush-all that may have reached Cloudimage.
// Refusals are a *flushall.RefusedError.
// Any other error is Redis's or the guard's, and nothing was enqueued.
//
// With a.DeadLetter, the request replaces that dead letter.
// Nothing is lost when a step fails.
// First the product's own record keeps the dead letter.
// When only asynq has it, it is copied from asynq's archive.
// Only then is asynq's archived copy deleted, since the new request takes its task ID.
// The record is forgotten once the new request is enqueued.
// When the enqueue fails, the dead letter is still listed and can be replayed again.
func (p *Producer) RequestFlushAll(ctx context.Context, a FlushAll) error {
	switch err := flushall.Confirm(a.Token, a.Confirm); err {
	case nil:
	case flushall.ErrNotConfirmed:
		return &flushall.RefusedError{Reason: err.Error() + ": " + flushall.Cost, Cause: err}
	default:
		return &flushall.RefusedError{Reason: err.Error(), Cause: err}
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
	if next, why, wait := flushall.CoolingDown(st.Last(), now, a.Cooldown); wait {
		return &flushall.RefusedError{Reason: why, Cause: flushall.ErrCoolingDown, Next: next}
	}
	if a.DeadLetter != "" {
		if err := inspect.KeepArchived(ctx, p.store, p.q.All, a.DeadLetter); err != nil {
			return fmt.Errorf("flush-all: %w; nothing was changed", err)
		}
	}
	return p.confirmAndEnqueue(ctx, a, now)
}

// confirmAndEnqueue records the confirmation of a and enqueues its task.
// The confirmation is recorded before the task exists.
// The worker sends a flush-all only for a request confirmed here, once.
func (p *Producer) confirmAndEnqueue(ctx context.Context, a FlushAll, now time.Time) error {
	reqMS := now.UnixMilli()
	if err := p.store.AllConfirm(ctx, reqMS); err != nil {
		return fmt.Errorf("flush-all: %w", err)
	}
	ok, err := p.enqueueAll(ctx, tasks.All{Confirm: a.Confirm, RequestedAt: now, RequestedBy: a.RequestedBy, Reason: a.Reason, Prefix: a.Prefix}, a.DeadLetter)
	if err != nil || !ok {
		_, _ = p.store.AllDone(context.WithoutCancel(ctx), reqMS)
	}
	if err != nil {
		if a.DeadLetter != "" {
			return fmt.Errorf("flush-all: %w; the dead letter %s is kept", err, a.DeadLetter)
		}
		return fmt.Errorf("flush-all: %w", err)
	}
	if !ok {
		return &flushall.RefusedError{Reason: flushall.ErrPending.Error(), Cause: flushall.ErrPending}
	}
	if a.DeadLetter != "" {
		if err := inspect.Forget(context.WithoutCancel(ctx), p.store, a.DeadLetter); err != nil {
			return fmt.Errorf("flush-all requested, but the dead letter %s it replaces is still listed (%w): delete that entry", a.DeadLetter, err)
		}
	}
	return nil
}

// enqueueAll enqueues the flush-all task for a.
// It first deletes asynq's archived copy of the dead letter it replaces, when not "".
// The product's record already keeps that dead letter.
// ok is false when a flush-all task is already there.
func (p *Producer) enqueueAll(ctx context.Context, a tasks.All, deadLetter string) (ok bool, err error) {
	if deadLetter != "" {
		if err := inspect.Unarchive(p.store, p.q.All, deadLetter); err != nil {
			return false, fmt.Errorf("remove the dead letter from asynq's archive: %w", err)
		}
	}
	t, err := taskq.NewAllTask(a, p.q.All)
	if err != nil {
		return false, err
	}
	return taskq.Enqueue(ctx, p.client, t)
}
