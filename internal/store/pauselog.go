package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// PauseRecord is one shared pause (or a run of them with one cause) as operators look back on it.
type PauseRecord struct {
	Cause   string `json:"cause"`             // PauseRateLimited or PauseOutage
	Reason  string `json:"reason"`            // what the worker that paused saw last
	Start   int64  `json:"start_ms"`          // Redis clock
	End     int64  `json:"end_ms"`            // when it ends or ended
	Held    int64  `json:"calls_held"`        // calls it held back
	Pauses  int    `json:"pauses"`            // pauses it is made of (a 429 storm or an outage pauses many times)
	Ongoing bool   `json:"ongoing,omitempty"` // it has not ended yet
}

// PauseHistory is what the pause log holds: the latest pauses, newest first, and the last outage.
type PauseHistory struct {
	Recent     []PauseRecord `json:"recent_pauses,omitempty"`
	LastOutage *PauseRecord  `json:"last_outage,omitempty"`
}

// RecordPause logs a shared pause of d that a worker just set for cause (PauseRateLimited,
// PauseOutage). A pause of the same cause that starts within pauseMerge of the latest one's end
// extends it; any other starts a new record and moves the latest one into the log.
func (s *Store) RecordPause(ctx context.Context, cause, reason string, d time.Duration) error {
	for range 5 {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			now, err := s.Now(ctx)
			if err != nil {
				return err
			}
			v, err := tx.HMGet(ctx, s.k.PauseLog, FieldPauseNow, FieldPauseHeld, FieldPauseRecent, FieldPauseOutage).Result()
			if err != nil {
				return err
			}
			var cur *PauseRecord
			_ = decodeField(v[0], &cur)
			end := now + d.Milliseconds()
			fields := []any{}
			if cur != nil && cur.Cause == cause && cur.End+pauseMerge.Milliseconds() >= now {
				cur.End, cur.Reason, cur.Pauses = max(cur.End, end), reason, cur.Pauses+1
				b, _ := json.Marshal(cur)
				fields = append(fields, FieldPauseNow, b)
			} else {
				var recent []PauseRecord
				_ = decodeField(v[2], &recent)
				if cur != nil {
					cur.Held = fieldInt(v[1])
					recent = append([]PauseRecord{*cur}, recent...)[:min(len(recent)+1, PauseLogSize)]
					if cur.Cause == PauseOutage {
						b, _ := json.Marshal(cur)
						fields = append(fields, FieldPauseOutage, b)
					}
				}
				b, _ := json.Marshal(PauseRecord{Cause: cause, Reason: reason, Start: now, End: end, Pauses: 1})
				r, _ := json.Marshal(recent)
				fields = append(fields, FieldPauseNow, b, FieldPauseHeld, 0, FieldPauseRecent, r)
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, s.k.PauseLog, fields...)
				p.PExpire(ctx, s.k.PauseLog, pauseLogTTL)
				return nil
			})
			return err
		}, s.k.PauseLog)
		if !errors.Is(err, redis.TxFailedErr) {
			if err != nil {
				return fmt.Errorf("pause log: %w", err)
			}
			return nil
		}
	}
	return errors.New("pause log: too many workers wrote it at once")
}

// PauseHeld counts one call that the latest shared pause held back.
func (s *Store) PauseHeld(ctx context.Context) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, s.k.PauseLog, FieldPauseHeld, 1)
		p.PExpire(ctx, s.k.PauseLog, pauseLogTTL)
		return nil
	})
	return err
}

// PauseHistory reads the pause log at the Redis time now (ms).
func (s *Store) PauseHistory(ctx context.Context, now int64) (PauseHistory, error) {
	var h PauseHistory
	v, err := s.rdb.HMGet(ctx, s.k.PauseLog, FieldPauseNow, FieldPauseHeld, FieldPauseRecent, FieldPauseOutage).Result()
	if err != nil {
		return h, fmt.Errorf("pause log: %w", err)
	}
	var cur *PauseRecord
	if err := decodeField(v[0], &cur); err != nil {
		return h, err
	}
	if err := decodeField(v[2], &h.Recent); err != nil {
		return h, err
	}
	if err := decodeField(v[3], &h.LastOutage); err != nil {
		return h, err
	}
	if cur != nil {
		cur.Held, cur.Ongoing = fieldInt(v[1]), cur.End > now
		h.Recent = append([]PauseRecord{*cur}, h.Recent...)
		if cur.Cause == PauseOutage {
			h.LastOutage = cur
		}
	}
	return h, nil
}

// decodeField decodes a JSON hash field of HMGet into out; a missing field leaves out as it is.
func decodeField(v any, out any) error {
	s, ok := v.(string)
	if !ok || s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		return fmt.Errorf("pause log: %w", err)
	}
	return nil
}

// fieldInt is a counter field of HMGet (0 when missing).
func fieldInt(v any) int64 {
	s, _ := v.(string)
	var n int64
	_, _ = fmt.Sscan(s, &n)
	return n
}
