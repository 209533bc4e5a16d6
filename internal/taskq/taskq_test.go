package taskq

import (
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

func benchPayload() tasks.URLs {
	keys := make([]string, tasks.MaxURLsPerTask)
	for i := range keys {
		keys[i] = "https://img.example.com/catalog/2026/11/product-" + strconv.Itoa(100000+i) + "-front.jpg"
	}
	return tasks.URLs{URLs: keys, RequestedAt: time.UnixMilli(1_790_000_000_123).UTC(), Origin: tasks.OriginInteractive}
}

// BenchmarkNewURLsTask is the producer's and the batcher's cost per request task: validate,
// encode the JSON payload, derive the task ID.
func BenchmarkNewURLsTask(b *testing.B) {
	p := benchPayload()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewURLsTask(p, tasks.QueueBulk, 10); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTasksCarryTheContract: each task has the contract's type, ID and queue, and asynq's retry
// limit one above PURGE_MAX_RETRY.
func TestTasksCarryTheContract(t *testing.T) {
	p := benchPayload()
	u, err := NewURLsTask(p, tasks.QueueBulk, 3)
	if err != nil {
		t.Fatal(err)
	}
	if u.Type() != tasks.TypeURLs {
		t.Errorf("type %q", u.Type())
	}
	if got, err := tasks.DecodeURLs(u.Payload()); err != nil || got.URLs[0] != p.URLs[0] {
		t.Errorf("payload %+v, %v", got, err)
	}
	if _, err := NewAllTask(tasks.All{RequestedAt: time.Now()}, tasks.QueueAll); err == nil {
		t.Error("a flush-all task without confirmation was built")
	}
	c, err := NewConfirmTask(tasks.Confirm{UUID: "a-b-c"}, tasks.QueueConfirm, time.Second, 3)
	if err != nil || c.Type() != tasks.TypeConfirm {
		t.Fatalf("confirm task %v, %v", c, err)
	}
	if AsynqMaxRetry(3) != 4 {
		t.Errorf("AsynqMaxRetry(3) = %d, want 4", AsynqMaxRetry(3))
	}
}

// TestRebuildDeadLetterAsItsType: a dead letter enqueued again from the product's record gets its
// type's own queue, retries and timeout (a status check's 2 minutes, a request's 5), not one
// setting for all; a payload that does not decode is refused.
func TestRebuildDeadLetterAsItsType(t *testing.T) {
	p := benchPayload()
	u, err := NewURLsTask(p, tasks.QueueBulk, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConfirmTask(tasks.Confirm{UUID: "a-b-c", URLs: p.URLs[:2], SentAt: time.Now()}, tasks.QueueConfirm, time.Minute, 3)
	if err != nil {
		t.Fatal(err)
	}
	rdb := testredis.Start(t).Client()
	client := asynq.NewClientFromRedisClient(rdb)
	for _, want := range []struct {
		task    *asynq.Task
		queue   string
		timeout time.Duration
	}{{u, tasks.QueueBulk, requestTimeout}, {c, tasks.QueueConfirm, confirmTimeout}} {
		got, err := Rebuild(want.task.Type(), want.task.Payload(), want.queue, 3)
		if err != nil {
			t.Fatalf("%s: %v", want.task.Type(), err)
		}
		info, err := client.Enqueue(got, asynq.TaskID("dead-"+want.task.Type()))
		if err != nil {
			t.Fatal(err)
		}
		if info.Queue != want.queue || info.Timeout != want.timeout || info.MaxRetry != AsynqMaxRetry(3) || info.State != asynq.TaskStatePending {
			t.Errorf("%s rebuilt: queue %s, timeout %s, max retry %d, %s; want %s, %s, %d, pending (due at once)",
				want.task.Type(), info.Queue, info.Timeout, info.MaxRetry, info.State, want.queue, want.timeout, AsynqMaxRetry(3))
		}
	}
	for _, bad := range []struct{ typ, payload string }{
		{tasks.TypeURLs, "not json"}, {tasks.TypeConfirm, `[1]`}, {tasks.TypeAll, `{}`}, {"other", `{}`},
	} {
		if _, err := Rebuild(bad.typ, []byte(bad.payload), tasks.QueueInteractive, 3); err == nil {
			t.Errorf("Rebuild(%s, %s) built a task", bad.typ, bad.payload)
		}
	}
}
