package store

import (
	"context"
	"time"
)

// SandboxRecords keeps the invalidations the worker's built-in sandbox accepted in Redis, each for
// ttl (sandbox.Keeper): one key per accepted request of up to 15 URLs.
type SandboxRecords struct {
	s   *Store
	ttl time.Duration
}

// SandboxRecords returns the sandbox's record keeper; ttl is how long status checks may ask.
func (s *Store) SandboxRecords(ttl time.Duration) *SandboxRecords {
	return &SandboxRecords{s: s, ttl: ttl}
}

// sandboxTimeout bounds one Redis call of the keeper: the sandbox answers the API call meanwhile.
const sandboxTimeout = 2 * time.Second

// Keep stores the record of uuid. A failure loses only that record's status after a restart.
func (k *SandboxRecords) Keep(uuid string, record []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), sandboxTimeout)
	defer cancel()
	_ = k.s.rdb.Set(ctx, SandboxKey(uuid), record, k.ttl).Err()
}

// Recall returns the record of uuid, if Redis holds it.
func (k *SandboxRecords) Recall(uuid string) ([]byte, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), sandboxTimeout)
	defer cancel()
	b, err := k.s.rdb.Get(ctx, SandboxKey(uuid)).Bytes()
	return b, err == nil
}
