package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Record is what the history knows of one canonical URL.
type Record struct {
	Key         string
	RequestedAt int64  // the request the last send covered (ms), 0 if never sent
	SentAt      int64  // when that send was admitted (ms)
	UUID        string // the invalidation's uuid at Cloudimage
	State       string // a State*: sent, confirmed, failed, unconfirmed, dead (dead-lettered)
	Detail      string // with failed/dead: why
	QueuedAt    int64  // the latest request put in a request task (its request time, ms)
	Task        string // that request task's ID
}

// History returns the record of key, if any within the history TTL.
func (s *Store) History(ctx context.Context, key string) (Record, bool, error) {
	m, err := s.rdb.HGetAll(ctx, HistoryKey(key)).Result()
	if err != nil {
		return Record{}, false, fmt.Errorf("history: %w", err)
	}
	if len(m) == 0 {
		return Record{Key: key}, false, nil
	}
	atoi := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	return Record{Key: key, RequestedAt: atoi(FieldRequested), SentAt: atoi(FieldSent), UUID: m[FieldUUID], State: m[FieldState],
		Detail: m[FieldWhy], QueuedAt: atoi(FieldQueued), Task: m[FieldTask]}, true, nil
}

// MarkState sets the state of urls whose last send was the invalidation uuid (a newer send
// keeps its own state). An empty uuid marks them whatever their last send (dead letters).
func (s *Store) MarkState(ctx context.Context, urls []string, uuid, state, detail string, ttl time.Duration) error {
	return s.mark(ctx, urls, uuid, state, detail, "", ttl)
}

// MarkDead marks urls dead-lettered in the task taskID (the ID `enqueue dlq replay` takes), why.
func (s *Store) MarkDead(ctx context.Context, urls []string, taskID, why string, ttl time.Duration) error {
	return s.mark(ctx, urls, "", StateDead, why, taskID, ttl)
}

func (s *Store) mark(ctx context.Context, urls []string, uuid, state, detail, task string, ttl time.Duration) error {
	if len(urls) == 0 {
		return nil
	}
	keys := make([]string, len(urls))
	for i, u := range urls {
		keys[i] = HistoryKey(u)
	}
	err := markScript.Run(ctx, s.rdb, keys, uuid, state, detail, ttl.Milliseconds(), task).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("mark %s: %w", state, err)
	}
	return nil
}

// Requeued records that urls, queued in a request task, now wait in the task taskID instead (the
// task was split), so that `enqueue status URL` names the task that exists. URLs with no queued
// request in their history are left alone.
func (s *Store) Requeued(ctx context.Context, urls []string, taskID string) error {
	if len(urls) == 0 {
		return nil
	}
	keys := make([]string, len(urls))
	for i, u := range urls {
		keys[i] = HistoryKey(u)
	}
	err := requeuedScript.Run(ctx, s.rdb, keys, taskID).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("record the new task: %w", err)
	}
	return nil
}

// AllRecord is the state of flush-all (scope "all").
type AllRecord struct {
	RequestedAt int64 // the last accepted request (ms)
	SentAt      int64 // the last flush-all the API accepted (ms); 0 if never
	UUID        string
}

// AllState returns the flush-all record.
func (s *Store) AllState(ctx context.Context) (AllRecord, error) {
	m, err := s.rdb.HGetAll(ctx, KeyAll).Result()
	if err != nil {
		return AllRecord{}, fmt.Errorf("flush-all state: %w", err)
	}
	atoi := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	return AllRecord{RequestedAt: atoi(FieldAllRequested), SentAt: atoi(FieldAllSent), UUID: m[FieldAllUUID]}, nil
}

// AllRequested records that a person requested a flush-all at the Redis time now, and returns it.
func (s *Store) AllRequested(ctx context.Context) (int64, error) {
	now, err := s.Now(ctx)
	if err != nil {
		return 0, err
	}
	return now, s.rdb.HSet(ctx, KeyAll, FieldAllRequested, now).Err()
}

// AllSent records a flush-all accepted by the API, admitted at sentAt, and drops every pending
// URL request made before it (the flush covered them). It returns how many it dropped.
func (s *Store) AllSent(ctx context.Context, sentAt int64, uuid string) (int64, error) {
	n, err := allSentScript.Run(ctx, s.rdb, []string{KeyAll, KeyPending, KeySources, KeyStats}, sentAt, uuid).Int64()
	if err != nil {
		return 0, fmt.Errorf("record flush-all: %w", err)
	}
	return n, nil
}

// Lease takes or renews a lease named key for owner, for ttl. It reports whether owner holds it.
func (s *Store) Lease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.rdb, []string{key}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", key, err)
	}
	return n == 1, nil
}

// Release gives up owner's lease on key, if owner holds it.
func (s *Store) Release(ctx context.Context, key, owner string) error {
	return releaseScript.Run(ctx, s.rdb, []string{key}, owner).Err()
}

// FirstDeadLetter records that the task id is being dead-lettered by choice (so that a replay by an
// operator can be told from the first run: asynq keeps the task unchanged when it archives it),
// and reports whether this is the first time (false: an operator replayed it, so it should be
// sent). Markers live as long as asynq keeps archived tasks (90 days).
func (s *Store) FirstDeadLetter(ctx context.Context, id string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, DeadLetterKey(id), 1, 90*24*time.Hour).Result()
	if err != nil {
		return false, fmt.Errorf("dead-letter marker: %w", err)
	}
	return ok, nil
}
