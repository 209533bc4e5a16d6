package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestDeadLetterSweepInTheWorker: a worker was SIGKILLed during a status check's last attempt.
// The next worker's asynq recoverer archives the check without the error handler; the worker's
// own reconciliation records it as a dead letter (counted), marks its URLs unconfirmed, and once
// an operator deletes it in asynq, forgets it.
func TestDeadLetterSweepInTheWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client()
	m := NewMetrics(nil)
	w := mustNew(t, Config{DeadLetterSweep: 100 * time.Millisecond, HistoryTTL: time.Hour}, rdb, &nopAPI{}, zaptest.NewLogger(t), m)
	urls := []string{"https://img.example.com/killed/a.jpg"}
	sent := time.Now().Add(-time.Minute)
	const uuid = "9f2a-killed-worker"
	if err := w.store.Sent(ctx, urls, sent.Add(-time.Second).UnixMilli(), sent.UnixMilli(), uuid, time.Hour); err != nil {
		t.Fatal(err)
	}
	task, err := taskq.NewConfirmTask(tasks.Confirm{UUID: uuid, URLs: urls, RequestedAt: sent.Add(-time.Second), SentAt: sent,
		Origin: tasks.OriginInteractive}, tasks.QueueConfirm, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.EnqueueContext(ctx, task, asynq.MaxRetry(0)); err != nil { // its last attempt
		t.Fatal(err)
	}
	id := testkit.DequeueAsDeadWorker(t, rdb, tasks.QueueConfirm, 2*time.Minute)

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()
	testkit.WaitFor(t, 15*time.Second, "the recovered status check recorded as a dead letter", func() bool {
		_, ok, _ := w.store.DeadLetterByID(ctx, id)
		return ok
	})
	d, _, _ := w.store.DeadLetterByID(ctx, id)
	if !strings.Contains(d.Reason, "lease expired") || d.Type != tasks.TypeConfirm || len(d.URLs) != 1 {
		t.Errorf("record %+v: want the status check, its URL and asynq's reason", d)
	}
	if rec, _, _ := w.store.History(ctx, urls[0]); rec.State != store.StateUnconfirmed {
		t.Errorf("history %s, want unconfirmed", rec.State)
	}
	if n := testutil.ToFloat64(m.DeadLettered.WithLabelValues("archived_by_asynq")); n != 1 {
		t.Errorf("cipurge_dead_lettered_total{reason=archived_by_asynq} = %g, want 1", n)
	}

	if err := asynq.NewInspectorFromRedisClient(rdb).DeleteTask(tasks.QueueConfirm, id); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 15*time.Second, "the deleted dead letter forgotten (after the grace period)", func() bool {
		n, err := w.store.DeadLetterCount(ctx)
		return err == nil && n == 0
	})
}
