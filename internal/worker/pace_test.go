package worker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
)

// slowAPI accepts every request after a fixed latency and records how many calls were in flight
// at most.
type slowAPI struct {
	latency  time.Duration
	calls    atomic.Int64
	inflight atomic.Int64
	mu       sync.Mutex
	peak     int64
	urls     map[string]int
}

func (a *slowAPI) Invalidate(ctx context.Context, urls []string) (*apiclient.Invalidation, error) {
	n := a.inflight.Add(1)
	defer a.inflight.Add(-1)
	a.mu.Lock()
	a.peak = max(a.peak, n)
	if a.urls == nil {
		a.urls = map[string]int{}
	}
	for _, u := range urls {
		a.urls[u]++
	}
	a.mu.Unlock()
	select {
	case <-time.After(a.latency):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	a.calls.Add(1)
	return &apiclient.Invalidation{StatusCode: 201, UUID: fmt.Sprintf("4fc96d31-0000-4000-8000-%012d", a.calls.Load())}, nil
}

func (a *slowAPI) InvalidateAll(context.Context) (*apiclient.Invalidation, error) {
	return &apiclient.Invalidation{StatusCode: 201}, nil
}

func (a *slowAPI) Status(context.Context, string) (*apiclient.InvalidationStatus, error) {
	return &apiclient.InvalidationStatus{Status: apiclient.StatusDone}, nil
}

func (a *slowAPI) stats() (peak int64, distinct, twice int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range a.urls {
		distinct++
		if n > 1 {
			twice++
		}
	}
	return a.peak, distinct, twice
}

// runWith adds keys to the pending set and runs workers until the test ends; stop stops them and
// waits for them to return.
func runWith(t *testing.T, keys []string, ws ...*Worker) (ctx context.Context, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := ws[0].Store().AddPending(ctx, "", keys); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, len(ws))
	for _, w := range ws {
		go func() { done <- w.Run(ctx) }()
	}
	return ctx, func() {
		cancel()
		for range ws {
			<-done
		}
	}
}

// waitAllSent waits until the API saw every key.
func waitAllSent(t *testing.T, api *slowAPI, keys []string) {
	t.Helper()
	testkit.WaitFor(t, 60*time.Second, "every URL sent", func() bool {
		_, distinct, _ := api.stats()
		return distinct == len(keys)
	})
}

// TestInflightSizing: the calls a worker keeps in flight come from the rate and the latency, not
// from its task slots.
func TestInflightSizing(t *testing.T) {
	cfg := Config{Limit: store.Limit{Rate: 20, Burst: 5}, Concurrency: 10}
	cfg = cfg.WithDefaults()
	for _, c := range []struct {
		latency time.Duration
		perTask int
	}{{0, 3}, {100 * time.Millisecond, 4}, {time.Second, 6}, {2 * time.Second, 8}, {30 * time.Second, maxRequestsPerTask}} {
		if got := requestsPerTask(cfg, c.latency); got != c.perTask {
			t.Errorf("rate 20, latency %s: %d requests per task, want %d", c.latency, got, c.perTask)
		}
		if need, have := inflightNeeded(cfg, c.latency), cfg.Concurrency*requestsPerTask(cfg, c.latency); c.perTask < maxRequestsPerTask && have < need {
			t.Errorf("latency %s: %d calls in flight needed, the slots carry %d", c.latency, need, have)
		}
	}
	if got := lookaheadRequests(cfg, time.Second, 4); got != 65 {
		t.Errorf("lookahead at rate 20, 1 s: %d requests, want 20 x 3 s + 5 = 65", got)
	}
}

// TestTaskSizesDiffer: the batcher's tasks come in unequal sizes, so that tasks started together
// do not end their reservations together. Over a turn of the shares they carry about the
// requests per task the slots need, and each stays within 1 and maxRequestsPerTask.
func TestTaskSizesDiffer(t *testing.T) {
	for _, per := range []int{1, 2, 4, 8, 26, maxRequestsPerTask} {
		sizes := map[int]bool{}
		sum := 0
		for turn := range len(taskShares) {
			n := taskSize(per, turn)
			if n < 1 || n > maxRequestsPerTask {
				t.Errorf("%d requests per task, turn %d: %d", per, turn, n)
			}
			sizes[n], sum = true, sum+n
		}
		if mean := float64(sum) / float64(len(taskShares)); mean < 0.85*float64(per) || mean > float64(per) {
			t.Errorf("%d requests per task: %.2f on average over a turn, want 0.85x to 1x", per, mean)
		}
		if per >= 2 && len(sizes) < 2 {
			t.Errorf("%d requests per task: sizes %v; want different ones", per, sizes)
		}
	}
}

// TestRateReachedDespiteLatency: with two task slots, a 300 ms API and a shared limit of 20
// calls/s, the worker keeps more calls in flight than it has slots, asks the limiter about once
// per call, and sends every URL once.
func TestRateReachedDespiteLatency(t *testing.T) {
	rdb := testredis.Start(t).Client()
	api := &slowAPI{latency: 300 * time.Millisecond}
	m := NewMetrics(nil)
	w := mustNew(t, Config{Window: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond, BatchSize: 1,
		Limit: store.Limit{Rate: 20, Burst: 2}, Concurrency: 2}, rdb, api, zaptest.NewLogger(t), m)
	keys := testkit.ImageURLs("inflight", 120)
	_, stop := runWith(t, keys, w)
	waitAllSent(t, api, keys)
	stop()
	peak, _, twice := api.stats()
	if peak <= 2 {
		t.Errorf("at most %d calls in flight with 2 slots: the slots, not the rate, set the pace", peak)
	}
	if twice != 0 {
		t.Errorf("%d URLs sent twice", twice)
	}
	calls := api.calls.Load()
	asked := int64(testutil.ToFloat64(m.Admissions))
	// About once per call: a few more for requests that came back after a long wait.
	if asked > calls+calls/5+5 {
		t.Errorf("the limiter was asked %d times for %d calls: a polling loop, not a reservation", asked, calls)
	}
	t.Logf("%d calls, %d admissions, at most %d in flight with 2 slots", calls, asked, peak)
}

// TestLookaheadKeepsBacklogPending: behind a slow limit, the batcher forms no more tasks than
// can be sent soon; the rest stays in the pending set (the cheapest place, where it coalesces).
// Formed and not yet sent is at most the lookahead (tasks waiting in the queue) plus what the
// slots hold (Concurrency tasks of requestsPerTask requests each); both depend on the latency the
// worker has observed, which is assumedLatency until the first answer and about 0 after it, so the
// bound is the larger of the two. It is checked twice: when the batcher first stops at its
// lookahead, and again after calls were sent, when requests snoozed by the limiter could have let
// the batcher form more behind them if it did not count them.
func TestLookaheadKeepsBacklogPending(t *testing.T) {
	// Two slots: the requests they hold are all sent within their reservation horizon. Ten slots
	// at 2 calls/s: most requests a slot takes must wait longer than a slot may (MaxInSlotWait) and
	// are snoozed into asynq's retry set, where the lookahead must count them too.
	for _, concurrency := range []int{2, 10} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			t.Parallel()
			lookaheadKeepsBacklogPending(t, concurrency)
		})
	}
}

func lookaheadKeepsBacklogPending(t *testing.T, concurrency int) {
	rdb := testredis.Start(t).Client()
	api := &slowAPI{}
	m := NewMetrics(nil)
	cfg := Config{Window: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond, BatchSize: 15,
		Limit: store.Limit{Rate: 2, Burst: 1}, Concurrency: concurrency}
	w := mustNew(t, cfg, rdb, api, zaptest.NewLogger(t), m)
	bound := 0 // requests
	for _, lat := range []time.Duration{0, assumedLatency} {
		per := requestsPerTask(w.cfg, lat)
		bound = max(bound, lookaheadRequests(w.cfg, lat, per)+w.cfg.Concurrency*per)
	}
	keys := testkit.ImageURLs("lookahead", 3000)
	ctx, stop := runWith(t, keys, w)
	defer stop()
	check := func(when string) {
		t.Helper()
		n, _, err := w.Store().PendingCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// URLs already sent left the pending set too; what the bound is about is formed, not sent.
		api.mu.Lock()
		sent := len(api.urls)
		api.mu.Unlock()
		formed := len(keys) - int(n) - sent
		if formed > bound*cfg.BatchSize {
			t.Errorf("%s: %d of %d URLs are in request tasks behind a limit of 2 calls/s (%d sent); the lookahead allows %d",
				when, formed, len(keys), sent, bound*cfg.BatchSize)
		}
		t.Logf("%s: %d pending, %d formed ahead, %d sent (bound %d requests)", when, n, formed, sent, bound)
	}
	testkit.WaitFor(t, 30*time.Second, "the batcher to stop at its lookahead", func() bool {
		return testutil.ToFloat64(m.LookaheadFull) > 0
	})
	check("at the first full lookahead")
	testkit.WaitFor(t, 30*time.Second, "6 calls sent", func() bool { return api.calls.Load() >= 6 })
	full := testutil.ToFloat64(m.LookaheadFull)
	testkit.WaitFor(t, 30*time.Second, "the batcher to stop at its lookahead again", func() bool {
		return testutil.ToFloat64(m.LookaheadFull) > full
	})
	check("after 6 calls")
}

// TestNoSecondAboveRateBurst: a real worker at 100 calls/s against the sandbox answering in 1 s.
// However late a loaded machine wakes the calls it reserved, no 1-s window at the sandbox, sliding
// over every call's arrival, holds more than rate + burst calls. The assertion counts calls; it
// does not time anything.
func TestNoSecondAboveRateBurst(t *testing.T) {
	rdb := testredis.Start(t).Client()
	sb, base := testkit.StartSandbox(t, "pace-key")
	sb.SetLatency(time.Second)
	api, err := apiclient.New("pace-key", apiclient.WithBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	lim := store.Limit{Rate: 100, Burst: 5}
	w := mustNew(t, Config{Window: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond, BatchSize: 1, Limit: lim},
		rdb, api, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), NewMetrics(nil))
	keys := testkit.ImageURLs("second", 400) // 4 s of sending at the rate
	_, stop := runWith(t, keys, w)
	testkit.WaitFor(t, 60*time.Second, "every URL at the sandbox", func() bool { return len(sb.Requests()) >= len(keys) })
	stop()
	reqs := sb.Requests()
	at := make([]time.Time, len(reqs))
	for i, r := range reqs {
		at[i] = r.At
	}
	slices.SortFunc(at, time.Time.Compare)
	peak := mostIn(at, time.Second)
	if bound := int(lim.Rate) + lim.Burst; peak > bound {
		t.Errorf("%d calls in one 1-s window at the sandbox; rate + burst is %d", peak, bound)
	}
	t.Logf("%d calls in %s, at most %d in a 1-s window (cap %d)", len(at), at[len(at)-1].Sub(at[0]), peak, store.StartCap(lim))
}
