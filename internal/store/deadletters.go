package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// DeadLetter is the product's own record of one dead-lettered task. asynq keeps at most 10,000
// archived tasks per queue (and 90 days) and trims the oldest without a trace; these records are
// kept until an operator replays or deletes the entry, so that no dead letter disappears (see
// ReconcileDeadLetters for the entries asynq archives or deletes without the product).
type DeadLetter struct {
	ID       string   `json:"id"`
	Queue    string   `json:"queue"`
	Type     string   `json:"type"`
	URLs     []string `json:"urls,omitempty"`
	Reason   string   `json:"reason"`
	Attempts int      `json:"attempts"`
	At       int64    `json:"at"`      // when it was dead-lettered (Unix ms)
	Payload  []byte   `json:"payload"` // the task's payload, to enqueue it again once asynq trimmed it
}

// KeepDeadLetter records d (replacing an earlier record of the same task ID, and what the
// reconciliation noted of it).
func (s *Store) KeepDeadLetter(ctx context.Context, d DeadLetter) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("keep dead letter: %w", err)
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.k.DeadLetters, d.ID, b)
	pipe.ZAdd(ctx, s.k.DeadIndex, redis.Z{Score: float64(d.At), Member: d.ID})
	pipe.HDel(ctx, s.k.DeadMarks, d.ID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("keep dead letter: %w", err)
	}
	return nil
}

// DeadLetters returns every kept dead letter, oldest first.
func (s *Store) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	ids, err := s.rdb.ZRange(ctx, s.k.DeadIndex, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return s.deadLettersOf(ctx, ids)
}

// LastDeadLetters returns the n most recently kept dead letters, newest first.
func (s *Store) LastDeadLetters(ctx context.Context, n int) ([]DeadLetter, error) {
	if n <= 0 {
		return nil, nil
	}
	ids, err := s.rdb.ZRevRange(ctx, s.k.DeadIndex, 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return s.deadLettersOf(ctx, ids)
}

// deadLettersOf reads the records of ids, in their order (ids without a record are skipped).
func (s *Store) deadLettersOf(ctx context.Context, ids []string) ([]DeadLetter, error) {
	out := make([]DeadLetter, 0, len(ids))
	err := s.eachDeadLetter(ctx, ids, func(_, raw string) {
		var d DeadLetter
		if json.Unmarshal([]byte(raw), &d) == nil {
			out = append(out, d)
		}
	})
	return out, err
}

// eachDeadLetter calls fn with the ID and the stored JSON of each of ids that has a record, in the
// order of ids.
func (s *Store) eachDeadLetter(ctx context.Context, ids []string, fn func(id, raw string)) error {
	for start := 0; start < len(ids); start += maxScriptArg {
		chunk := ids[start:min(start+maxScriptArg, len(ids))]
		vals, err := s.rdb.HMGet(ctx, s.k.DeadLetters, chunk...).Result()
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		for i, v := range vals {
			if str, ok := v.(string); ok {
				fn(chunk[i], str)
			}
		}
	}
	return nil
}

// DeadLetterByID returns the kept dead letter of task id, if any.
func (s *Store) DeadLetterByID(ctx context.Context, id string) (DeadLetter, bool, error) {
	v, err := s.rdb.HGet(ctx, s.k.DeadLetters, id).Result()
	if errors.Is(err, redis.Nil) {
		return DeadLetter{}, false, nil
	}
	if err != nil {
		return DeadLetter{}, false, fmt.Errorf("dead letter %s: %w", id, err)
	}
	var d DeadLetter
	if err := json.Unmarshal([]byte(v), &d); err != nil {
		return DeadLetter{}, false, fmt.Errorf("dead letter %s: %w", id, err)
	}
	return d, true, nil
}

// ForgetDeadLetters removes the records of the task ids (replayed or deleted).
func (s *Store) ForgetDeadLetters(ctx context.Context, ids ...string) error {
	for start := 0; start < len(ids); start += maxScriptArg {
		chunk := ids[start:min(start+maxScriptArg, len(ids))]
		members := make([]any, len(chunk))
		for i, id := range chunk {
			members[i] = id
		}
		pipe := s.rdb.TxPipeline()
		pipe.HDel(ctx, s.k.DeadLetters, chunk...)
		pipe.ZRem(ctx, s.k.DeadIndex, members...)
		pipe.HDel(ctx, s.k.DeadMarks, chunk...)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("forget dead letters: %w", err)
		}
	}
	return nil
}

// DeadLetterCount returns how many dead letters are kept.
func (s *Store) DeadLetterCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.k.DeadIndex).Result()
	if err != nil {
		return 0, fmt.Errorf("dead letter count: %w", err)
	}
	return n, nil
}
