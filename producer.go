package cipurge

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// This file keeps the API of the previous release working, for one release.

// Producer requests invalidations. It is safe for concurrent use.
//
// Deprecated: use Client to write and Inspector to look URLs up.
type Producer struct {
	c *Client
}

// ProducerOption configures a Producer.
//
// Deprecated: use ClientOption.
type ProducerOption = ClientOption

// NewProducer returns a Producer that writes to rdb and normalises with norm.
// norm may be nil for a producer that only requests flush-alls.
// It cannot fail: a batch size out of range is clamped, and a period of 0 or less is the default.
//
// Deprecated: use NewClient, which validates its options and returns an error.
func NewProducer(rdb redis.UniversalClient, norm *normalize.Normalizer, opts ...ProducerOption) *Producer {
	c := configure(opts)
	c.settings.BatchSize = min(max(c.settings.BatchSize, 1), tasks.MaxURLsPerTask)
	if c.settings.PolicyEvery <= 0 {
		c.settings.PolicyEvery = DefaultPolicyEvery
	}
	return &Producer{c: newSingle(producer.New(rdb, c.settings), norm, c)}
}

// Normalizer returns the producer's normaliser.
//
// Deprecated: keep the normaliser given to NewClient.
func (p *Producer) Normalizer() *normalize.Normalizer { return p.c.lanes[0].norm }

// EnqueueURLs normalises urls and requests their invalidation.
//
// Deprecated: use Client.Enqueue.
func (p *Producer) EnqueueURLs(ctx context.Context, urls ...string) (*Report, error) {
	return p.c.Enqueue(ctx, urls)
}

// EnqueueURLsFrom is EnqueueURLs with a free-text source.
//
// Deprecated: use Client.Enqueue with WithSource.
func (p *Producer) EnqueueURLsFrom(ctx context.Context, source string, urls ...string) (*Report, error) {
	return p.c.Enqueue(ctx, urls, WithSource(source))
}

// AddKeys requests the invalidation of keys that are already canonical.
// added[i] is false when keys[i] was already pending.
//
// Deprecated: use Client.Enqueue, which normalises.
func (p *Producer) AddKeys(ctx context.Context, source string, keys []string) (added []bool, err error) {
	added, err = p.c.p.AddKeys(ctx, source, keys)
	return added, apiError("add pending", err)
}

// Now returns the Redis server's clock: the request time to give EnqueueBulk.
//
// Deprecated: Client.EnqueueBulk reads the clock itself.
func (p *Producer) Now(ctx context.Context) (time.Time, error) {
	t, err := p.c.p.Now(ctx)
	return t, apiError("read the Redis clock", err)
}

// EnqueueBulk enqueues canonical keys on the bulk queue, requested at requestedAt.
// It returns how many API requests' worth of URLs it enqueued.
//
// Deprecated: use Client.EnqueueBulk, which normalises, dedupes and reads the clock.
func (p *Producer) EnqueueBulk(ctx context.Context, source string, requestedAt time.Time, keys []string) (enqueued int, err error) {
	n, err := p.c.p.EnqueueBulk(ctx, source, "", requestedAt, keys)
	return n, apiError("enqueue bulk", err)
}

// RequestFlushAll enqueues a flush-all confirmed with confirm, which must equal token.
//
// Deprecated: use Client.RequestFlushAll, with the token and cooldown given to WithFlushAll.
func (p *Producer) RequestFlushAll(ctx context.Context, token, confirm string, cooldown time.Duration, requestedBy, reason string) error {
	return p.ReplayFlushAll(ctx, token, confirm, cooldown, requestedBy, reason, "")
}

// ReplayFlushAll is RequestFlushAll for the dead-lettered flush-all deadLetter.
// A fresh, confirmed request takes its place, under the same rules.
//
// Deprecated: replaying dead letters is the enqueue command's job (enqueue dlq replay).
func (p *Producer) ReplayFlushAll(ctx context.Context, token, confirm string, cooldown time.Duration, requestedBy, reason, deadLetter string) error {
	err := p.c.p.RequestFlushAll(ctx, producer.FlushAll{Token: token, Confirm: confirm, Cooldown: cooldown,
		RequestedBy: requestedBy, Reason: reason, DeadLetter: deadLetter})
	return apiError("flush-all", err)
}

// Lookup normalises raw and returns its history.
//
// Deprecated: use Inspector.Lookup.
func (p *Producer) Lookup(ctx context.Context, raw string) (*History, error) {
	return lookup(ctx, p.c.p.Store(), p.c.lanes[0].norm, raw)
}

// NewIngest starts a normalise-and-dedupe run with the producer's normaliser.
//
// Deprecated: use Client.EnqueueBulk.
func (p *Producer) NewIngest() *Ingest { return NewIngest(p.c.lanes[0].norm) }

// Ingest normalises input URLs and finds the ones repeated within one run.
// It is not safe for concurrent use.
//
// Deprecated: use Client.EnqueueBulk, which normalises and dedupes.
type Ingest struct{ in *producer.Ingest }

// NewIngest starts a run with norm.
//
// Deprecated: use Client.EnqueueBulk.
func NewIngest(norm *normalize.Normalizer) *Ingest { return &Ingest{in: producer.NewIngest(norm)} }

// Add normalises raw and returns its key with Enqueued, DuplicateInInput, or Rejected and the reason.
//
// Deprecated: use Client.EnqueueBulk.
func (in *Ingest) Add(raw string) (key string, outcome Outcome, err error) {
	key, dup, err := in.in.Add(raw)
	switch {
	case err != nil:
		return "", Rejected, apiError("normalise", err)
	case dup:
		return key, DuplicateInInput, nil
	}
	return key, Enqueued, nil
}
