package cipurge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// newProducer is a Producer on a private redis-server started with args, for token "demo".
func newProducer(t *testing.T, args ...string) (*cipurge.Producer, *testredis.Server) {
	t.Helper()
	r := testredis.Start(t, testredis.WithArgs(args...))
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	return cipurge.NewProducer(r.Client(), norm), r
}

// TestEvictionErrorIsExported: a program outside the module tells a Redis that may evict
// (allkeys-*) from any other failure with errors.As on the root package's EvictionError, for
// every call that would write.
func TestEvictionErrorIsExported(t *testing.T) {
	t.Parallel()
	p, _ := newProducer(t, "--maxmemory-policy", "allkeys-lru")
	ctx := context.Background()
	_, urlsErr := p.EnqueueURLs(ctx, "https://img.example.com/evict/a.jpg")
	_, bulkErr := p.EnqueueBulk(ctx, "", time.Now(), []string{"https://img.example.com/evict/b.jpg"})
	allErr := p.RequestFlushAll(ctx, "demo", "demo", time.Hour, "test", "")
	for name, err := range map[string]error{"EnqueueURLs": urlsErr, "EnqueueBulk": bulkErr, "RequestFlushAll": allErr} {
		var ev *cipurge.EvictionError
		if !errors.As(err, &ev) || ev.Policy != "allkeys-lru" {
			t.Errorf("%s: %v, want a *cipurge.EvictionError naming allkeys-lru", name, err)
		}
	}
}
