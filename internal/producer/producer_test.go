package producer

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

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
	p := New(c, Settings{MaxRetry: defaults.MaxRetry, BatchSize: defaults.BatchSize, PolicyEvery: defaults.PolicyEvery})
	req := func(reason, deadLetter string) error {
		return p.RequestFlushAll(ctx, FlushAll{Token: "demo", Confirm: "demo", Cooldown: time.Hour, RequestedBy: "test", Reason: reason, DeadLetter: deadLetter})
	}
	insp := asynq.NewInspectorFromRedisClient(c)
	st := store.New(c)

	// A flush-all dead-lettered by an earlier version: only asynq's archive has it.
	must(t, req("the first", ""))
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
	err = req("replay", tasks.TaskIDAll)
	var fr *flushall.RefusedError
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
	must(t, req("replay", tasks.TaskIDAll))
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
