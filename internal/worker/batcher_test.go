package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestBatcherDrainsAnyBatchSize: with batch sizes that do not divide the claim, a round that found
// a whole claim says so and the batcher goes on at once; two workers drain everything, none twice.
func TestBatcherDrainsAnyBatchSize(t *testing.T) {
	for _, batch := range []int{7, 13} {
		t.Run(fmt.Sprint(batch), func(t *testing.T) {
			rdb := testredis.Start(t).Client()
			api := &slowAPI{}
			cfg := Config{Window: 100 * time.Millisecond, MaxDelay: 100 * time.Millisecond, BatchSize: batch, Limit: store.Limit{}}
			ws := []*Worker{mustNew(t, cfg, rdb, api, zaptest.NewLogger(t), nil), mustNew(t, cfg, rdb, api, zaptest.NewLogger(t), nil)}
			keys := testkit.ImageURLs(fmt.Sprintf("batch%d", batch), 4000)
			ctx := context.Background()
			if _, err := ws[0].Store().AddPending(ctx, "", keys); err != nil {
				t.Fatal(err)
			}
			time.Sleep(150 * time.Millisecond) // every entry waits out its window
			if ok, err := ws[0].store.Lease(ctx, store.KeyBatcher, ws[0].id, time.Minute); !ok || err != nil {
				t.Fatalf("lease: %v %v", ok, err)
			}
			more, err := ws[0].formBatches(ctx)
			if err != nil || !more {
				t.Fatalf("a round that claimed a whole claim of batch %d said more=%v (%v)", batch, more, err)
			}
			if err := ws[0].store.Release(ctx, store.KeyBatcher, ws[0].id); err != nil {
				t.Fatal(err)
			}
			_, stop := runWith(t, nil, ws...)
			waitAllSent(t, api, keys)
			stop()
			if _, _, twice := api.stats(); twice != 0 {
				t.Errorf("batch %d: %d URLs sent twice", batch, twice)
			}
		})
	}
}
