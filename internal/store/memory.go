package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// EvictionError says Redis may evict what the product acknowledged: its maxmemory-policy is
// allkeys-*, which evicts asynq's tasks and queues and the pending set, none of which has a TTL.
// Nothing may be acknowledged into such a Redis.
type EvictionError struct{ Policy string }

func (e *EvictionError) Error() string {
	return "Redis has maxmemory-policy " + e.Policy + ": it may evict queued requests and the queues themselves, so nothing is accepted " +
		"(acknowledged would not mean kept). Fix: CONFIG SET maxmemory-policy noeviction (and set it in redis.conf or the service's settings)"
}

// Notes the Guard gives once per process.
const (
	noteVolatile = "Redis has maxmemory-policy %s: under memory pressure it may evict keys with a TTL: the per-URL history " +
		"(so a URL may be sent twice) and the shared pause and rate limit (so workers may send during a pause). " +
		"The queues have no TTL and are kept. To rule this out: CONFIG SET maxmemory-policy noeviction"
	noteNoConfig = "cannot read Redis's maxmemory-policy (%v; managed services often refuse CONFIG GET): make sure it is noeviction. " +
		"An allkeys-* policy evicts queued requests"
)

// MaxmemoryPolicy reads Redis's maxmemory-policy (on a Cluster, the first master's that is not
// noeviction). The error wraps Redis's own when CONFIG GET is refused.
func (s *Store) MaxmemoryPolicy(ctx context.Context) (string, error) {
	get := func(ctx context.Context, c redis.Cmdable) (string, error) {
		m, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		if err != nil {
			return "", err
		}
		return m["maxmemory-policy"], nil
	}
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return get(ctx, s.rdb)
	}
	var mu sync.Mutex
	worst := "noeviction"
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		p, err := get(ctx, c)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && p != "noeviction" && !strings.HasPrefix(worst, "allkeys") {
			worst = p
		}
		return err
	})
	return worst, err
}

// What a maxmemory-policy may evict, from PolicyEvicts.
const (
	EvictsNone = 0 // noeviction (or unknown policy names): nothing
	EvictsTTL  = 1 // volatile-*: keys with a TTL (the per-URL history, the shared pause and rate limit)
	EvictsAny  = 2 // allkeys-*: any key, the queues and queued requests too
)

// PolicyEvicts says what maxmemory-policy p may evict: EvictsAny, EvictsTTL or EvictsNone.
func PolicyEvicts(p string) int {
	switch {
	case strings.HasPrefix(p, "allkeys"):
		return EvictsAny
	case strings.HasPrefix(p, "volatile"):
		return EvictsTTL
	}
	return EvictsNone
}

// Guard keeps the product from acknowledging anything into a Redis that may evict it. Check reads
// maxmemory-policy at most once per interval: allkeys-* is an *EvictionError; volatile-* (the
// default of some managed services) and a refused CONFIG GET are said once, through note, and
// allowed. It is safe for concurrent use.
type Guard struct {
	store *Store
	every time.Duration
	note  func(string)

	mu      sync.Mutex
	checked time.Time
	err     error
	policy  string // the last policy read; "" before the first or while CONFIG GET is refused
	said    map[string]bool
}

// NewGuard returns a Guard over s that reads the policy at most once per every (30 s when zero)
// and says what it must say once through note (nil: silent).
func NewGuard(s *Store, every time.Duration, note func(string)) *Guard {
	if every <= 0 {
		every = 30 * time.Second
	}
	if note == nil {
		note = func(string) {}
	}
	return &Guard{store: s, every: every, note: note, said: map[string]bool{}}
}

// Check returns an *EvictionError while Redis's maxmemory-policy is allkeys-*, else nil. An error
// reading the policy other than a refused CONFIG GET (Redis unreachable) is not its business: it
// returns nil and the caller's own write reports it.
func (g *Guard) Check(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.checked.IsZero() && time.Since(g.checked) < g.every {
		return g.err
	}
	p, err := g.store.MaxmemoryPolicy(ctx)
	var rerr redis.Error
	switch {
	case err != nil && errors.As(err, &rerr):
		g.once("noconfig", fmt.Sprintf(noteNoConfig, err))
		g.checked, g.err, g.policy = time.Now(), nil, ""
	case err != nil:
		return nil // not checked: try again next time
	case PolicyEvicts(p) == EvictsAny:
		g.checked, g.err, g.policy = time.Now(), &EvictionError{Policy: p}, p
	case PolicyEvicts(p) == EvictsTTL:
		g.once(p, fmt.Sprintf(noteVolatile, p))
		g.checked, g.err, g.policy = time.Now(), nil, p
	default:
		g.checked, g.err, g.policy = time.Now(), nil, p
	}
	return g.err
}

// Policy returns the maxmemory-policy the last reading found: "" before the first, or while
// CONFIG GET is refused. It reads no Redis.
func (g *Guard) Policy() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.policy
}

func (g *Guard) once(key, msg string) {
	if !g.said[key] {
		g.said[key] = true
		g.note(msg)
	}
}

// ProbeWrite writes a tiny key with a short TTL: it fails while Redis refuses writes (OOM with
// noeviction, a read-only replica), which a PING does not show.
func (s *Store) ProbeWrite(ctx context.Context, owner string) error {
	if err := s.rdb.Set(ctx, KeyWriteProbe, owner, 10*time.Second).Err(); err != nil {
		return fmt.Errorf("redis refuses writes: %w", err)
	}
	return nil
}
