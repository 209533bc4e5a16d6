package cipurge

import (
	"context"
	"encoding/json"
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
	faults.Fail(-1, testredis.Script([]string{"asynq:{" + tasks.QueueAll + "}:t:" + tasks.TaskIDAll, "asynq:{" + tasks.QueueAll + "}:pending"}))
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
