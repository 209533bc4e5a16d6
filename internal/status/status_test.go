package status_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// start returns a private Redis with asynq's client and inspector on it.
func start(t *testing.T) (*redis.Client, *asynq.Client, *asynq.Inspector) {
	t.Helper()
	rdb := testredis.Start(t).Client()
	return rdb, asynq.NewClientFromRedisClient(rdb), asynq.NewInspectorFromRedisClient(rdb)
}

// readBoth takes the status's reading (Read) and the metrics' (ReadCounts) of every queue.
func readBoth(t *testing.T, rd *status.Reader) (*status.Snapshot, *status.Counts) {
	t.Helper()
	snap, err := rd.Read(context.Background(), status.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counts, err := rd.ReadCounts(context.Background(), tasks.QueueNames())
	if err != nil {
		t.Fatal(err)
	}
	return snap, counts
}

// enqueue puts a task of type typ with task ID id on queue q, as asynq's client does.
func enqueue(t *testing.T, cl *asynq.Client, typ, q, id string, opts ...asynq.Option) {
	t.Helper()
	if _, err := cl.Enqueue(asynq.NewTask(typ, []byte(`{}`)), append(opts, asynq.Queue(q), asynq.TaskID(id))...); err != nil {
		t.Fatal(err)
	}
}

// TestCountsAgreeWithSnapshot: the metrics collector's reading (ReadCounts) and `enqueue status`'s
// (Read) tell the same story about the queues and the window.
func TestCountsAgreeWithSnapshot(t *testing.T) {
	t.Parallel()
	rdb, cl, insp := start(t)
	ctx := context.Background()
	for i := range 3 {
		enqueue(t, cl, tasks.TypeURLs, tasks.QueueInteractive, string(rune('a'+i)))
	}
	// Status checks: one due, one scheduled, one archived (no longer waiting).
	for i, opts := range [][]asynq.Option{{}, {asynq.ProcessIn(time.Hour)}, {}} {
		enqueue(t, cl, tasks.TypeConfirm, tasks.QueueConfirm, string(rune('x'+i)), opts...)
	}
	if err := insp.ArchiveTask(tasks.QueueConfirm, "z"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.New(rdb).AddPending(ctx, "", []string{"https://x.example/a.jpg", "https://x.example/b.jpg"}); err != nil {
		t.Fatal(err)
	}
	rd := status.NewReader(rdb)
	snap, counts := readBoth(t, rd)
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
	// The worker bounds the status checks waiting by the count the status reports.
	if waiting, err := rd.ConfirmBacklog(ctx); err != nil || waiting != 2 || snap.ConfirmBacklog != 2 {
		t.Errorf("status checks waiting: %d (%v) for the worker, %d in the status; want 2", waiting, err, snap.ConfirmBacklog)
	}
	if counts.Pause.Left != 0 || snap.Paused != "" {
		t.Errorf("pause: counts %s, snapshot %q; want none", counts.Pause.Left, snap.Paused)
	}
}

// TestReadsQueuesAsynqDoesNotList: after Redis lost its data, asynq's client does not register its
// queues again (it does once per process), so asynq no longer lists a queue that holds tasks; a
// queue paused by an operator need not be listed either. The status and the metrics read every
// product queue all the same.
func TestReadsQueuesAsynqDoesNotList(t *testing.T) {
	t.Parallel()
	rdb, cl, insp := start(t)
	ctx := context.Background()
	enqueue(t, cl, tasks.TypeURLs, tasks.QueueInteractive, "before")
	if err := rdb.FlushAll(ctx).Err(); err != nil { // as a restart without persistence does
		t.Fatal(err)
	}
	enqueue(t, cl, tasks.TypeURLs, tasks.QueueInteractive, "after")
	if listed, _ := rdb.SIsMember(ctx, taskq.AsynqQueues, tasks.QueueInteractive).Result(); listed {
		t.Fatalf("asynq registered %s again after the data loss: this test no longer shows the case", tasks.QueueInteractive)
	}
	if err := insp.PauseQueue(tasks.QueueBulk); err != nil { // asynq queue pause bulk
		t.Fatal(err)
	}

	rd := status.NewReader(rdb)
	snap, counts := readBoth(t, rd)
	for i, q := range snap.Queues {
		c := counts.Queues[i]
		switch q.Queue {
		case tasks.QueueInteractive:
			if q.Pending != 1 || c.Pending != 1 {
				t.Errorf("%s: status says %d pending, the metrics %d; want the 1 task in %s", q.Queue, q.Pending, c.Pending, taskq.PendingKey(q.Queue))
			}
			if c.Latency <= 0 || c.Latency > time.Minute {
				t.Errorf("%s: latency %s, want the age of its task", q.Queue, c.Latency)
			}
		case tasks.QueueBulk:
			if !q.Paused || !c.Paused {
				t.Errorf("%s: paused in status %v, in the metrics %v; want both", q.Queue, q.Paused, c.Paused)
			}
		}
	}
	if len(snap.PausedQueues) != 1 || snap.PausedQueues[0] != tasks.QueueBulk {
		t.Errorf("paused queues %v, want [%s]", snap.PausedQueues, tasks.QueueBulk)
	}
	if snap.BacklogCalls != 1 {
		t.Errorf("backlog %d calls, want 1", snap.BacklogCalls)
	}
}

// TestDeadLettersOneNumber: the status and the metrics report one count of dead letters: the
// product's record, or asynq's archive when it holds more (archived without a record).
func TestDeadLettersOneNumber(t *testing.T) {
	t.Parallel()
	rdb, cl, insp := start(t)
	ctx := context.Background()
	for _, id := range []string{"a1", "a2"} {
		enqueue(t, cl, tasks.TypeURLs, tasks.QueueInteractive, id)
		if err := insp.ArchiveTask(tasks.QueueInteractive, id); err != nil {
			t.Fatal(err)
		}
	}
	rd := status.NewReader(rdb)
	check := func(when string, want int) {
		t.Helper()
		snap, counts := readBoth(t, rd)
		if snap.DeadLetters != want || counts.DeadLetters != int64(want) {
			t.Errorf("%s: the status says %d dead letters, the metrics %d; want %d", when, snap.DeadLetters, counts.DeadLetters, want)
		}
	}
	check("2 archived by asynq, no record", 2)
	st := store.New(rdb)
	for _, id := range []string{"a1", "a2", "trimmed"} { // the record keeps one asynq trimmed
		if err := st.KeepDeadLetter(ctx, store.DeadLetter{ID: id, Queue: tasks.QueueInteractive, Type: tasks.TypeURLs}); err != nil {
			t.Fatal(err)
		}
	}
	check("3 recorded, 2 of them still archived", 3)
}

// TestReadIsWholeOrAnError: a part of the reading that cannot be read fails the status and the
// metrics alike, with an error that names it; nothing is reported as if it were not there.
func TestReadIsWholeOrAnError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key, name string
		counts    bool // ReadCounts reads it too
	}{
		{store.KeyPause, "pause", true},
		{store.KeyDeadIndex, "dead letter", true},
		{store.KeyPending, "pending", true},
		{store.KeyStats, "totals", false},
		{store.KeyAll, "flush-all", false},
		{store.KeyWorkers, "workers", false},
	} {
		rdb := testredis.Start(t).Client()
		ctx := context.Background()
		// A value of the wrong type: every read of the key fails (WRONGTYPE).
		if err := rdb.Del(ctx, c.key).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.RPush(ctx, c.key, "not what it should be").Err(); err != nil {
			t.Fatal(err)
		}
		rd := status.NewReader(rdb)
		if _, err := rd.Read(ctx, status.Options{}); err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s unreadable: Read error %v, want one naming %q", c.key, err, c.name)
		}
		_, err := rd.ReadCounts(ctx, tasks.QueueNames())
		if c.counts && (err == nil || !strings.Contains(err.Error(), c.name)) {
			t.Errorf("%s unreadable: ReadCounts error %v, want one naming %q", c.key, err, c.name)
		}
		if !c.counts && err != nil {
			t.Errorf("%s unreadable: ReadCounts does not read it, yet failed: %v", c.key, err)
		}
	}
}

// TestPauseString: the words the status and readiness both use for the shared pause.
func TestPauseString(t *testing.T) {
	for _, c := range []struct {
		p    status.Pause
		want string
	}{
		{status.Pause{}, ""},
		{status.Pause{Reason: "Cloudimage answered 429", Left: -time.Second}, ""},
		{status.Pause{Reason: "Cloudimage answered 429", Left: 40600 * time.Millisecond}, "Cloudimage answered 429 (41s left)"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}

// TestDrainFromWhatTheWorkersPublish: the status takes the drain rate from the workers: their
// PURGE_RATE after a quiet minute (one call sent is demand, not capacity: 3,000 URLs took 25 s,
// not 3 h 20 min), the achieved rate once a worker saw work waiting all through the minute.
func TestDrainFromWhatTheWorkersPublish(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	ctx := context.Background()
	st := store.New(rdb)
	now, err := st.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One API call sent 10 s ago: 1/60 calls/s over the last minute.
	if err := rdb.Set(ctx, store.CallsSecondKey(now/1000-10), 1, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.PublishWorker(ctx, store.WorkerState{ID: "w1", Rate: 10, BatchSize: 15}); err != nil {
		t.Fatal(err)
	}
	urls := make([]string, 3000)
	for i := range urls {
		urls[i] = "https://img.example.com/quiet/" + strconv.Itoa(i) + ".jpg"
	}
	if _, err := st.AddPending(ctx, "", urls); err != nil {
		t.Fatal(err)
	}
	rd := status.NewReader(rdb)
	snap, err := rd.Read(ctx, status.Options{RateName: "PURGE_RATE"})
	if err != nil {
		t.Fatal(err)
	}
	if snap.BacklogCalls != 200 || snap.DrainRate != 10 || snap.DrainRateFrom != "configured" || snap.DrainSeconds != 20 || snap.BusyLastMinute {
		t.Errorf("after a quiet minute: %d calls, %gs at %g calls/s from %q (busy %v): %s; want 200 calls, 20s at 10 from the configured rate",
			snap.BacklogCalls, snap.DrainSeconds, snap.DrainRate, snap.DrainRateFrom, snap.BusyLastMinute, snap.DrainNote)
	}

	// The worker has seen work waiting for two minutes and the fleet sent 4 calls/s: its capacity.
	for sec := now/1000 - 65; sec <= now/1000+5; sec++ { // whichever second the reading falls in

		if err := rdb.Set(ctx, store.CallsSecondKey(sec), 4, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PublishWorker(ctx, store.WorkerState{ID: "w1", Rate: 10, BatchSize: 15, BusySince: now - 120_000}); err != nil {
		t.Fatal(err)
	}
	if snap, err = rd.Read(ctx, status.Options{RateName: "PURGE_RATE"}); err != nil {
		t.Fatal(err)
	}
	if snap.DrainRate != 4 || snap.DrainRateFrom != "achieved" || snap.DrainSeconds != 50 || !snap.BusyLastMinute ||
		!strings.Contains(snap.DrainNote, "below their PURGE_RATE=10") {
		t.Errorf("busy all minute: %gs at %g calls/s from %q (busy %v): %s; want 50s at 4 from the achieved rate",
			snap.DrainSeconds, snap.DrainRate, snap.DrainRateFrom, snap.BusyLastMinute, snap.DrainNote)
	}
}

// TestWebhookArchiveIsNoDeadLetter: the metrics read the webhooks queue too, and a delivery that
// finally failed shows in its archived count, not among the dead letters.
func TestWebhookArchiveIsNoDeadLetter(t *testing.T) {
	t.Parallel()
	rdb, cl, insp := start(t)
	enqueue(t, cl, webhook.TypeDeliver, webhook.Queue, "msg_1")
	enqueue(t, cl, tasks.TypeURLs, tasks.QueueInteractive, "dead")
	for q, id := range map[string]string{webhook.Queue: "msg_1", tasks.QueueInteractive: "dead"} {
		if err := insp.ArchiveTask(q, id); err != nil {
			t.Fatal(err)
		}
	}
	c, err := status.NewReader(rdb).ReadCounts(context.Background(), append(tasks.QueueNames(), webhook.Queue))
	if err != nil {
		t.Fatal(err)
	}
	archived := map[string]int{}
	for _, q := range c.Queues {
		archived[q.Queue] = q.Archived
	}
	if archived[webhook.Queue] != 1 || archived[tasks.QueueInteractive] != 1 || c.DeadLetters != 1 {
		t.Errorf("archived %v, dead letters %d: want 1 in each queue, 1 dead letter", archived, c.DeadLetters)
	}
}
