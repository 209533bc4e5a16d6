package worker

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
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

// statusAPI answers status checks with answers[uuid], or err when it has none.
type statusAPI struct {
	API
	answers map[string]string
	err     error
}

func (a statusAPI) Status(_ context.Context, uuid string) (*apiclient.InvalidationStatus, error) {
	if s, ok := a.answers[uuid]; ok {
		return &apiclient.InvalidationStatus{Status: s, UUID: uuid}, nil
	}
	return nil, a.err
}

// TestDueChecksRunInTheLoop: a check answered DONE ends in the check loop: its URL is confirmed
// and no confirm task is made. A check still running, and one whose answer failed, are handed to
// asynq as their confirm tasks: the running one due later, the failed one with one retry fewer.
func TestDueChecksRunInTheLoop(t *testing.T) {
	rdb := testredis.Start(t).Client()
	api := statusAPI{answers: map[string]string{"c0ffee-done": apiclient.StatusDone, "c0ffee-run": apiclient.StatusReceived},
		err: &apiclient.ServerError{Method: "GET", Path: "/invalidate", StatusCode: 500}}
	w := mustNew(t, Config{Confirm: true, Token: "demo", MaxRetry: 3}, rdb, api, zap.NewNop(), nil)
	w.cfg.ConfirmDelay = 0
	ctx := context.Background()
	now := time.Now()
	check := func(uuid string) tasks.Confirm {
		u := "https://img.example.com/checks/" + uuid + ".jpg"
		if err := w.store.Sent(ctx, []string{u}, now.UnixMilli()-10, now.UnixMilli(), uuid, time.Hour); err != nil {
			t.Fatal(err)
		}
		c := tasks.Confirm{UUID: uuid, URLs: []string{u}, RequestedAt: now.UTC(), SentAt: now.UTC()}
		w.followUp(ctx, c)
		return c
	}
	// The failed check goes last: its failure pauses every check (the outage backoff).
	done, run := check("c0ffee-done"), check("c0ffee-run")
	if err := w.runDueChecks(ctx); err != nil {
		t.Fatal(err)
	}
	fail := check("c0ffee-fail")
	if err := w.runDueChecks(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := w.store.ChecksWaiting(ctx); err != nil || n != 0 {
		t.Errorf("%d checks left (%v), want none", n, err)
	}
	if rec, _, err := w.store.History(ctx, done.URLs[0]); err != nil || rec.State != store.StateConfirmed {
		t.Errorf("the URL answered DONE: %+v, %v; want confirmed", rec, err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if ti, err := insp.GetTaskInfo(tasks.QueueConfirm, tasks.ConfirmTaskID(done.UUID)); err == nil {
		t.Errorf("a check confirmed in the loop has a task: %+v", ti)
	}
	if ti, err := insp.GetTaskInfo(tasks.QueueConfirm, tasks.ConfirmTaskID(run.UUID)); err != nil || ti.State != asynq.TaskStateScheduled || ti.MaxRetry != taskq.AsynqMaxRetry(3) {
		t.Errorf("the running check's task: %+v, %v; want it scheduled with every retry", ti, err)
	}
	if ti, err := insp.GetTaskInfo(tasks.QueueConfirm, tasks.ConfirmTaskID(fail.UUID)); err != nil || ti.MaxRetry != taskq.AsynqMaxRetry(2) {
		t.Errorf("the failed check's task: %+v, %v; want one retry fewer", ti, err)
	}
	if rec, _, _ := w.store.History(ctx, run.URLs[0]); rec.State != store.StateSent {
		t.Errorf("the running check's URL: %+v, want still sent", rec)
	}
}
