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

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
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
	w, rdb, faults, api := allWorker(t, Config{AllCooldown: time.Hour})
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
	faults.Fail(recordTries-1, allEndScript(store.AllEndDone))
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
	w, rdb, faults, api := allWorker(t, Config{AllCooldown: time.Hour})
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
	err = requestFlushAll(ctx, rdb, w.cfg.AllCooldown)
	if !errors.Is(err, flushall.ErrCoolingDown) {
		t.Errorf("a new request right after an unrecorded flush-all: %v, want ErrFlushAllCoolingDown", err)
	}
	if n := api.calls.Load(); n != 1 {
		t.Errorf("%d flush-all calls, want 1", n)
	}
}

// TestFlushAllMaxRetryIsTheWorkers: asynq's own retry limit of a flush-all task never decides
// (the worker's PURGE_MAX_RETRY, 0 to 100, always runs out first).
func TestFlushAllMaxRetryIsTheWorkers(t *testing.T) {
	if taskq.FlushAllMaxRetry <= 101 {
		t.Errorf("FlushAllMaxRetry = %d: asynq would archive a flush-all (with its confirmation) before the worker's PURGE_MAX_RETRY of up to 100 ran out",
			taskq.FlushAllMaxRetry)
	}
}

// runWorker runs w (an asynq server on its Redis) until the test ends.
func runWorker(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// fastRetries are settings that let a test see a task through several retries in a second.
func fastRetries(maxRetry int) Config {
	return Config{MaxRetry: maxRetry, RetryBase: 10 * time.Millisecond, RetryCheck: 20 * time.Millisecond, ShutdownTimeout: time.Second}
}

// requestFlushAll requests a flush-all confirmed for token "demo" through the producer, as enqueue
// --all does.
func requestFlushAll(ctx context.Context, rdb redis.UniversalClient, cooldown time.Duration) error {
	p := producer.New(rdb, producer.Settings{MaxRetry: defaults.MaxRetry, BatchSize: defaults.BatchSize, PolicyEvery: defaults.PolicyEvery})
	return p.RequestFlushAll(ctx, producer.FlushAll{Token: "demo", Confirm: "demo", Cooldown: cooldown, RequestedBy: "test"})
}

// requestAllTask enqueues a confirmed flush-all through the producer, as enqueue --all does, and
// returns its request time (ms).
func requestAllTask(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	if err := requestFlushAll(context.Background(), rdb, time.Hour); err != nil {
		t.Fatal(err)
	}
	ti, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tasks.DecodeAll(ti.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p.RequestedAt.UnixMilli()
}

// allTask returns the flush-all task's state in asynq, or nil when there is none.
func allTask(t *testing.T, rdb redis.UniversalClient) *asynq.TaskInfo {
	t.Helper()
	ti, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return ti
}

// stateOfAll is the hash field the flush-all state is read from (store.AllState).
var stateOfAll = testredis.Command("hgetall", store.KeyAll)

// TestFlushAllRedisErrorsUseTheWorkersRetries: Redis errors before the call (here: reading the
// flush-all state) are retried as the worker's PURGE_MAX_RETRY says, not asynq's limit of the task;
// then the task is dead-lettered with its confirmation used up, so that a run from the dead-letter
// queue (asynqmon's "run") sends nothing.
func TestFlushAllRedisErrorsUseTheWorkersRetries(t *testing.T) {
	t.Parallel()
	w, rdb, faults, api := allWorker(t, fastRetries(2))
	reqMS := requestAllTask(t, rdb)
	faults.Fail(-1, stateOfAll)
	runWorker(t, w)
	testkit.WaitFor(t, 20*time.Second, "the flush-all dead-lettered", func() bool {
		ti := allTask(t, rdb)
		return ti != nil && ti.State == asynq.TaskStateArchived
	})
	ti := allTask(t, rdb)
	if faults.Failed() != 3 || ti.Retried != 2 || !strings.Contains(ti.LastErr, "gave up after 3 attempts") || !strings.Contains(ti.LastErr, "nothing was sent") {
		t.Errorf("%d runs failed by Redis, %d retries, dead letter %q: want 3 runs (1 + PURGE_MAX_RETRY=2) and the reason", faults.Failed(), ti.Retried, ti.LastErr)
	}
	if confirmation(t, rdb, reqMS) {
		t.Error("the dead-lettered flush-all kept its confirmation")
	}
	faults.Clear()
	if err := asynq.NewInspectorFromRedisClient(rdb).RunTask(tasks.QueueAll, tasks.TaskIDAll); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the flush-all run from the dead-letter queue dead-lettered again", func() bool {
		ti := allTask(t, rdb)
		return ti != nil && ti.State == asynq.TaskStateArchived && ti.LastFailedAt.After(time.Now().Add(-time.Minute))
	})
	if n := api.calls.Load(); n != 0 {
		t.Errorf("%d flush-all calls, want 0", n)
	}
}

// TestFlushAllNeverArchivedWithItsConfirmation: when Redis refuses even the write that uses up
// the confirmation, the flush-all out of retries is not archived (a run from the dead-letter
// queue would send it): it stays queued, sending nothing, and is dead-lettered, confirmation used
// up, on the first run after Redis takes the write.
func TestFlushAllNeverArchivedWithItsConfirmation(t *testing.T) {
	t.Parallel()
	w, rdb, faults, api := allWorker(t, fastRetries(0))
	reqMS := requestAllTask(t, rdb)
	var done atomic.Int64
	faults.Fail(-1, stateOfAll)
	faults.Fail(-1, func(a []any) bool {
		if allEndScript(store.AllEndDone)(a) {
			done.Add(1)
			return true
		}
		return false
	})
	runWorker(t, w)
	testkit.WaitFor(t, 20*time.Second, "three runs refused the use of the confirmation", func() bool {
		return done.Load() >= 3*recordTries
	})
	if ti := allTask(t, rdb); ti == nil || ti.State == asynq.TaskStateArchived || !confirmation(t, rdb, reqMS) {
		t.Fatalf("flush-all %+v: want it still queued with its confirmation, not archived", ti)
	}
	faults.Clear()
	testkit.WaitFor(t, 20*time.Second, "the flush-all dead-lettered once Redis takes the write", func() bool {
		ti := allTask(t, rdb)
		return ti != nil && ti.State == asynq.TaskStateArchived
	})
	if ti := allTask(t, rdb); !strings.Contains(ti.LastErr, "gave up") || !strings.Contains(ti.LastErr, "nothing was sent") || confirmation(t, rdb, reqMS) {
		t.Errorf("dead letter %q, confirmation left %v: want it given up with its confirmation used up", ti.LastErr, confirmation(t, rdb, reqMS))
	}
	if n := api.calls.Load(); n != 0 {
		t.Errorf("%d flush-all calls, want 0", n)
	}
}

// TestFlushAllGiveUpKeepsAnAttempt: a flush-all given up after Redis errors whose attempt is
// still recorded in flight (its outcome was never recorded) is dead-lettered as outcome unknown,
// and the cooldown counts from that attempt: using up the confirmation never forgets an attempt.
func TestFlushAllGiveUpKeepsAnAttempt(t *testing.T) {
	t.Parallel()
	w, rdb, faults, api := allWorker(t, Config{MaxRetry: 0})
	ctx := context.Background()
	task, reqMS := requestAll(t, w)
	if v, _, err := w.store.AllBegin(ctx, reqMS); err != nil || v != store.AllGo {
		t.Fatal(v, err)
	}
	// As after a worker died mid-call: the next run cannot record that outcome (Redis refuses it).
	faults.Fail(-1, allEndScript(store.AllEndUnknown))
	var dl *deadLetter
	if err := w.handleAll(ctx, task); !errors.As(err, &dl) || !strings.Contains(dl.msg, "outcome unknown") {
		t.Fatalf("handler: %v, want the flush-all dead-lettered as outcome unknown", err)
	}
	faults.Clear()
	st, err := w.store.AllState(ctx)
	if err != nil || st.AttemptAt == 0 || st.InFlightAt != 0 || confirmation(t, rdb, reqMS) {
		t.Errorf("flush-all state %+v (%v): want the attempt recorded as unknown, nothing in flight, no confirmation", st, err)
	}
	if n := api.calls.Load(); n != 0 {
		t.Errorf("%d flush-all calls, want 0", n)
	}
}
