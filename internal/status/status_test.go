package status_test

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestCountsAgreeWithSnapshot: the metrics collector's reading (ReadCounts) and `enqueue status`'s
// (Read) tell the same story about the queues and the window.
func TestCountsAgreeWithSnapshot(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	ctx := context.Background()
	cl := asynq.NewClientFromRedisClient(r.Client())
	for i := range 3 {
		if _, err := cl.Enqueue(asynq.NewTask(tasks.TypeURLs, []byte(`{}`)), asynq.Queue(tasks.QueueInteractive), asynq.TaskID(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.New(r.Client()).AddPending(ctx, "", []string{"https://x.example/a.jpg", "https://x.example/b.jpg"}); err != nil {
		t.Fatal(err)
	}
	rd := status.NewReader(r.Client())
	snap, err := rd.Read(ctx, status.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counts, err := rd.ReadCounts(ctx, tasks.QueueNames())
	if err != nil {
		t.Fatal(err)
	}
	if len(counts.Queues) != len(snap.Queues) {
		t.Fatalf("%d queues counted, %d in the snapshot", len(counts.Queues), len(snap.Queues))
	}
	for i, q := range snap.Queues {
		c := counts.Queues[i]
		if c.Queue != q.Queue || c.Pending != q.Pending || c.Active != q.Active || c.Scheduled != q.Scheduled || c.Retry != q.Retry ||
			c.Archived != q.Archived || c.Paused != q.Paused {
			t.Errorf("queue %s: counts %+v, snapshot %+v", q.Queue, c, q)
		}
		if q.Queue == tasks.QueueInteractive && q.Pending != 3 {
			t.Errorf("queue %s: %d pending, want the 3 enqueued", q.Queue, q.Pending)
		}
	}
	if counts.WaitingURLs != 2 || snap.WaitingURLs != 2 {
		t.Errorf("URLs in the window: counts %d, snapshot %d; want 2", counts.WaitingURLs, snap.WaitingURLs)
	}
	if counts.PauseLeft != 0 || snap.Paused != "" {
		t.Errorf("pause: counts %s, snapshot %q; want none", counts.PauseLeft, snap.Paused)
	}
}
