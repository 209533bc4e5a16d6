package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
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
			more, err := ws[0].formBatches(ctx, time.Now().Add(time.Minute))
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

// TestBatcherRoundCutByDeadline: a round whose deadline passes after some of its chunks were
// enqueued starts no chunk after it and removes from the pending set what it enqueued, so the next
// round, which chunks with another size (the latency it observes changed), puts no URL in a second
// task. (Before, the round failed with the entries still pending, and the next round formed the
// same URLs into tasks with other IDs: two tasks in flight for one URL.)
// It runs over 80 lines on purpose: one scenario: a round cut by its deadline, then the round after it.
func TestBatcherRoundCutByDeadline(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	cfg := Config{Window: 100 * time.Millisecond, MaxDelay: 100 * time.Millisecond, BatchSize: 15,
		Limit: store.Limit{Rate: 200, Burst: 5}, Concurrency: 10}
	w := mustNew(t, cfg, rdb, &nopAPI{}, zaptest.NewLogger(t), nil)
	ctx := context.Background()
	keys := testkit.ImageURLs("cut", maxClaim)
	if _, err := w.Store().AddPending(ctx, "", keys); err != nil {
		t.Fatal(err)
	}
	// The window runs on the Redis clock: nothing to wait on but the time.
	time.Sleep(150 * time.Millisecond)

	perBefore := requestsPerTask(w.cfg, w.latency.get()) * w.cfg.BatchSize
	round, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	deadline, _ := round.Deadline()
	enqueued, late := 0, 0
	w.enqueue = func(ctx context.Context, task *asynq.Task) (bool, error) {
		enqueued++
		if time.Now().After(deadline) {
			late++
		}
		ok, err := taskq.Enqueue(ctx, w.client, task)
		if enqueued == 2 {
			time.Sleep(time.Until(deadline) + 20*time.Millisecond) // the deadline passes while this chunk is written
		}
		return ok, err
	}
	more, err := w.formBatches(round, deadline.Add(time.Second))
	if err != nil {
		t.Errorf("the round cut by its deadline failed: %v", err)
	}
	if late != 0 {
		t.Errorf("%d chunks were begun after the round's deadline", late)
	}
	pending, _, perr := w.Store().PendingCount(ctx)
	if perr != nil {
		t.Fatal(perr)
	}
	if want := int64(len(keys) - 2*perBefore); pending != want {
		t.Errorf("after a round cut after 2 chunks of %d URLs: %d entries pending, want %d (more=%v)", perBefore, pending, want, more)
	}

	// The next rounds observe another latency, so they chunk with another size.
	w.latency.observe(10 * time.Millisecond)
	perAfter := requestsPerTask(w.cfg, w.latency.get()) * w.cfg.BatchSize
	if perAfter == perBefore {
		t.Fatalf("the case needs another chunk size after the cut: %d URLs both times", perAfter)
	}
	w.enqueue = func(ctx context.Context, task *asynq.Task) (bool, error) { return taskq.Enqueue(ctx, w.client, task) }
	for more := true; more; {
		if more, err = w.formBatches(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if pending, _, err := w.Store().PendingCount(ctx); err != nil || pending != 0 {
		t.Errorf("%d entries still pending (%v)", pending, err)
	}
	formed, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(tasks.QueueInteractive, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	inTasks := map[string]int{}
	for _, ti := range formed {
		p, err := tasks.DecodeURLs(ti.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.URLs {
			inTasks[u]++
		}
	}
	twice := 0
	for _, u := range keys {
		switch inTasks[u] {
		case 1:
		case 0:
			t.Errorf("%s is in no task", u)
		default:
			twice++
		}
	}
	t.Logf("%d URLs: %d tasks (chunks of %d, then %d URLs), %d URLs in two tasks", len(keys), len(formed), perBefore, perAfter, twice)
	if twice != 0 {
		t.Errorf("%d of %d URLs are in two tasks: the round cut by its deadline left enqueued entries pending", twice, len(keys))
	}
}
