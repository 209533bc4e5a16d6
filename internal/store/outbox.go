package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The webhook outbox makes the events of requests at least once.
// The scripts that move requests append each event to KeyOutbox in the move's own write.
// A worker takes events (TakeOutbox), enqueues their delivery tasks, then acks them (AckOutbox).
// An event taken but not acked goes to the next taker once its lease ends.
// So a worker killed between a move and the enqueue loses nothing.
// The delivery's webhook-id comes from the event, so a second enqueue is the same task.

// OutboxEvent is one event of the outbox.
type OutboxEvent struct {
	Raw     string // as stored: AckOutbox takes it
	Dead    bool   // true: a URL of the request is dead (URL); false: the request is done
	Request string // the request's ID
	URL     string // the canonical key of the dead URL
}

// parseOutboxEvent reads an event as link_move.lua writes it.
func parseOutboxEvent(raw string) (OutboxEvent, error) {
	parts := strings.SplitN(raw, "|", 3)
	if len(parts) != 3 || (parts[0] != OutboxDone && parts[0] != OutboxDead) || !ValidRequestID(parts[1]) {
		return OutboxEvent{}, fmt.Errorf("store: %q is not an outbox event", raw)
	}
	return OutboxEvent{Raw: raw, Dead: parts[0] == OutboxDead, Request: parts[1], URL: parts[2]}, nil
}

// TakeOutbox takes up to n events: first those another taker held longer than lease, then the
// oldest of the outbox. It costs one script call. An event that does not parse is acked and
// left out.
func (s *Store) TakeOutbox(ctx context.Context, n int, lease time.Duration) ([]OutboxEvent, error) {
	raw, err := outboxTakeScript.Run(ctx, s.rdb, []string{s.k.Outbox, s.k.OutboxTaken}, n, lease.Milliseconds()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("store: taking webhook events: %w", err)
	}
	out := make([]OutboxEvent, 0, len(raw))
	for _, r := range raw {
		ev, err := parseOutboxEvent(r)
		if err != nil {
			_ = s.AckOutbox(ctx, OutboxEvent{Raw: r})
			continue
		}
		out = append(out, ev)
	}
	return out, nil
}

// AckOutbox forgets ev, taken: its delivery task is enqueued, or it has none.
func (s *Store) AckOutbox(ctx context.Context, ev OutboxEvent) error {
	if err := s.rdb.ZRem(ctx, s.k.OutboxTaken, ev.Raw).Err(); err != nil {
		return fmt.Errorf("store: acking a webhook event: %w", err)
	}
	return nil
}

// OutboxLen returns the events waiting in the outbox and those taken, not acked yet.
func (s *Store) OutboxLen(ctx context.Context) (waiting, taken int64, err error) {
	pipe := s.rdb.Pipeline()
	w := pipe.LLen(ctx, s.k.Outbox)
	t := pipe.ZCard(ctx, s.k.OutboxTaken)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, 0, fmt.Errorf("store: reading the webhook outbox: %w", err)
	}
	return w.Val(), t.Val(), nil
}

// PublishEvents records ev, the events of this worker's moves, for producers (KeyOutboxEvents),
// for ttl. Workers with a secret refresh it.
func (s *Store) PublishEvents(ctx context.Context, ev Events, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, s.k.OutboxEvents, int(ev), ttl).Err(); err != nil {
		return fmt.Errorf("store: recording the webhook events: %w", err)
	}
	return nil
}
