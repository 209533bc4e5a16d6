package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// layoutRefresh is how long a Store trusts the history layout it read.
// A changed history TTL reaches every process within it.
const layoutRefresh = time.Minute

// historyLayout says which epoch buckets hold the history: those of the current TTL, and those of
// the previous TTL until its last record expires.
type historyLayout struct {
	ttl, epoch                    int64 // ms
	prevTTL, prevEpoch, prevUntil int64 // ms; prevUntil 0: no previous layout
	migrated                      bool  // MigrateHistory has run on this Redis
}

// layoutCache is a Store's copy of KeyHistoryLayout.
type layoutCache struct {
	mu   sync.Mutex
	l    historyLayout
	read time.Time
}

func newLayout(ttl, prevTTL, prevUntil int64) historyLayout {
	l := historyLayout{ttl: ttl, epoch: HistoryEpoch(time.Duration(ttl) * time.Millisecond)}
	if prevTTL > 0 && prevTTL != ttl {
		l.prevTTL, l.prevEpoch, l.prevUntil = prevTTL, HistoryEpoch(time.Duration(prevTTL)*time.Millisecond), prevUntil
	}
	return l
}

// buckets returns the keys of shard's epoch buckets that may hold a send in [from, to], newest
// first: at most HistoryEpochs+2 of the current layout, and as many of the previous one while it
// lives. now bounds the range to the records not yet expired.
func (l historyLayout) buckets(k Keys, from, to, now int64, shard uint64) []string {
	var out []string
	for _, e := range l.epochs(from, to, now) {
		out = append(out, k.HistoryEpoch(e.start, e.len, shard))
	}
	return out
}

// calls returns the call tables of the epochs that buckets returns, in the same order.
func (l historyLayout) calls(k Keys, from, to, now int64) []string {
	var out []string
	for _, e := range l.epochs(from, to, now) {
		out = append(out, k.HistoryCalls(e.start, e.len))
	}
	return out
}

// epoch is one epoch of a layout: its start and length (ms).
type epoch struct{ start, len int64 }

// epochs returns the epochs whose buckets buckets returns, newest first.
func (l historyLayout) epochs(from, to, now int64) []epoch {
	out := historyEpochs(max(from, now-l.ttl-l.epoch), to, l.epoch)
	if l.prevUntil > now {
		out = append(out, historyEpochs(max(from, now-l.prevTTL-l.prevEpoch), min(to, now), l.prevEpoch)...)
	}
	return out
}

// layout returns the history layout, read from Redis at most once per layoutRefresh. Before any
// worker wrote one it is the default TTL's. A read that fails keeps the last one known: a wrong
// layout costs at most a resend, not a lost request.
func (s *Store) layout(ctx context.Context) historyLayout {
	c := &s.hist
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read.IsZero() && time.Since(c.read) < layoutRefresh {
		return c.l
	}
	m, err := s.rdb.HGetAll(ctx, s.k.HistoryLayout).Result()
	if err != nil {
		if c.read.IsZero() {
			return newLayout(historyDefaultTTL.Milliseconds(), 0, 0)
		}
		return c.l
	}
	atoi := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	ttl := atoi(FieldLayoutTTL)
	if ttl <= 0 {
		ttl = historyDefaultTTL.Milliseconds()
	}
	c.l, c.read = newLayout(ttl, atoi(FieldLayoutPrev), atoi(FieldLayoutPrevTill)), time.Now()
	c.l.migrated = m[FieldLayoutMigrated] != ""
	return c.l
}

// UseHistoryTTL makes ttl, the history TTL, the TTL that sets the history's epochs, for every
// process that reads the history. A worker calls it at start. When it changes the TTL, the
// previous layout is still read until its last record expires.
func (s *Store) UseHistoryTTL(ctx context.Context, ttl time.Duration) error {
	ms := ttl.Milliseconds()
	m, err := s.rdb.HGetAll(ctx, s.k.HistoryLayout).Result()
	if err != nil {
		return fmt.Errorf("history layout: %w", err)
	}
	cur, _ := strconv.ParseInt(m[FieldLayoutTTL], 10, 64)
	if cur == 0 && len(m) == 0 {
		cur = historyDefaultTTL.Milliseconds() // the layout every reader used before any worker wrote one
	}
	if cur != ms {
		now, err := s.Now(ctx)
		if err != nil {
			return fmt.Errorf("history layout: %w", err)
		}
		until := now + cur + HistoryEpoch(time.Duration(cur)*time.Millisecond)
		if err := s.rdb.HSet(ctx, s.k.HistoryLayout, FieldLayoutTTL, ms, FieldLayoutPrev, cur, FieldLayoutPrevTill, until).Err(); err != nil {
			return fmt.Errorf("history layout: %w", err)
		}
	}
	s.hist.mu.Lock()
	s.hist.read = time.Time{}
	s.hist.mu.Unlock()
	s.layout(ctx)
	return nil
}

// MigrateHistory moves the hourly history of version 000c5df and before (HistoryBucketKey) into
// the epoch buckets, so that it is read, at a constant cost, until it expires. It scans the
// keyspace once (SCAN, a thousand keys a call) and returns how many records it moved. A worker
// runs it at start; running it again finds nothing to move.
func (s *Store) MigrateHistory(ctx context.Context) (int64, error) {
	l := s.layout(ctx)
	var moved int64
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, s.k.historyHour+"*", 1000).Result()
		if err != nil {
			return moved, fmt.Errorf("migrate history: %w", err)
		}
		for _, k := range keys {
			n, err := s.migrateBucket(ctx, k, l)
			if err != nil {
				return moved, err
			}
			moved += n
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	now, err := s.Now(ctx)
	if err == nil {
		err = s.rdb.HSet(ctx, s.k.HistoryLayout, FieldLayoutMigrated, now).Err()
	}
	if err != nil {
		return moved, fmt.Errorf("migrate history: %w", err)
	}
	s.hist.mu.Lock()
	s.hist.l.migrated = true
	s.hist.mu.Unlock()
	return moved, nil
}

// migrateBucket moves one hourly bucket (key) into the epoch buckets of layout l.
func (s *Store) migrateBucket(ctx context.Context, key string, l historyLayout) (int64, error) {
	hour, err := strconv.ParseInt(strings.SplitN(strings.TrimPrefix(key, s.k.historyHour), ":", 2)[0], 10, 64)
	if err != nil {
		return 0, nil // not a bucket this code wrote
	}
	pipe := s.rdb.Pipeline()
	fields := pipe.HKeys(ctx, key)
	left := pipe.PTTL(ctx, key)
	now := pipe.Time(ctx)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("migrate history: %w", err)
	}
	expireAt := now.Val().UnixMilli() + left.Val().Milliseconds()
	if left.Val() < 0 {
		expireAt = now.Val().UnixMilli() + l.ttl
	}
	var moved int64
	fs := fields.Val()
	for start := 0; start < len(fs); start += maxScriptArg {
		part := fs[start:min(start+maxScriptArg, len(fs))]
		keys := []string{key}
		args := []any{expireAt}
		for _, f := range part {
			if len(f) == 8 { // a field of another length is not one this code wrote: it expires with the bucket
				keys = append(keys, s.k.HistoryEpoch(hour*1000, l.epoch, binary.BigEndian.Uint64([]byte(f))%HistoryShards))
				args = append(args, f)
			}
		}
		n, err := migrateHistoryScript.Run(ctx, s.rdb, keys, args...).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return moved, fmt.Errorf("migrate history %s: %w", key, err)
		}
		moved += n
	}
	return moved, nil
}
