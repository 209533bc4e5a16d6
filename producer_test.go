package cipurge

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// TestProducerReadsPolicyAgain: a Producer made while Redis had noeviction reads the policy again
// every period, not only at its first call: once Redis has allkeys-lru it refuses within the period
// (WithPolicyEvery; WithRedisNotes after it keeps it), and so does a bulk request.
func TestProducerReadsPolicyAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	const every = 300 * time.Millisecond
	p, err := NewClient(rdb, norm, WithPolicyEvery(every), WithRedisNotes(func(string) {}))
	if err != nil {
		t.Fatal(err)
	}
	url := func(i int) string { return "https://img.example.com/policy/" + strconv.Itoa(i) + ".jpg" }
	if _, err := p.Enqueue(ctx, []string{url(0)}); err != nil {
		t.Fatalf("under noeviction: %v", err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	switched := time.Now()
	var ev *EvictionError
	accepted := 0
	for i := 1; ; i++ {
		_, err := p.Enqueue(ctx, []string{url(i)})
		if errors.As(err, &ev) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
		// Slack for a loaded machine over the period; the loop polls the producer itself.
		if time.Since(switched) > every+time.Second {
			t.Fatalf("still accepted %s after Redis was switched to allkeys-lru; the producer's period is %s", time.Since(switched), every)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(switched)
	if ev.Policy != "allkeys-lru" {
		t.Errorf("refused naming policy %q", ev.Policy)
	}
	_, err = p.EnqueueBulk(ctx, slices.Values([]string{url(-1)}))
	if !errors.As(err, &ev) {
		t.Errorf("a bulk request into an allkeys-lru Redis: %v, want an *EvictionError", err)
	}
	var internal *store.EvictionError
	if !errors.As(err, &internal) {
		t.Errorf("%v does not unwrap to the store's *EvictionError, which the worker's answers match", err)
	}
	t.Logf("refused %s after the switch to allkeys-lru (period %s); %d calls accepted before", took.Round(time.Millisecond), every, accepted)
}

// TestDeprecatedProducer: the previous release's Producer still enqueues, looks up and requests a
// flush-all, and still clamps instead of failing.
func TestDeprecatedProducer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	p := NewProducer(rdb, norm, WithMaxRetry(3), WithBatchSize(99))
	rep, err := p.EnqueueURLsFrom(ctx, "test", "https://img.example.com/old/a.jpg", "https://img.example.com/old/a.jpg")
	if err != nil || rep.Enqueued != 1 || rep.Duplicates != 1 {
		t.Fatalf("EnqueueURLsFrom: %+v, %v", rep, err)
	}
	h, err := p.Lookup(ctx, "https://img.example.com/old/a.jpg")
	if err != nil || h.PendingSince == nil {
		t.Errorf("Lookup: %+v, %v", h, err)
	}
	at, err := p.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.EnqueueBulk(ctx, "", at, []string{"https://img.example.com/old/b.jpg"})
	if err != nil || n != 1 {
		t.Errorf("EnqueueBulk: %d, %v", n, err)
	}
	if err := p.RequestFlushAll(ctx, "demo", "demo", time.Hour, "test", ""); err != nil {
		t.Errorf("RequestFlushAll: %v", err)
	}
	if _, out, _ := p.NewIngest().Add("not a url"); out != Rejected {
		t.Errorf("Ingest.Add of a bad input: %v", out)
	}
}
