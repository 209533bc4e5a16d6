// Package store holds the product's own state in Redis, next to asynq's.
//
// That state has four parts.
//   - The set of URL requests waiting for their coalescing window.
//   - The per-URL history that makes dedupe safe.
//   - The rate limit and pause shared by every worker.
//   - The flush-all record.
//
// Every key of one account shares its hash tag: {cipurge} for the default account,
// {cipurge:NAME} for another (Keys).
// So every script runs on one node of a Redis Cluster.
// Every timestamp comes from the Redis server's clock, through TIME inside a script.
// So producers and workers with skewed clocks still agree on "requested before it was sent".
//
// Timestamps are Unix milliseconds (int64) throughout.
// schema.go owns every key, field, state and code.
// The Lua scripts are in lua/.
// Each script has a header that says its KEYS, ARGV and reply.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	maxScriptArg = 1000 // keys per enqueue script call
	rateWindowS  = 120  // seconds of per-second counters kept
)

// Store is the product's Redis state of one account. It is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	k    Keys
	hist layoutCache
	// linked are the requests the last links moved named (MoveURLs).
	linked *linkedReqs
}

// New returns the Store of the default account over rdb (a client, a failover client or a
// cluster client). For binds another.
func New(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, k: defaultKeys, linked: &linkedReqs{}}
}

// For returns the Store of account ("" is the default account) over the same client.
// The caller checks the name (tasks.CheckAccountName).
func (s *Store) For(account string) *Store {
	return &Store{rdb: s.rdb, k: KeysFor(account), linked: &linkedReqs{}}
}

// Keys returns the keys of the Store's account.
func (s *Store) Keys() Keys { return s.k }

// Account returns the name of the Store's account.
func (s *Store) Account() string { return s.k.Account }

// Client returns the underlying Redis client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Now returns the Redis server's clock in Unix milliseconds.
func (s *Store) Now(ctx context.Context) (int64, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("redis TIME: %w", err)
	}
	return t.UnixMilli(), nil
}

// AddPending adds canonical keys to the pending set with the Redis time as their request time,
// unless they are pending already. added[i] reports whether keys[i] was added (false: an earlier
// request for it is still waiting and will cover this one). source, when not empty, is kept for
// keys that were added and travels into the batch's payload.
func (s *Store) AddPending(ctx context.Context, source string, keys []string) (added []bool, err error) {
	added = make([]bool, 0, len(keys))
	for start := 0; start < len(keys); start += maxScriptArg {
		end := min(start+maxScriptArg, len(keys))
		args := make([]any, 0, end-start+1)
		args = append(args, source)
		for _, k := range keys[start:end] {
			args = append(args, k)
		}
		res, err := addPendingScript.Run(ctx, s.rdb, []string{s.k.Pending, s.k.Sources}, args...).Int64Slice()
		if err != nil {
			return added, fmt.Errorf("add pending: %w", err)
		}
		for _, r := range res {
			added = append(added, r == 1)
		}
	}
	return added, nil
}

// Entry is one pending request: a canonical key and when it was (first) requested.
type Entry struct {
	Key         string
	RequestedAt int64 // Unix ms, Redis clock
}

// Window is the coalescing rule the batcher applies.
type Window struct {
	Window   time.Duration // every request waits at least this long, so repeats within it collapse
	MaxDelay time.Duration // a partial batch waits at most this long for company
	Batch    int           // URLs per API request (1-15)
	MaxClaim int           // entries returned per call, rounded down to a multiple of Batch (see Claim)
	// Spare says that nothing formed by the batcher waits to be sent: a partial batch then goes
	// once its oldest request has waited the window and a quarter more (the quarter for company)
	// when the shared limit would let a call through now (calls are not the scarce thing), instead
	// of waiting up to MaxDelay.
	Spare bool
	Limit Limit // the shared limit, read with Spare
}

// Claim is how many entries one DueEntries call returns at most: MaxClaim rounded down to whole
// batches, at least one batch. A call that returns fewer found no more due entries.
func (w Window) Claim() int {
	b := max(w.Batch, 1)
	return max(w.MaxClaim-w.MaxClaim%b, b)
}

// DueEntries returns the pending entries that are ready to be sent under w, oldest first, without
// removing them: entries that have waited a full window, in whole batches, plus the remainder when
// nothing younger is waiting to join it, it has waited MaxDelay, or w.Spare, it has waited 1.25
// windows and the shared limit is idle. The caller enqueues them and then calls RemovePending; a
// crash in between leaves them pending (sent again, never lost). Only one caller at a time (the
// batcher lease holder) should use it.
func (s *Store) DueEntries(ctx context.Context, w Window) (entries []Entry, now int64, err error) {
	spare := 0
	if w.Spare {
		spare = 1
	}
	res, err := dueScript.Run(ctx, s.rdb, []string{s.k.Pending, s.k.Rate},
		w.Window.Milliseconds(), w.MaxDelay.Milliseconds(), max(w.Batch, 1), w.Claim(), spare, w.Limit.emissionMS(), max(w.Limit.Burst, 1)).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("due entries: %w", err)
	}
	now, _ = res[0].(int64)
	entries = make([]Entry, 0, (len(res)-1)/2)
	for i := 1; i+1 < len(res); i += 2 {
		k, _ := res[i].(string)
		sc, _ := res[i+1].(string)
		ms, _ := strconv.ParseFloat(sc, 64)
		entries = append(entries, Entry{Key: k, RequestedAt: int64(ms)})
	}
	return entries, now, nil
}

// Sources returns the free-text sources recorded for entries, by key (most requests have none).
func (s *Store) Sources(ctx context.Context, entries []Entry) (map[string]string, error) {
	n, err := s.rdb.HLen(ctx, s.k.Sources).Result()
	if err != nil || n == 0 {
		return nil, err
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	vals, err := s.rdb.HMGet(ctx, s.k.Sources, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	out := make(map[string]string)
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[keys[i]] = str
		}
	}
	return out, nil
}

// RemovePending removes entries after their request tasks were enqueued, with their sources, and
// records that each URL is queued in taskIDs[i] (kept for historyTTL, until it is sent), so that
// `enqueue status URL` can say where a request is. An entry whose request time changed in between
// (it cannot while the caller holds the batcher lease, but a lease can lapse) is left alone, to be
// sent again. Each call of maxScriptArg entries is one script of a constant number of commands.
func (s *Store) RemovePending(ctx context.Context, entries []Entry, taskIDs []string, historyTTL time.Duration) error {
	for start := 0; start < len(entries); start += maxScriptArg {
		end := min(start+maxScriptArg, len(entries))
		args := make([]any, 0, 1+removeArgsPer*(end-start))
		args = append(args, historyTTL.Milliseconds())
		for i, e := range entries[start:end] {
			args = append(args, e.Key, e.RequestedAt, taskIDs[start+i]) // removeArgsPer
		}
		err := removePendingScript.Run(ctx, s.rdb, []string{s.k.Pending, s.k.Sources, s.k.Queued}, args...).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("remove pending: %w", err)
		}
	}
	return nil
}

// PendingCount returns how many URL requests wait in the pending set, and the oldest's age.
func (s *Store) PendingCount(ctx context.Context) (n int64, oldest int64, err error) {
	pipe := s.rdb.Pipeline()
	card := pipe.ZCard(ctx, s.k.Pending)
	first := pipe.ZRangeWithScores(ctx, s.k.Pending, 0, 0)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, fmt.Errorf("pending count: %w", err)
	}
	if zs := first.Val(); len(zs) == 1 {
		oldest = int64(zs[0].Score)
	}
	return card.Val(), oldest, nil
}

// PendingScore returns when key was requested if it is waiting in the pending set.
func (s *Store) PendingScore(ctx context.Context, key string) (int64, bool, error) {
	sc, err := s.rdb.ZScore(ctx, s.k.Pending, key).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("pending score: %w", err)
	}
	return int64(sc), true, nil
}
