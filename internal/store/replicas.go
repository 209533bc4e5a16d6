package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replicas is how many replicas must hold a write before it counts as acknowledged.
// The zero value does not wait: an acknowledgement then means "on the master".
type Replicas struct {
	N       int           // replicas to wait for; 0 does not wait
	Timeout time.Duration // the longest wait; shorter than the client's read timeout
}

// On reports whether r waits for any replica.
func (r Replicas) On() bool { return r.N > 0 }

// ReplicaError says that fewer replicas than asked hold a write when the wait ended.
// The write is on the master, so a failover may lose it.
type ReplicaError struct {
	Want, Got int
	Timeout   time.Duration
}

func (e *ReplicaError) Error() string {
	return fmt.Sprintf("%d of %d Redis replicas hold the write after %s: it is on the master only, and a failover can lose it; "+
		"check the replicas (INFO replication on the master), then write it again", e.Got, e.Want, e.Timeout)
}

// WaitReplicas is the function WaitReplicas for the slot of s's keys.
func (s *Store) WaitReplicas(ctx context.Context, r Replicas) error {
	return WaitReplicas(ctx, s.rdb, s.k.Pending, r)
}

// WaitReplicas waits until r.N replicas of the master of slotKey's slot hold every write that
// master acknowledged so far. It returns at once when r waits for none.
//
// WAIT counts only the writes of its own connection. So one connection to that master increments
// ReplicaMarkKey(slotKey) and then sends WAIT. Replication keeps the order of writes. So a replica
// that holds the mark holds every write acknowledged before it, whoever wrote it.
// Fewer replicas than r.N is a *ReplicaError. A failed write or WAIT is Redis's error.
func WaitReplicas(ctx context.Context, rdb redis.UniversalClient, slotKey string, r Replicas) error {
	if !r.On() {
		return nil
	}
	var node redis.Cmdable = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, slotKey)
		if err != nil {
			return fmt.Errorf("wait for replicas: find the master of %s: %w", slotKey, err)
		}
		node = m
	}
	// A pipeline of a single-node client runs on one connection.
	var wait *redis.IntCmd
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, ReplicaMarkKey(slotKey))
		// WAIT 0 would block for good: wait at least 1 ms.
		wait = redis.NewIntCmd(ctx, "wait", r.N, max(r.Timeout.Milliseconds(), 1))
		return p.Process(ctx, wait)
	})
	if err != nil {
		return fmt.Errorf("wait for replicas: %w", err)
	}
	if got := int(wait.Val()); got < r.N {
		return &ReplicaError{Want: r.N, Got: got, Timeout: r.Timeout}
	}
	return nil
}
