package worker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// allAPI accepts every flush-all (201 with a uuid) and counts the calls.
type allAPI struct {
	nopAPI
	calls atomic.Int64
}

func (a *allAPI) InvalidateAll(context.Context) (*apiclient.Invalidation, error) {
	a.calls.Add(1)
	return &apiclient.Invalidation{StatusCode: 201, UUID: "all-uuid-1"}, nil
}

// allWorker is a worker (token demo) on a private Redis whose client fails the commands the test
// chooses, with an API that accepts every flush-all.
func allWorker(t *testing.T, cfg Config) (*Worker, redis.UniversalClient, *testredis.Faults, *allAPI) {
	t.Helper()
	rdb := testredis.Start(t).Client()
	faults := testredis.AddFaults(rdb)
	api := &allAPI{}
	cfg.Token, cfg.Limit = "demo", store.Limit{}
	return mustNew(t, cfg, rdb, api, zaptest.NewLogger(t), nil), rdb, faults, api
}

// requestAll confirms a flush-all in w's store, as the Producer does, and returns its task and
// request time (ms), at least a millisecond after any earlier one.
func requestAll(t *testing.T, w *Worker) (*asynq.Task, int64) {
	t.Helper()
	time.Sleep(2 * time.Millisecond)
	task := confirmedAll(t, w)
	p, err := tasks.DecodeAll(task.Payload())
	if err != nil {
		t.Fatal(err)
	}
	return task, p.RequestedAt.UnixMilli()
}

// confirmation reports whether the flush-all requested at reqMS still has its confirmation.
func confirmation(t *testing.T, rdb redis.UniversalClient, reqMS int64) bool {
	t.Helper()
	ok, err := rdb.HExists(context.Background(), store.KeyAll, store.FieldAllConfirmed+strconv.FormatInt(reqMS, 10)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// allSentScript matches the run of the script that records an accepted flush-all (store.AllSent).
var allSentScript = testredis.Script([]string{store.KeyAll, store.KeyPending})

// allEndScript matches the runs of the script that records how a flush-all attempt or task ends
// (outcome "refused", "unknown" or "done": store.AllRefused, AllUnknown, AllDone).
func allEndScript(outcome string) func([]any) bool {
	return testredis.Script([]string{store.KeyAll}, outcome)
}

// TestFlushAllRecordsAreRetried: the records of an accepted flush-all and of a task that ends are
// written again when Redis refuses a first write: the send is recorded (its uuid, the cooldown from
// it) and a refused request's confirmation is used up.
func TestFlushAllRecordsAreRetried(t *testing.T) {
	t.Parallel()
	w, rdb, faults, api := allWorker(t, Config{})
	ctx := context.Background()
	task, reqMS := requestAll(t, w)
	faults.Fail(recordTries-1, allSentScript)
	if err := w.handleAll(ctx, task); err != nil {
		t.Fatalf("handler: %v", err)
	}
	st, err := w.store.AllState(ctx)
	if err != nil || st.SentAt == 0 || st.UUID != "all-uuid-1" || st.InFlightAt != 0 || confirmation(t, rdb, reqMS) || faults.Failed() != recordTries-1 {
		t.Fatalf("after %d refused writes: %+v (%v), confirmation left %v: the accepted flush-all was not recorded",
			faults.Failed(), st, err, confirmation(t, rdb, reqMS))
	}

	// The next request, within the cooldown, is refused; Redis refuses the first writes that use
	// up its confirmation.
	next, nextMS := requestAll(t, w)
	faults.Fail(recordTries-1, allEndScript("done"))
	var dl *deadLetter
	if err := w.handleAll(ctx, next); !errors.As(err, &dl) || !strings.Contains(dl.msg, "PURGE_ALL_COOLDOWN") {
		t.Fatalf("a flush-all within the cooldown: %v, want it dead-lettered", err)
	}
	if confirmation(t, rdb, nextMS) {
		t.Error("the refused request's confirmation is still there: a run from the dead-letter queue would send it")
	}
	if n := api.calls.Load(); n != 1 {
		t.Errorf("%d flush-all calls, want 1", n)
	}
}

// TestFlushAllUnrecordedSendCoolsDown: when the record of an accepted flush-all cannot be
// written at all, the in-flight record of its attempt is enough: the cooldown counts from it, so
// neither the worker (a request already queued) nor the Producer (a new request) sends another.
func TestFlushAllUnrecordedSendCoolsDown(t *testing.T) {
	t.Parallel()
	w, rdb, faults, api := allWorker(t, Config{})
	ctx := context.Background()
	task, _ := requestAll(t, w)
	faults.Fail(-1, allSentScript)
	if err := w.handleAll(ctx, task); err != nil {
		t.Fatalf("handler: %v (the API accepted it: the task must complete)", err)
	}
	faults.Clear()
	st, err := w.store.AllState(ctx)
	if err != nil || st.SentAt != 0 || st.InFlightAt == 0 {
		t.Fatalf("flush-all state %+v (%v): want no send recorded and the attempt in flight", st, err)
	}
	next, _ := requestAll(t, w)
	var dl *deadLetter
	if err := w.handleAll(ctx, next); !errors.As(err, &dl) || !strings.Contains(dl.msg, "PURGE_ALL_COOLDOWN") || !strings.Contains(dl.msg, "not recorded") {
		t.Errorf("a flush-all right after an unrecorded one: %v, want it refused by the cooldown of the attempt", err)
	}
	err = cipurge.NewProducer(rdb, nil).RequestFlushAll(ctx, "demo", "demo", w.cfg.AllCooldown, "test", "")
	if !errors.Is(err, cipurge.ErrFlushAllCoolingDown) {
		t.Errorf("a new request right after an unrecorded flush-all: %v, want ErrFlushAllCoolingDown", err)
	}
	if n := api.calls.Load(); n != 1 {
		t.Errorf("%d flush-all calls, want 1", n)
	}
}
