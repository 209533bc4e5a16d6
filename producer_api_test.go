package cipurge_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
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

// TestReplayFlushAllLosesNothing: a replay of a dead-lettered flush-all whose enqueue fails (Redis
// refuses the write) leaves the dead letter listed, in the product's record even once asynq's
// archived copy is gone, with its payload, and the new request's confirmation used up; replayed
// again once Redis takes writes, it becomes the one pending flush-all and the dead letter is gone.
func TestReplayFlushAllLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testredis.Start(t)
	c := r.Client()
	faults := testredis.AddFaults(c)
	p := cipurge.NewProducer(c, nil)
	insp := asynq.NewInspectorFromRedisClient(c)
	st := store.New(c)

	// A flush-all dead-lettered by an earlier version: only asynq's archive has it.
	must(t, p.RequestFlushAll(ctx, "demo", "demo", time.Hour, "test", "the first"))
	must(t, insp.ArchiveTask(tasks.QueueAll, tasks.TaskIDAll))
	old, err := insp.GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll)
	must(t, err)
	confirmations := func() int {
		m, err := c.HGetAll(ctx, store.KeyAll).Result()
		must(t, err)
		n := 0
		for f := range m {
			if strings.HasPrefix(f, store.FieldAllConfirmed) {
				n++
			}
		}
		return n
	}
	before := confirmations()

	// The enqueue of the new request fails: asynq's enqueue script writes the task and the pending list.
	faults.Fail(-1, testredis.Script([]string{taskq.TaskKey(tasks.QueueAll, tasks.TaskIDAll), taskq.PendingKey(tasks.QueueAll)}))
	err = p.ReplayFlushAll(ctx, "demo", "demo", time.Hour, "test", "replay", tasks.TaskIDAll)
	var fr *cipurge.FlushRefusedError
	if err == nil || errors.As(err, &fr) || faults.Failed() == 0 {
		t.Fatalf("replay with the enqueue refused: %v (%d injected failures), want Redis's error", err, faults.Failed())
	}
	rec, ok, err := st.DeadLetterByID(ctx, tasks.TaskIDAll)
	if err != nil || !ok || string(rec.Payload) != string(old.Payload) || rec.Queue != tasks.QueueAll {
		t.Fatalf("after the failed replay the dead letter is not kept: %+v (found %v, %v)", rec, ok, err)
	}
	if n := confirmations(); n != before {
		t.Errorf("%d confirmations after the failed replay, want %d: the new request's is not used up", n, before)
	}
	if ti, err := insp.GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll); err == nil && ti.State != asynq.TaskStateArchived {
		t.Errorf("a flush-all task is %s after the failed replay", ti.State)
	}

	// Redis takes writes again: the replay, from the record, enqueues one fresh request.
	faults.Clear()
	must(t, p.ReplayFlushAll(ctx, "demo", "demo", time.Hour, "test", "replay", tasks.TaskIDAll))
	ti, err := insp.GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll)
	if err != nil || ti.State != asynq.TaskStatePending {
		t.Fatalf("after the replay: %v %v, want the flush-all pending", ti, err)
	}
	var a tasks.All
	must(t, json.Unmarshal(ti.Payload, &a))
	if a.Reason != "replay" || a.Confirm != "demo" {
		t.Errorf("the replayed request: %+v", a)
	}
	if _, ok, err := st.DeadLetterByID(ctx, tasks.TaskIDAll); err != nil || ok {
		t.Errorf("the replayed dead letter is still kept (%v, %v)", ok, err)
	}
	if n := confirmations(); n != before+1 {
		t.Errorf("%d confirmations, want %d (the replay's own)", n, before+1)
	}
}
