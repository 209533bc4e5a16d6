package cipurge

import (
	"context"
	"errors"
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
	p := NewProducer(rdb, norm, WithPolicyEvery(every), WithRedisNotes(func(string) {}))
	url := func(i int) string { return "https://img.example.com/policy/" + strconv.Itoa(i) + ".jpg" }
	if _, err := p.EnqueueURLs(ctx, url(0)); err != nil {
		t.Fatalf("under noeviction: %v", err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	switched := time.Now()
	var ev *store.EvictionError
	accepted := 0
	for i := 1; ; i++ {
		_, err := p.EnqueueURLs(ctx, url(i))
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
	if _, err := p.EnqueueBulk(ctx, "", time.Now(), []string{url(-1)}); !errors.As(err, &ev) {
		t.Errorf("a bulk request into an allkeys-lru Redis: %v, want an *store.EvictionError", err)
	}
	t.Logf("refused %s after the switch to allkeys-lru (period %s); %d calls accepted before", took.Round(time.Millisecond), every, accepted)
}
