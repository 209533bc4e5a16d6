package cipurge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// newClient is a Client for token "demo" on rdb.
func newClient(t *testing.T, rdb redis.UniversalClient, opts ...cipurge.ClientOption) *cipurge.Client {
	t.Helper()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cipurge.NewClient(rdb, norm, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startClient is a Client that may flush, on a private redis-server started with args.
func startClient(t *testing.T, args ...string) (*cipurge.Client, *testredis.Server) {
	t.Helper()
	r := testredis.Start(t, testredis.WithArgs(args...))
	return newClient(t, r.Client(), cipurge.WithFlushAll("demo", time.Hour)), r
}

var flushReq = cipurge.FlushAllRequest{Confirm: "demo", RequestedBy: "test"}

// TestEvictionErrorIsExported: a program outside the module tells a Redis that may evict
// (allkeys-*) from any other failure with errors.As on the root package's EvictionError, for
// every call that would write.
func TestEvictionErrorIsExported(t *testing.T) {
	t.Parallel()
	c, _ := startClient(t, "--maxmemory-policy", "allkeys-lru")
	ctx := context.Background()
	_, urlsErr := c.Enqueue(ctx, []string{"https://img.example.com/evict/a.jpg"})
	_, bulkErr := c.EnqueueBulk(ctx, slices.Values([]string{"https://img.example.com/evict/b.jpg"}))
	allErr := c.RequestFlushAll(ctx, flushReq)
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
	downRedis := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	refused(t, newClient(t, downRedis).RequestFlushAll(ctx, flushReq), cipurge.ErrFlushAllNoToken)
	down := newClient(t, downRedis, cipurge.WithFlushAll("demo", time.Hour))
	if fr := refused(t, down.RequestFlushAll(ctx, cipurge.FlushAllRequest{}), cipurge.ErrFlushAllNotConfirmed); !strings.Contains(fr.Reason, "origin") {
		t.Errorf("not confirmed: %q does not say what a flush-all costs", fr.Reason)
	}
	refused(t, down.RequestFlushAll(ctx, cipurge.FlushAllRequest{Confirm: "DEMO"}), cipurge.ErrFlushAllMismatch)

	p, r := startClient(t)
	if err := p.RequestFlushAll(ctx, flushReq); err != nil {
		t.Fatal(err)
	}
	refused(t, p.RequestFlushAll(ctx, flushReq), cipurge.ErrFlushAllPending)

	// As if a worker had sent it: the cooldown refuses the next, and says when the next may go.
	must(t, asynq.NewInspectorFromRedisClient(r.Client()).DeleteTask(tasks.QueueAll, tasks.TaskIDAll))
	st := store.New(r.Client())
	now, err := st.Now(ctx)
	must(t, err)
	_, err = st.AllSent(ctx, now, "uuid-1", 0)
	must(t, err)
	fr := refused(t, p.RequestFlushAll(ctx, flushReq), cipurge.ErrFlushAllCoolingDown)
	if want := time.UnixMilli(now).Add(time.Hour); !fr.Next.Equal(want) || !strings.Contains(fr.Reason, "cooldown of 1h0m0s") {
		t.Errorf("cooldown refusal: next %v (want %v), reason %q", fr.Next, want, fr.Reason)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestNewClientValidates: a setting out of range is an *OptionError naming the option; nothing
// is clamped.
func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	must(t, err)
	for _, c := range []struct {
		opt  cipurge.ClientOption
		name string
	}{
		{cipurge.WithMaxRetry(-3), "WithMaxRetry"},
		{cipurge.WithMaxRetry(cipurge.MaxMaxRetry + 1), "WithMaxRetry"},
		{cipurge.WithBatchSize(0), "WithBatchSize"},
		{cipurge.WithBatchSize(16), "WithBatchSize"},
		{cipurge.WithPolicyEvery(0), "WithPolicyEvery"},
		{cipurge.WithFlushAll("demo", -time.Second), "WithFlushAll"},
		{cipurge.WithReplicaWait(-1, time.Second), "WithReplicaWait"},
		{cipurge.WithReplicaWait(1, 0), "WithReplicaWait"},
		{cipurge.WithAccountName("Shop A"), "WithAccountName"},
		{cipurge.WithAccountName(""), "WithAccountName"},
	} {
		_, err := cipurge.NewClient(rdb, norm, c.opt)
		var oe *cipurge.OptionError
		if !errors.As(err, &oe) || oe.Option != c.name {
			t.Errorf("%s: %v, want an *OptionError naming it", c.name, err)
		}
	}
	if _, err := cipurge.NewClient(rdb, nil); err == nil {
		t.Error("NewClient without a normaliser: no error")
	}
	if _, err := cipurge.NewInspector(nil, norm); err == nil {
		t.Error("NewInspector without Redis: no error")
	}
	if _, err := cipurge.NewClient(rdb, norm, cipurge.WithMaxRetry(0), cipurge.WithBatchSize(1), cipurge.WithFlushAll("demo", 0)); err != nil {
		t.Errorf("the lowest settings in range: %v", err)
	}
}

// TestEnqueueBulkFrom: lines become bulk tasks of the batch size; a line over the input limit is
// rejected; a failing reader is a *ReadError after what was read is enqueued; a Redis that does
// not answer is a *RedisError.
func TestEnqueueBulkFrom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testredis.Start(t)
	c := newClient(t, r.Client(), cipurge.WithBatchSize(2))
	var in strings.Builder
	for i := range 5 {
		fmt.Fprintf(&in, "https://img.example.com/bulk/%d.jpg\n", i)
	}
	in.WriteString("https://img.example.com/" + strings.Repeat("x", normalize.MaxInputLen) + ".jpg\n")
	rep, err := c.EnqueueBulkFrom(ctx, io.MultiReader(strings.NewReader(in.String()), iotest.ErrReader(errBroken)))
	var re *cipurge.ReadError
	if !errors.As(err, &re) || !errors.Is(err, errBroken) {
		t.Fatalf("a reader that fails: %v, want a *ReadError wrapping its error", err)
	}
	if rep.URLs != 6 || rep.Enqueued != 5 || rep.Rejected != 1 || rep.Requests != 3 || len(rep.Rejections) != 1 {
		t.Errorf("report %+v: want 6 read, 5 enqueued in 3 requests of 2, 1 rejected", rep)
	}
	n, err := asynq.NewInspectorFromRedisClient(r.Client()).GetQueueInfo(tasks.QueueBulk)
	if err != nil || n.Pending != 1 {
		t.Errorf("bulk queue: %+v, %v; want one task", n, err)
	}
	down := newClient(t, redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}))
	var rerr *cipurge.RedisError
	if _, err := down.EnqueueBulkFrom(ctx, strings.NewReader("https://img.example.com/a.jpg\n")); !errors.As(err, &rerr) {
		t.Errorf("Redis down: %v, want a *RedisError", err)
	}
}

var errBroken = errors.New("broken input")

// TestEnqueuePrefixes (issue 24): WithPrefixes reads each folder as a prefix, after the URLs; a
// root prefix is rejected there and goes only through RequestFlushAll, which refuses a prefix
// below a host. A root prefix confirmed there keeps the flush-all's one-at-a-time rule.
func TestEnqueuePrefixes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := startClient(t)
	rep, err := c.Enqueue(ctx, []string{"https://img.example.com/p/a.jpg"},
		cipurge.WithPrefixes("https://img.example.com/p/", "https://img.example.com/q", "https://img.example.com/*"))
	must(t, err)
	want := []string{"https://img.example.com/p/a.jpg", "https://img.example.com/p/*", "https://img.example.com/q/*", ""}
	for i, w := range want {
		r := rep.Results[i]
		if r.Key != w || r.Prefix != (i == 1 || i == 2) {
			t.Errorf("result %d: %+v; want key %q", i, r, w)
		}
	}
	var bad *cipurge.InvalidURLError
	if r := rep.Results[3]; r.Outcome != cipurge.Rejected || !errors.As(r.Err, &bad) || !strings.Contains(r.Reason, "flush-all") {
		t.Errorf("root prefix: %+v; want rejected, naming the flush-all", r)
	}
	if err := c.RequestFlushAll(ctx, cipurge.FlushAllRequest{Confirm: "demo", Prefix: "https://img.example.com/p/"}); !errors.As(err, &bad) {
		t.Errorf("a prefix below a host as a flush-all: %v; want an *InvalidURLError", err)
	}
	must(t, c.RequestFlushAll(ctx, cipurge.FlushAllRequest{Confirm: "demo", Prefix: "https://img.example.com/"}))
	if err := c.RequestFlushAll(ctx, flushReq); !errors.Is(err, cipurge.ErrFlushAllPending) {
		t.Errorf("a flush-all while a root prefix waits: %v; want pending", err)
	}
}
