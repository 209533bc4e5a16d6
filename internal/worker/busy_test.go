package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestBacklogIsWorkWaitingToBeSent: the rate monitor's backlog is work the fleet could send but
// has not yet: URLs held past their batching wait, request tasks waiting for a slot. URLs in their
// window (a trickle) and the work of a paused queue are none, so that the achieved rate is taken
// for what the fleet can send only when it had more than it sent.
func TestBacklogIsWorkWaitingToBeSent(t *testing.T) {
	rdb := testredis.Start(t).Client()
	ctx := context.Background()
	w := mustNew(t, Config{Window: 500 * time.Millisecond, MaxDelay: 5 * time.Second}, rdb, &slowAPI{}, zaptest.NewLogger(t), nil)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	step := func(name string, backlog, bulk, paused bool) {
		t.Helper()
		s, err := w.sample(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.backlog != backlog || s.bulk != bulk || s.paused != paused {
			t.Errorf("%s: backlog=%v bulk=%v paused=%v; want %v %v %v", name, s.backlog, s.bulk, s.paused, backlog, bulk, paused)
		}
	}
	step("nothing queued", false, false, false)
	if _, err := w.store.AddPending(ctx, "", []string{"https://img.example.com/fresh.jpg"}); err != nil {
		t.Fatal(err)
	}
	step("a URL in its window", false, false, false)
	now, err := w.store.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, store.KeyPending, redis.Z{Score: float64(now - 10_000), Member: "https://img.example.com/held.jpg"}).Err(); err != nil {
		t.Fatal(err)
	}
	step("a URL held 10 s, past PURGE_MAX_DELAY", true, false, false)
	if err := insp.PauseQueue(tasks.QueueInteractive); err != nil {
		t.Fatal(err)
	}
	step("the same with the purge queue paused (the batcher's tasks go there)", false, false, false)
	if _, err := w.client.Enqueue(asynq.NewTask(tasks.TypeURLs, []byte(`{}`)), asynq.Queue(tasks.QueueBulk)); err != nil {
		t.Fatal(err)
	}
	step("a bulk task waiting for a slot", true, true, false)
	if err := insp.PauseQueue(tasks.QueueBulk); err != nil {
		t.Fatal(err)
	}
	step("the bulk queue paused too", false, false, false)
	if err := insp.UnpauseQueue(tasks.QueueBulk); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Pause(ctx, "Cloudimage answered 429", time.Minute); err != nil {
		t.Fatal(err)
	}
	step("the shared pause", true, true, true)
	if err := rdb.Del(ctx, store.KeyPause).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, store.KeyPending, taskq.PendingKey(tasks.QueueBulk)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := insp.UnpauseQueue(tasks.QueueInteractive); err != nil {
		t.Fatal(err)
	}
	step("nothing left", false, false, false)
	// A request task the shared rate limit snoozed waits in asynq's retry set.
	if err := rdb.ZAdd(ctx, taskq.RetryKey(tasks.QueueInteractive), redis.Z{Score: float64(time.Now().Add(time.Second).Unix()), Member: "urls_x"}).Err(); err != nil {
		t.Fatal(err)
	}
	step("a request task snoozed by the rate limit", true, false, false)
}

// TestBusyClock: busy since the first of an unbroken run of samples with work waiting and no
// shared pause; anything else starts it again.
func TestBusyClock(t *testing.T) {
	var b busyClock
	for i, c := range []struct {
		s    rateSample
		err  error
		want int64
	}{
		{rateSample{at: 1000, backlog: true}, nil, 1000},
		{rateSample{at: 2000, backlog: true}, nil, 1000},
		{rateSample{at: 3000}, nil, 0},
		{rateSample{at: 4000, backlog: true}, nil, 4000},
		{rateSample{at: 5000, backlog: true, paused: true}, nil, 0},
		{rateSample{at: 6000, backlog: true}, nil, 6000},
		{rateSample{}, errors.New("redis down"), 0},
	} {
		b.note(c.s, c.err)
		if got := b.since.Load(); got != c.want {
			t.Errorf("sample %d (%+v, %v): busy since %d, want %d", i, c.s, c.err, got, c.want)
		}
	}
}
