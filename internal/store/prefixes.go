package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A prefix (a folder: a key ending with "/*") covers every URL and prefix under it. Its send is
// kept in KeyPrefixSent, so that Admit drops what it covers: one ZSCORE per "/" of each URL, and
// none while no prefix was sent. A prefix requested and not sent yet is kept in KeyPrefixWaiting,
// so that a prefix under it waits for it instead of costing a search of its own.

// PrefixesKept bounds KeyPrefixSent: past it the oldest sends are forgotten. A forgotten send only
// costs a resend of what it covered. At the default prefix rate it holds about a week.
const PrefixesKept = 10000

// prefixWaitFor is how long a prefix requested and not sent holds back the prefixes under it.
// Past it (its task lost, or deleted by an operator) they go on their own.
const prefixWaitFor = 6 * time.Hour

// prefixHold is how long a call held by a waiting prefix waits before it asks again (a prefix
// call waits at least one interval of the prefix budget).
const prefixHold = 5 * time.Second

// isPrefixKey reports whether a canonical key is a prefix.
func isPrefixKey(key string) bool { return strings.HasSuffix(key, "/*") }

// prefixKeys returns the prefixes among keys.
func prefixKeys(keys []string) []any {
	var out []any
	for _, k := range keys {
		if isPrefixKey(k) {
			out = append(out, k)
		}
	}
	return out
}

// PrefixRequested records the prefixes among keys as requested and not sent yet. A prefix
// already waiting keeps its first request time. It makes no round trip when keys hold none.
func (s *Store) PrefixRequested(ctx context.Context, keys []string) error {
	return s.prefixWaiting(ctx, "1", keys)
}

// PrefixGone forgets the prefixes among keys as waiting: they were dead-lettered, or covered.
func (s *Store) PrefixGone(ctx context.Context, keys []string) error {
	return s.prefixWaiting(ctx, "0", keys)
}

func (s *Store) prefixWaiting(ctx context.Context, flag string, keys []string) error {
	ps := prefixKeys(keys)
	if len(ps) == 0 {
		return nil
	}
	if err := prefixWaitingScript.Run(ctx, s.rdb, []string{s.k.PrefixWaiting}, append([]any{flag}, ps...)...).Err(); err != nil {
		return fmt.Errorf("record waiting prefixes: %w", err)
	}
	return nil
}

// PrefixSent records the prefixes among keys, requested at requestedAt and accepted by the API in
// a send admitted at sentAt (ms). Every later Admit drops the URLs and prefixes under them
// requested before sentAt. A send is kept for ttl, the history TTL, and at most PrefixesKept.
func (s *Store) PrefixSent(ctx context.Context, keys []string, requestedAt, sentAt int64, ttl time.Duration) error {
	ps := prefixKeys(keys)
	if len(ps) == 0 {
		return nil
	}
	args := append([]any{sentAt, requestedAt, ttl.Milliseconds()}, ps...)
	if err := prefixSentScript.Run(ctx, s.rdb, []string{s.k.PrefixSent, s.k.PrefixWaiting}, args...).Err(); err != nil {
		return fmt.Errorf("record sent prefixes: %w", err)
	}
	return nil
}

// Cover is what covers a request without a send of its own: a prefix or a flush-all sent after it.
type Cover struct {
	Prefix string // the prefix key; "" for a flush-all
	SentAt int64  // when its send was admitted (ms)
	UUID   string // the flush-all's uuid (a prefix's is in its own history)
}

// CoveredBy returns what covers key requested at requestedAt (ms): a flush-all or a prefix sent
// after it, the first sent. ok is false when nothing does. It costs one ZSCORE per "/" of key.
func (s *Store) CoveredBy(ctx context.Context, key string, requestedAt int64) (c Cover, ok bool, err error) {
	all, err := s.AllState(ctx)
	if err != nil {
		return Cover{}, false, err
	}
	if all.SentAt > requestedAt {
		c, ok = Cover{SentAt: all.SentAt, UUID: all.UUID}, true
	}
	var cands []string
	for i := 0; i < len(key); i++ {
		if key[i] == '/' && key[:i+1]+"*" != key {
			cands = append(cands, key[:i+1]+"*")
		}
	}
	if len(cands) == 0 {
		return c, ok, nil
	}
	pipe := s.rdb.Pipeline()
	res := make([]*redis.FloatCmd, len(cands))
	for i, p := range cands {
		res[i] = pipe.ZScore(ctx, s.k.PrefixSent, p)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Cover{}, false, fmt.Errorf("sent prefixes: %w", err)
	}
	for i, r := range res {
		at, err := r.Result()
		if err != nil || int64(at) <= requestedAt {
			continue
		}
		if !ok || int64(at) < c.SentAt {
			c, ok = Cover{Prefix: cands[i], SentAt: int64(at)}, true
		}
	}
	return c, ok, nil
}

// AllRootSent records a root prefix the API accepted in place of the flush-all requested at
// requestedAt (ms), admitted at sentAt: it uses up the request's confirmation, and the flush-all
// cooldown counts from it. Unlike AllSent it drops nothing: a root prefix covers one host, alias
// or token, and its send covers what is under it through PrefixSent.
func (s *Store) AllRootSent(ctx context.Context, prefix string, requestedAt, sentAt int64) error {
	req := fmt.Sprint(requestedAt)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.k.All, FieldAllRootSent, sentAt, FieldAllRoot, prefix)
		p.HDel(ctx, s.k.All, FieldAllConfirmed+req, FieldAllInFlight+req)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record root prefix: %w", err)
	}
	return nil
}
