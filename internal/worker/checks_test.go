package worker

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestCheckRecordBecomesItsTask: an accepted call's status check is one record until due (the
// same check recorded again is the same record); the check loop turns it into its confirm task
// and removes it. A record that comes back (a taker died after the enqueue) is handed again as
// the same task, and removed.
func TestCheckRecordBecomesItsTask(t *testing.T) {
	rdb := testredis.Start(t).Client()
	w := mustNew(t, Config{Confirm: true, Token: "demo", ConfirmDelay: time.Hour}, rdb, nil, zap.NewNop(), nil)
	ctx := context.Background()
	c := tasks.Confirm{UUID: "c0ffee-1", URLs: []string{"https://img.example.com/checks/a.jpg"}, RequestedAt: time.Now().UTC()}
	w.followUp(ctx, c)
	if n, err := w.store.ChecksWaiting(ctx); err != nil || n != 1 {
		t.Fatalf("%d checks recorded (%v), want 1", n, err)
	}
	if err := w.handChecks(ctx); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if _, err := insp.GetTaskInfo(tasks.QueueConfirm, tasks.ConfirmTaskID(c.UUID)); err == nil {
		t.Fatal("a check due in an hour was handed to asynq now")
	}
	w.cfg.ConfirmDelay = 0
	w.followUp(ctx, c) // the same check, due now: one record, due now
	for range 2 {
		if err := w.handChecks(ctx); err != nil {
			t.Fatal(err)
		}
		ti, err := insp.GetTaskInfo(tasks.QueueConfirm, tasks.ConfirmTaskID(c.UUID))
		if err != nil || ti.Type != tasks.TypeConfirm {
			t.Fatalf("the check's task: %+v, %v", ti, err)
		}
		if got, err := tasks.DecodeConfirm(ti.Payload); err != nil || got.UUID != c.UUID || len(got.URLs) != 1 {
			t.Errorf("the task's payload %+v (%v), want the check's", got, err)
		}
		if n, err := w.store.ChecksWaiting(ctx); err != nil || n != 0 {
			t.Errorf("%d checks recorded (%v), want none", n, err)
		}
		w.followUp(ctx, c) // as if a taker had died between the enqueue and the removal
	}
	if n, err := w.status.ConfirmBacklog(ctx); err != nil || n != 2 {
		t.Errorf("confirm backlog %d (%v), want 2: the task and the record", n, err)
	}
}

// TestChecksWaitForFlatOutSending: the check loop hands no check while this worker sends flat
// out, up to confirmYieldMax; then it does. Not sending flat out, it hands them at once.
func TestChecksWaitForFlatOutSending(t *testing.T) {
	var since time.Time
	t0 := time.Unix(1000, 0)
	if holdChecks(&since, false, t0) {
		t.Error("held while not sending flat out")
	}
	if !holdChecks(&since, true, t0) || !holdChecks(&since, true, t0.Add(confirmYieldMax-time.Millisecond)) {
		t.Error("not held while sending flat out")
	}
	if holdChecks(&since, true, t0.Add(confirmYieldMax)) {
		t.Errorf("held longer than %s", confirmYieldMax)
	}
	if holdChecks(&since, false, t0.Add(confirmYieldMax+time.Second)) || !holdChecks(&since, true, t0.Add(2*confirmYieldMax)) {
		t.Error("a new stretch of flat-out sending does not count from its own start")
	}
}
