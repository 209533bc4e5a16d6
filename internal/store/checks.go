package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Status checks wait in the account's KeyChecks until they are due, not in asynq.
// An accepted call adds its check with one ZADD (AddCheck): no asynq task, no script.
// A worker's loop takes the checks that came due (TakeChecks), enqueues their asynq tasks, then
// removes them (DoneChecks).
// A check taken but not removed is due again after its lease: the next taker enqueues it.
// Its task ID comes from its uuid, so a second enqueue finds the first task.

var checksTakeScript = script("checks_take")

// AddCheck records the status check payload (an encoded tasks.Confirm), due at due.
func (s *Store) AddCheck(ctx context.Context, payload []byte, due time.Time) error {
	err := s.rdb.ZAdd(ctx, s.k.Checks, redis.Z{Score: float64(due.UnixMilli()), Member: payload}).Err()
	if err != nil {
		return fmt.Errorf("store: recording a status check: %w", err)
	}
	return nil
}

// TakeChecks takes up to n checks due at now: each is due again after lease, unless DoneChecks
// removes it first. It costs one script call.
func (s *Store) TakeChecks(ctx context.Context, now time.Time, n int, lease time.Duration) ([]string, error) {
	out, err := checksTakeScript.Run(ctx, s.rdb, []string{s.k.Checks}, now.UnixMilli(), n, lease.Milliseconds()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("store: taking status checks: %w", err)
	}
	return out, nil
}

// DoneChecks removes checks taken: their tasks are enqueued, or they cannot be.
func (s *Store) DoneChecks(ctx context.Context, checks []string) error {
	if len(checks) == 0 {
		return nil
	}
	members := make([]any, len(checks))
	for i, c := range checks {
		members[i] = c
	}
	if err := s.rdb.ZRem(ctx, s.k.Checks, members...).Err(); err != nil {
		return fmt.Errorf("store: removing status checks: %w", err)
	}
	return nil
}

// ChecksWaiting returns how many status checks wait in KeyChecks, due or not.
func (s *Store) ChecksWaiting(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.k.Checks).Result()
	if err != nil {
		return 0, fmt.Errorf("store: counting status checks: %w", err)
	}
	return n, nil
}
