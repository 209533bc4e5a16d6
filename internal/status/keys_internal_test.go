package status

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/testredis"
)

// TestQueueKeysAgreeWithInspector: a queue read from asynq's keys (as one asynq does not list is
// read) says what asynq's Inspector says of it, memory and daily counts aside.
func TestQueueKeysAgreeWithInspector(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	const q = "keys-agree"
	cl := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for i, opts := range [][]asynq.Option{{}, {}, {asynq.ProcessIn(time.Hour)}, {}} {
		if _, err := cl.Enqueue(asynq.NewTask("any", nil), append(opts, asynq.Queue(q), asynq.TaskID(string(rune('a'+i))))...); err != nil {
			t.Fatal(err)
		}
	}
	if err := insp.ArchiveTask(q, "d"); err != nil {
		t.Fatal(err)
	}
	if err := insp.PauseQueue(q); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // a latency that shows
	want, err := insp.GetQueueInfo(q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewReader(rdb).readQueueKeys(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pending != 2 || got.Pending != want.Pending || got.Active != want.Active || got.Scheduled != want.Scheduled || got.Retry != want.Retry ||
		got.Archived != want.Archived || got.Completed != want.Completed || got.Paused != want.Paused || got.Size != want.Size ||
		got.ProcessedTotal != want.ProcessedTotal || got.FailedTotal != want.FailedTotal {
		t.Errorf("read from the keys %+v\nasynq's Inspector   %+v", got, want)
	}
	if d := got.Latency - want.Latency; got.Latency < 20*time.Millisecond || d < -time.Second || d > time.Second {
		t.Errorf("latency %s from the keys, %s from the Inspector", got.Latency, want.Latency)
	}
}
