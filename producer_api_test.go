package cipurge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
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

// TestFlushAllRefusalsAreTyped: every refusal of RequestFlushAll is a *FlushRefusedError whose
// cause a program tells apart with errors.Is on the root package's ErrFlushAll* errors, in words
// that name no command (each front end says its own fix). The confirmation is checked before
// anything touches Redis.
func TestFlushAllRefusalsAreTyped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	refused := func(t *testing.T, err error, want error) *cipurge.FlushRefusedError {
		t.Helper()
		var fr *cipurge.FlushRefusedError
		if !errors.As(err, &fr) || !errors.Is(err, want) {
			t.Fatalf("%v: want a *cipurge.FlushRefusedError that is %v", err, want)
		}
		for _, cli := range []string{"--confirm", "enqueue", "--cancel"} {
			if strings.Contains(err.Error(), cli) {
				t.Errorf("%q speaks the CLI (%s)", err, cli)
			}
		}
		return fr
	}
	// Nothing listens on port 1: a confirmation refusal never gets as far as Redis.
	down := cipurge.NewProducer(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), nil)
	refused(t, down.RequestFlushAll(ctx, "", "demo", time.Hour, "test", ""), cipurge.ErrFlushAllNoToken)
	if fr := refused(t, down.RequestFlushAll(ctx, "demo", "", time.Hour, "test", ""), cipurge.ErrFlushAllNotConfirmed); !strings.Contains(fr.Reason, "origin") {
		t.Errorf("not confirmed: %q does not say what a flush-all costs", fr.Reason)
	}
	refused(t, down.RequestFlushAll(ctx, "demo", "DEMO", time.Hour, "test", ""), cipurge.ErrFlushAllMismatch)

	p, r := newProducer(t)
	if err := p.RequestFlushAll(ctx, "demo", "demo", time.Hour, "test", ""); err != nil {
		t.Fatal(err)
	}
	refused(t, p.RequestFlushAll(ctx, "demo", "demo", time.Hour, "test", ""), cipurge.ErrFlushAllPending)

	// As if a worker had sent it: the cooldown refuses the next, and says when the next may go.
	must(t, asynq.NewInspectorFromRedisClient(r.Client()).DeleteTask(tasks.QueueAll, tasks.TaskIDAll))
	st := store.New(r.Client())
	now, err := st.Now(ctx)
	must(t, err)
	_, err = st.AllSent(ctx, now, "uuid-1", 0)
	must(t, err)
	fr := refused(t, p.RequestFlushAll(ctx, "demo", "demo", time.Hour, "test", ""), cipurge.ErrFlushAllCoolingDown)
	if want := time.UnixMilli(now).Add(time.Hour); !fr.Next.Equal(want) || !strings.Contains(fr.Reason, "PURGE_ALL_COOLDOWN") {
		t.Errorf("cooldown refusal: next %v (want %v), reason %q", fr.Next, want, fr.Reason)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
