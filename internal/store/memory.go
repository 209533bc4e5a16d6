package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/defaults"
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

// PolicyUnknownError says Redis's maxmemory-policy cannot be read now (Redis is loading, refuses
// this client, cannot be reached...) and has not been read before: nothing is accepted until it
// can be, since an allkeys-* policy would evict what was acknowledged.
type PolicyUnknownError struct{ Err error }

func (e *PolicyUnknownError) Error() string {
	return "cannot read Redis's maxmemory-policy now (" + e.Err.Error() + "): nothing is accepted until it can be read, " +
		"since an allkeys-* policy would evict what was acknowledged; it is read again shortly"
}

func (e *PolicyUnknownError) Unwrap() error { return e.Err }

// ConfigRefused reports whether err is Redis refusing CONFIG GET itself, which asking again does
// not change: an ACL that denies it (NOPERM), a CONFIG command renamed or removed (ERR unknown
// command, as managed services do), a server without the subcommand (ERR unknown subcommand). Any
// other error (LOADING, NOAUTH, MASTERDOWN, BUSY, OOM, a timeout, a refused connection...) says
// nothing about the policy: it is unknown now, not refused.
func ConfigRefused(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := strings.ToLower(rerr.Error())
	for _, p := range []string{"noperm ", "err unknown command ", "err unknown subcommand "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// nodePolicy is one node's answer to CONFIG GET maxmemory-policy: its policy, or the error.
type nodePolicy struct {
	policy string
	err    error
}

// policyReading is what the nodes answered, taken together (readingOf).
type policyReading struct {
	policy  string // the policy that may evict most among those read (allkeys-* over volatile-* over noeviction); "" when none was
	refused error  // a node refused CONFIG GET (ConfigRefused): it cannot be checked, for good
	unknown error  // a node could not answer now: its policy is unknown
}

// readingOf takes the nodes' answers together: on a Cluster every master's policy counts, so one
// master's allkeys-* is read as such whatever the others answered, and one master that refuses
// CONFIG GET or cannot answer never hides another's policy.
func readingOf(nodes []nodePolicy) policyReading {
	var r policyReading
	for _, n := range nodes {
		switch {
		case n.err == nil:
			if r.policy == "" || PolicyEvicts(n.policy) > PolicyEvicts(r.policy) {
				r.policy = n.policy
			}
		case ConfigRefused(n.err):
			if r.refused == nil {
				r.refused = n.err
			}
		case r.unknown == nil:
			r.unknown = n.err
		}
	}
	return r
}

// readPolicy asks every node that holds data (the one server, or every master of a Cluster) for
// its maxmemory-policy.
func (s *Store) readPolicy(ctx context.Context) policyReading {
	get := func(ctx context.Context, c redis.Cmdable) nodePolicy {
		m, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		if err == nil && m["maxmemory-policy"] == "" {
			err = errors.New("CONFIG GET maxmemory-policy answered no value")
		}
		return nodePolicy{policy: m["maxmemory-policy"], err: err}
	}
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return readingOf([]nodePolicy{get(ctx, s.rdb)})
	}
	var mu sync.Mutex
	var nodes []nodePolicy
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n := get(ctx, c)
		if n.err != nil {
			n.err = fmt.Errorf("master %s: %w", c.Options().Addr, n.err)
		}
		mu.Lock()
		defer mu.Unlock()
		nodes = append(nodes, n)
		return nil
	})
	if err != nil { // the cluster's masters are not known now
		nodes = append(nodes, nodePolicy{err: err})
	}
	return readingOf(nodes)
}

// MaxmemoryPolicy reads Redis's maxmemory-policy: on a Cluster, the one that may evict most among
// the masters that answered. The error joins what kept any node from answering.
func (s *Store) MaxmemoryPolicy(ctx context.Context) (string, error) {
	r := s.readPolicy(ctx)
	return r.policy, errors.Join(r.refused, r.unknown)
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
// maxmemory-policy at most once per interval: allkeys-* (on any master of a Cluster) is an
// *EvictionError; volatile-* (the default of some managed services) and a refused CONFIG GET
// (ConfigRefused) are said once, through note, and allowed. Any other error reading it leaves the
// policy unknown now: the last reading stands, or, before the first, Check returns a
// *PolicyUnknownError; the policy is read again after unknownRetry. It is safe for concurrent use.
type Guard struct {
	store *Store
	every time.Duration
	note  func(string)
	read  func(context.Context) policyReading // store.readPolicy; tests replace it

	mu     sync.Mutex
	next   time.Time // when to read the policy again
	known  bool      // a reading was made (a policy, or a refusal)
	err    error
	policy string // the last policy read; "" before the first or while CONFIG GET is refused
	said   map[string]bool
}

// unknownRetry is how soon the policy is read again after it could not be read (or the interval,
// if shorter): a refusal for want of a first reading must not outlast the fault by a whole
// interval, and a reading kept is confirmed soon.
const unknownRetry = time.Second

// NewGuard returns a Guard over s that reads the policy at most once per every (defaults.PolicyEvery when zero)
// and says what it must say once through note (nil: silent).
func NewGuard(s *Store, every time.Duration, note func(string)) *Guard {
	if every <= 0 {
		every = defaults.PolicyEvery
	}
	if note == nil {
		note = func(string) {}
	}
	return &Guard{store: s, every: every, note: note, read: s.readPolicy, said: map[string]bool{}}
}

// Check returns an *EvictionError while Redis's maxmemory-policy is allkeys-*.
// It returns a *PolicyUnknownError while the policy has never been read and cannot be now.
// Otherwise it returns nil.
//
// A policy may be unreadable now, as while Redis loads, on NOAUTH or on a timeout.
// That does not allow writes the way a refused CONFIG GET does.
// A refusal is Redis's settled answer, such as an ACL or a managed service.
// The documented choice there is to say so and go on.
// An error now is no answer at all.
// The rule is that nothing is acknowledged into a Redis that may evict it.
// So the last reading stands.
// A Redis keeps its policy while it loads or fails over.
// With no reading the answer is no.
// The caller's own write would then mostly fail the same way.
func (g *Guard) Check(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Now().Before(g.next) {
		return g.err
	}
	r := g.read(ctx)
	now := time.Now()
	if PolicyEvicts(r.policy) == EvictsAny {
		g.keep(now, &EvictionError{Policy: r.policy}, r.policy)
		return g.err
	}
	if r.unknown != nil {
		if ctx.Err() == nil { // not the caller's context ending: read again after unknownRetry
			g.next = now.Add(min(g.every, unknownRetry))
		}
		if !g.known {
			g.err = &PolicyUnknownError{Err: r.unknown}
		}
		return g.err
	}
	policy := r.policy
	if r.refused != nil {
		g.once("noconfig", fmt.Sprintf(noteNoConfig, r.refused))
		if PolicyEvicts(policy) == EvictsNone {
			policy = "" // what a node that refused holds is not known
		}
	}
	if PolicyEvicts(policy) == EvictsTTL {
		g.once(policy, fmt.Sprintf(noteVolatile, policy))
	}
	g.keep(now, nil, policy)
	return nil
}

// keep records a reading made at now.
func (g *Guard) keep(now time.Time, err error, policy string) {
	g.next, g.known, g.err, g.policy = now.Add(g.every), true, err, policy
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
