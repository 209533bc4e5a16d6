package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestEnqueueAndDrain is the README's flow: URLs in through the CLI, out through the worker, in
// requests of at most 15 URLs, each URL once.
func TestEnqueueAndDrain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := testkit.ImageURLs("drain", 40)
	code, _, stderr := h.enqueue("", in...)
	if code != 0 {
		t.Fatalf("enqueue exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "40 enqueued") {
		t.Errorf("summary does not say 40 enqueued: %s", stderr)
	}
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "all 40 URLs invalidated", func() bool { return invalidatedAll(h.SB, in) })
	acc := h.SB.Accepted()
	if len(acc) != 3 {
		t.Errorf("40 URLs went out in %d requests, want 3 (15+15+10)", len(acc))
	}
	for _, r := range acc {
		if len(r.URLs) > 15 {
			t.Errorf("a request carried %d URLs, more than 15", len(r.URLs))
		}
		if r.Scope != "original" {
			t.Errorf("scope %q, want original", r.Scope)
		}
	}
	for _, u := range in {
		if n := h.SB.URLCount(u); n != 1 {
			t.Errorf("%s sent %d times, want 1", u, n)
		}
	}
}

// TestDedupeWhilePending: a URL requested again (in any equivalent form) while its first request
// waits is not queued twice, and is sent once.
func TestDedupeWhilePending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_WINDOW=1s", "PURGE_MAX_DELAY=2s")
	u := "https://img.example.com/dedupe/a.jpg"
	code, _, stderr := h.enqueue("", u)
	if code != 0 || !strings.Contains(stderr, "1 enqueued") {
		t.Fatalf("first enqueue: exit %d: %s", code, stderr)
	}
	code, _, stderr = h.enqueue("", u, "https://demo.cloudimg.io/img.example.com/dedupe/a.jpg?w=600", u)
	if code != 0 {
		t.Fatalf("second enqueue: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "0 enqueued") || !strings.Contains(stderr, "1 already pending") || !strings.Contains(stderr, "2 duplicates") {
		t.Errorf("second enqueue summary: %s", stderr)
	}
	h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "the URL invalidated", func() bool { return h.SB.URLCount(u) > 0 })
	h.waitIdle(t) // nothing left that could send it again
	if n := h.SB.URLCount(u); n != 1 {
		t.Errorf("sent %d times, want 1", n)
	}
}

// TestSatisfiedRequestIsDropped: a request is satisfied by any invalidation of the same key sent
// after it was requested; such a request is dropped and never sent again.
func TestSatisfiedRequestIsDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := "https://img.example.com/satisfied/a.jpg"
	ctx := context.Background()
	st := store.New(h.RDB)
	// A bulk request made now, sitting in the queue...
	reqAt, err := st.Now(ctx)
	must(t, err)
	task, err := taskq.NewURLsTask(tasks.URLs{URLs: []string{u}, RequestedAt: time.UnixMilli(reqAt), Origin: tasks.OriginBulk}, tasks.QueueBulk, 3)
	must(t, err)
	c := asynq.NewClientFromRedisClient(h.RDB)
	_, err = c.Enqueue(task)
	must(t, err)
	// ...is covered by an invalidation of the same key sent after it.
	must(t, st.Sent(ctx, []string{u}, reqAt, reqAt+5, "uuid-later", time.Hour))
	w := h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "the bulk queue drained", func() bool {
		info, err := h.inspector().GetQueueInfo(tasks.QueueBulk)
		return err == nil && info.Size == 0
	})
	_ = w
	if n := h.SB.URLCount(u); n != 0 {
		t.Errorf("a satisfied request was sent %d times", n)
	}
	tot, err := st.Totals(ctx)
	must(t, err)
	if tot.Dropped != 1 {
		t.Errorf("dropped count %d, want 1", tot.Dropped)
	}
}

// TestWindowCoalesces: requests arriving within the window go out together.
func TestWindowCoalesces(t *testing.T) {
	t.Parallel()
	// With no rate limit a request goes out as soon as its window has passed (nothing waits for
	// company when there is room), so the nine must arrive within the first one's window: 3 s
	// leaves a loaded machine room for nine runs of the command.
	const window = 3 * time.Second
	h := newHarness(t, "PURGE_WINDOW="+window.String(), "PURGE_MAX_DELAY=5s")
	h.startWorker()
	in := testkit.ImageURLs("window", 9)
	start := time.Now()
	for i, u := range in {
		if code, _, stderr := h.enqueue("", u); code != 0 {
			t.Fatalf("enqueue %d: %s", i, stderr)
		}
	}
	took := time.Since(start)
	testkit.WaitFor(t, 15*time.Second, "all 9 invalidated", func() bool { return invalidatedAll(h.SB, in) })
	if acc := h.SB.Accepted(); len(acc) != 1 {
		t.Errorf("9 URLs enqueued one by one within %s (the window is %s) went out in %d requests, want 1", took.Round(time.Millisecond), window, len(acc))
	}
}

// TestBatchSizeCap: PURGE_BATCH_SIZE caps the URLs per request.
func TestBatchSizeCap(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_BATCH_SIZE=4")
	in := testkit.ImageURLs("cap", 10)
	h.mustEnqueue(t, in...)
	h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "all invalidated", func() bool { return invalidatedAll(h.SB, in) })
	var sizes []int
	for _, r := range h.SB.Accepted() {
		sizes = append(sizes, len(r.URLs))
	}
	sort.Ints(sizes)
	if fmt.Sprint(sizes) != "[2 4 4]" {
		t.Errorf("request sizes %v, want [2 4 4]", sizes)
	}
}

// TestSharedRateLimit: two workers together stay under PURGE_RATE + PURGE_BURST in every second.
func TestSharedRateLimit(t *testing.T) {
	t.Parallel()
	const rate, burst = 4, 2
	h := newHarness(t, fmt.Sprintf("PURGE_RATE=%d", rate), fmt.Sprintf("PURGE_BURST=%d", burst), "PURGE_BATCH_SIZE=1")
	in := testkit.ImageURLs("rate", 14)
	h.mustEnqueue(t, in...)
	h.startWorker()
	h.startWorker()
	testkit.WaitFor(t, 30*time.Second, "all invalidated", func() bool { return invalidatedAll(h.SB, in) })
	acc := h.SB.Accepted()
	for i := range acc {
		n := 0
		for j := i; j < len(acc) && acc[j].At.Sub(acc[i].At) < time.Second; j++ {
			n++
		}
		if n > rate+burst {
			t.Fatalf("%d requests within one second from %s; the shared limit allows %d", n, acc[i].At.Format("15:04:05.000"), rate+burst)
		}
	}
}

// TestRateLimitedPausesEveryWorker: a 429 with Retry-After pauses every worker for that long and
// is not counted as a failure.
func TestRateLimitedPausesEveryWorker(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_BATCH_SIZE=1", "PURGE_MAX_RETRY=0")
	// The window opens at the first request, however long the workers take to start.
	h.SB.ApplyFaults(&sandbox.Faults{RateLimit: &sandbox.Window{For: 500 * time.Millisecond, Code: http.StatusTooManyRequests, RetryAfter: "2"}})
	in := testkit.ImageURLs("ratelimited", 6)
	h.mustEnqueue(t, in...)
	h.startWorker()
	h.startWorker()
	testkit.WaitFor(t, 30*time.Second, "all invalidated after the pause", func() bool { return invalidatedAll(h.SB, in) })
	var first429 time.Time
	for _, r := range h.SB.Requests() {
		if r.Code == 429 && first429.IsZero() {
			first429 = r.At
		}
		if r.Code < 300 && !first429.IsZero() && r.At.Sub(first429) < 2*time.Second {
			t.Errorf("a request was sent %s after a 429 with Retry-After: 2", r.At.Sub(first429))
		}
	}
	if first429.IsZero() {
		t.Fatal("the sandbox never answered 429")
	}
	// PURGE_MAX_RETRY=0: had the 429 counted as a failure, the task would be dead-lettered.
	if dl := h.archived(tasks.QueueInteractive); len(dl) != 0 {
		t.Errorf("%d tasks dead-lettered after a 429: %s", len(dl), dl[0].LastErr)
	}
}

// TestRetryThenSuccess: transient failures are retried until the request goes through.
func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_MAX_RETRY=5")
	h.SB.FailNext(2, 503)
	u := "https://img.example.com/retry/a.jpg"
	h.mustEnqueue(t, u)
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "invalidated after two 503s", func() bool { return h.SB.URLCount(u) == 1 })
	if n := len(h.SB.Requests()); n != 3 {
		t.Errorf("%d requests, want 3 (two 503s, then success)", n)
	}
	if dl := h.archived(tasks.QueueInteractive); len(dl) != 0 {
		t.Errorf("dead-lettered: %s", dl[0].LastErr)
	}
}

// TestRetryExhaustedGoesToDLQ: after PURGE_MAX_RETRY retries the request is dead-lettered with
// its URLs, its attempts and the last error in words.
func TestRetryExhaustedGoesToDLQ(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_MAX_RETRY=2")
	h.SB.FailFor(time.Hour, 500)
	u := "https://img.example.com/exhausted/a.jpg"
	h.mustEnqueue(t, u)
	h.startWorker()
	dl := h.deadLetters(t, tasks.QueueInteractive, 1, 30*time.Second, "the request dead-lettered")
	if n := len(h.SB.Requests()); n != 3 {
		t.Errorf("%d attempts, want 3 (1 + PURGE_MAX_RETRY=2)", n)
	}
	if !strings.Contains(dl[0].LastErr, "gave up after 3 attempts") || !strings.Contains(dl[0].LastErr, "500") {
		t.Errorf("dead letter's error does not say what happened: %q", dl[0].LastErr)
	}
	// The operator's view.
	code, out, stderr := h.enqueue("", "dlq", "ls")
	if code != 0 || !strings.Contains(out, u) || !strings.Contains(out, "gave up after 3 attempts") {
		t.Errorf("dlq ls (exit %d) does not show the URL and the error:\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "attempts=3 ") || !strings.Contains(out, "\n1 dead letter;") {
		t.Errorf("dlq ls must count the attempts as the error does (3) and say \"1 dead letter\":\n%s", out)
	}
	// Replay after the outage: it goes through.
	h.SB.ClearFaults()
	code, out, stderr = h.enqueue("", "dlq", "replay", dl[0].ID)
	if code != 0 {
		t.Fatalf("dlq replay: exit %d: %s%s", code, out, stderr)
	}
	testkit.WaitFor(t, 10*time.Second, "the replayed request invalidated", func() bool { return h.SB.URLCount(u) == 1 })
}

// TestBadRequestIsolatesTheBadURL: a 400 for a batch does not sink the good URLs with the bad one.
func TestBadRequestIsolatesTheBadURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := testkit.ImageURLs("isolate", 15)
	bad := in[6]
	h.SB.RejectURL(bad)
	h.mustEnqueue(t, in...)
	h.startWorker()
	good := append(append([]string(nil), in[:6]...), in[7:]...)
	testkit.WaitFor(t, 20*time.Second, "the 14 good URLs invalidated", func() bool { return invalidatedAll(h.SB, good) })
	dl := h.deadLetters(t, tasks.QueueInteractive, 1, 10*time.Second, "the bad URL dead-lettered")
	p, err := tasks.DecodeURLs(dl[0].Payload)
	must(t, err)
	if len(p.URLs) != 1 || p.URLs[0] != bad {
		t.Errorf("dead letter holds %v, want only %s", p.URLs, bad)
	}
	if !strings.Contains(dl[0].LastErr, "400") {
		t.Errorf("dead letter does not carry the API's answer: %q", dl[0].LastErr)
	}
	if n := h.SB.URLCount(bad); n != 0 {
		t.Errorf("bad URL accepted %d times", n)
	}
}

// TestUnauthorizedStopsAndRecovers: a 401 stops sending without burning retries or the DLQ, says
// so once, and the backlog drains by itself when the key works again.
func TestUnauthorizedStopsAndRecovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_MAX_RETRY=0", "PURGE_BATCH_SIZE=1")
	h.SB.SetKey("another-key")
	in := testkit.ImageURLs("auth", 5)
	h.mustEnqueue(t, in...)
	w := h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "a 401", func() bool {
		for _, r := range h.SB.Requests() {
			if r.Code == 401 {
				return true
			}
		}
		return false
	})
	// Let it try for a while: only probes go out, nothing is dead-lettered. (The sleep is the
	// measurement: it bounds the probes per second, which only a span of time can show.)
	time.Sleep(time.Second)
	n401 := 0
	for _, r := range h.SB.Requests() {
		if r.Code == 401 {
			n401++
		}
	}
	if n401 > 8 {
		t.Errorf("%d requests with a rejected key in about a second; probes every 200ms allow about 6", n401)
	}
	if dl := h.archived(tasks.QueueInteractive); len(dl) != 0 {
		t.Errorf("a rejected key burned %d tasks into the DLQ", len(dl))
	}
	// Count the error line itself: a task's split notice may quote the same reason at debug level.
	if c := strings.Count(w.Logs.String(), `"msg":"sending stopped: Cloudimage rejected the API key`); c != 1 {
		t.Errorf("the rejected key was logged %d times, want once", c)
	}
	h.SB.SetKey(testKey)
	testkit.WaitFor(t, 20*time.Second, "the backlog drained after the key works again", func() bool { return invalidatedAll(h.SB, in) })
	if !strings.Contains(w.Logs.String(), "sending resumed") {
		t.Error("recovery was not logged")
	}
}

// TestFlushAll: refused without confirmation (nothing enqueued), sent once with it, a second
// request within the cooldown refused, and pending URL requests made before it are covered.
func TestFlushAll(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_WINDOW=3s", "PURGE_MAX_DELAY=5s")
	code, _, stderr := h.enqueue("", "--all")
	if code != 2 || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "origin") {
		t.Fatalf("unconfirmed --all: exit %d, want 2 with the cost explained: %s", code, stderr)
	}
	code, _, stderr = h.enqueue("", "--all", "--confirm=wrong")
	if code != 2 {
		t.Fatalf("wrongly confirmed --all: exit %d, want 2: %s", code, stderr)
	}
	if info, err := h.inspector().GetQueueInfo(tasks.QueueAll); err == nil && info.Size > 0 {
		t.Fatalf("a refused flush-all enqueued %d tasks", info.Size)
	}
	// A URL request waiting for its window...
	u := "https://img.example.com/flush/a.jpg"
	h.mustEnqueue(t, u)
	// ...and a confirmed flush-all.
	code, out, stderr := h.enqueue("", "--all", "--confirm=demo", "--reason", "test")
	if code != 0 {
		t.Fatalf("confirmed --all: exit %d: %s%s", code, out, stderr)
	}
	code, _, stderr = h.enqueue("", "--all", "--confirm=demo")
	if code != 2 || !strings.Contains(stderr, "already pending") || !strings.Contains(stderr, "remove it with: enqueue --all --cancel") {
		t.Errorf("second flush-all while one is pending: exit %d, want 2 with the command's own fix: %s", code, stderr)
	}
	h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "the flush-all sent", func() bool {
		for _, r := range h.SB.Accepted() {
			if r.Scope == "all" {
				return true
			}
		}
		return false
	})
	h.waitIdle(t) // the URL's request has been dropped or sent: nothing left to send
	n := 0
	for _, r := range h.SB.Accepted() {
		if r.Scope == "all" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("flush-all sent %d times, want 1", n)
	}
	if c := h.SB.URLCount(u); c != 0 {
		t.Errorf("a URL requested before the flush-all was still sent %d times", c)
	}
	code, _, stderr = h.enqueue("", "--all", "--confirm=demo")
	if code != 2 || !strings.Contains(stderr, "PURGE_ALL_COOLDOWN") {
		t.Errorf("flush-all within the cooldown: exit %d: %s", code, stderr)
	}
}

// TestFlushAllNoCooldown: PURGE_ALL_COOLDOWN=0 means no cooldown to enqueue and to the worker alike:
// a second confirmed flush-all right after the first is accepted and sent (the worker read 0 as
// 1 h and dead-lettered what enqueue had accepted).
func TestFlushAllNoCooldown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_ALL_COOLDOWN=0")
	h.startWorker()
	sent := func() int {
		n := 0
		for _, r := range h.SB.Accepted() {
			if r.Scope == "all" {
				n++
			}
		}
		return n
	}
	for i := 1; i <= 2; i++ {
		if code, out, stderr := h.enqueue("", "--all", "--confirm=demo", "--reason", "no cooldown"); code != 0 {
			t.Fatalf("flush-all %d: exit %d: %s%s", i, code, out, stderr)
		}
		testkit.WaitFor(t, 15*time.Second, fmt.Sprintf("flush-all %d sent", i), func() bool { return sent() == i })
	}
	h.waitIdle(t)
	if n := sent(); n != 2 {
		t.Errorf("flush-all sent %d times, want 2", n)
	}
	for _, q := range tasks.QueueNames() {
		if dl := h.archived(q); len(dl) != 0 {
			t.Errorf("%d dead letters in %s: %s", len(dl), q, dl[0].LastErr)
		}
	}
}

// TestFlushAllWorkerRechecksConfirmation: a flush-all task whose confirmation does not match the
// worker's token is dead-lettered, never sent.
func TestFlushAllWorkerRechecksConfirmation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b, _ := json.Marshal(tasks.All{Confirm: "not-the-token", RequestedAt: time.Now()})
	c := asynq.NewClientFromRedisClient(h.RDB)
	_, err := c.Enqueue(asynq.NewTask(tasks.TypeAll, b, asynq.Queue(tasks.QueueAll), asynq.MaxRetry(3)))
	must(t, err)
	h.startWorker()
	h.deadLetters(t, tasks.QueueAll, 1, 10*time.Second, "the forged flush-all dead-lettered")
	if n := h.SB.Stats().Requests; n != 0 {
		t.Errorf("%d requests sent for a flush-all with a wrong confirmation", n)
	}
}

// TestBulkYieldsToInteractive: a bulk re-ingest never delays an interactive invalidation behind it.
func TestBulkYieldsToInteractive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_RATE=5", "PURGE_BURST=1", "PURGE_WINDOW=100ms")
	bulk := testkit.ImageURLs("bulk", 300) // 20 requests: 4 s at 5 requests/s
	code, _, stderr := h.enqueue(strings.Join(bulk, "\n")+"\n", "--bulk", "-f", "-")
	if code != 0 || !strings.Contains(stderr, "20 bulk requests") {
		t.Fatalf("bulk enqueue: exit %d: %s", code, stderr)
	}
	h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "bulk sending started", func() bool { return h.SB.Stats().Accepted >= 2 })
	hot := "https://img.example.com/interactive/now.jpg"
	h.mustEnqueue(t, hot)
	testkit.WaitFor(t, 20*time.Second, "everything invalidated", func() bool { return invalidatedAll(h.SB, append(bulk, hot)) })
	acc := h.SB.Accepted()
	pos := -1
	for i, r := range acc {
		if len(r.URLs) == 1 && r.URLs[0] == hot {
			pos = i
		}
	}
	after := len(acc) - 1 - pos
	// The interactive request waits for its window and at most the bulk requests already running
	// (concurrency); it must not wait for the other bulk requests.
	if after < 8 {
		t.Errorf("the interactive request was sent as request %d of %d: only %d bulk requests came after it", pos+1, len(acc), after)
	}
}

// TestGracefulShutdown: a worker stopped while requests are in flight loses nothing; the next
// worker sends what it did not.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	// One call a second: the worker cannot send everything at once before it is stopped.
	h := newHarness(t, "PURGE_SHUTDOWN_TIMEOUT=1s", "PURGE_BATCH_SIZE=1", "PURGE_CONCURRENCY=2", "PURGE_RATE=1", "PURGE_BURST=1")
	h.SB.SetLatency(700 * time.Millisecond)
	in := testkit.ImageURLs("shutdown", 8)
	h.mustEnqueue(t, in...)
	w := h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "the first requests", func() bool { return h.SB.Stats().Requests >= 2 })
	if err := w.Stop(t); err != nil {
		t.Fatalf("worker stopped with %v", err)
	}
	if invalidatedAll(h.SB, in) {
		t.Fatal("everything was sent before the shutdown; the test proves nothing")
	}
	h.SB.SetLatency(0)
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "the next worker sent the rest", func() bool { return invalidatedAll(h.SB, in) })
}

// TestPoisonPayloadIsDeadLettered: a payload that cannot decode goes to the DLQ at once with its
// reason, and the worker keeps processing the rest.
func TestPoisonPayloadIsDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := asynq.NewClientFromRedisClient(h.RDB)
	_, err := c.Enqueue(asynq.NewTask(tasks.TypeURLs, []byte("{not json"), asynq.Queue(tasks.QueueInteractive), asynq.MaxRetry(25)))
	must(t, err)
	u := "https://img.example.com/poison/ok.jpg"
	h.mustEnqueue(t, u)
	h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "the good URL invalidated", func() bool { return h.SB.URLCount(u) == 1 })
	dl := h.deadLetters(t, tasks.QueueInteractive, 1, 10*time.Second, "the poison dead-lettered")
	if dl[0].Retried != 0 || !strings.Contains(dl[0].LastErr, "bad task payload") {
		t.Errorf("poison: retried %d, error %q; want no retry and the reason", dl[0].Retried, dl[0].LastErr)
	}
}

// TestMaxRetryZero: PURGE_MAX_RETRY=0 means no retry: the first failure is dead-lettered.
func TestMaxRetryZero(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_MAX_RETRY=0")
	h.SB.FailFor(time.Hour, 500)
	u := "https://img.example.com/noretry/a.jpg"
	h.mustEnqueue(t, u)
	h.startWorker()
	h.deadLetters(t, tasks.QueueInteractive, 1, 15*time.Second, "dead-lettered")
	if n := h.SB.Stats().Requests; n != 1 {
		t.Errorf("%d attempts with PURGE_MAX_RETRY=0, want 1", n)
	}
}

// allCalls counts the flush-all requests the sandbox received, and those it accepted.
func allCalls(h *harness) (received, accepted int) {
	for _, r := range h.SB.Requests() {
		if r.Scope == "all" {
			received++
			if r.Code < 300 {
				accepted++
			}
		}
	}
	return received, accepted
}

// TestFlushAllReplayNeedsFreshConfirmation: a flush-all the API refused (503) is retried as often
// as the worker's PURGE_MAX_RETRY says (0 here, the producer's 10 does not count), then
// dead-lettered. Running the archived task again (as asynqmon's "run" does) sends nothing: its
// confirmation is used up. `dlq replay --all` skips it and says so; `dlq replay flush_all` needs
// --confirm, and with it sends exactly one more.
func TestFlushAllReplayNeedsFreshConfirmation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_MAX_RETRY=10")
	h.SB.FailFor(time.Hour, 503)
	if code, out, stderr := h.enqueue("", "--all", "--confirm=demo", "--reason", "replay test"); code != 0 {
		t.Fatalf("confirmed --all: exit %d: %s%s", code, out, stderr)
	}
	h.startWorker("PURGE_MAX_RETRY=0")
	h.deadLetters(t, tasks.QueueAll, 1, 15*time.Second, "the refused flush-all dead-lettered")
	if got, _ := allCalls(h); got != 1 {
		t.Errorf("%d flush-all calls before dead-lettering, want 1 (the worker's PURGE_MAX_RETRY=0)", got)
	}
	h.SB.ClearFaults()

	// asynqmon's "run" on the archived task: the handler refuses without a fresh confirmation.
	must(t, h.inspector().RunTask(tasks.QueueAll, tasks.TaskIDAll))
	testkit.WaitFor(t, 15*time.Second, "the re-run flush-all refused", func() bool {
		dl := h.archived(tasks.QueueAll)
		return len(dl) == 1 && strings.Contains(dl[0].LastErr, "no confirmation")
	})
	if got, _ := allCalls(h); got != 1 {
		t.Errorf("%d flush-all calls after a run from the dead-letter queue, want still 1", got)
	}

	code, out, stderr := h.enqueue("", "dlq", "replay", "--all")
	if code != 0 || !strings.Contains(stderr, "skipped 1 flush-all dead letter: ") || !strings.Contains(stderr, "--confirm") {
		t.Errorf("dlq replay --all: exit %d: %s%s", code, out, stderr)
	}
	code, _, stderr = h.enqueue("", "dlq", "replay", tasks.TaskIDAll)
	if code != 2 || !strings.Contains(stderr, "fresh confirmation") {
		t.Errorf("dlq replay flush_all without --confirm: exit %d, want 2: %s", code, stderr)
	}
	code, _, stderr = h.enqueue("", "dlq", "replay", tasks.TaskIDAll, "--confirm=wrong")
	if code != 2 {
		t.Errorf("dlq replay flush_all --confirm=wrong: exit %d, want 2: %s", code, stderr)
	}
	if got, _ := allCalls(h); got != 1 || len(h.archived(tasks.QueueAll)) != 1 {
		t.Fatalf("after refused replays: %d calls, %d dead letters; want 1 and 1", got, len(h.archived(tasks.QueueAll)))
	}
	code, out, stderr = h.enqueue("", "dlq", "replay", tasks.TaskIDAll, "--confirm=demo")
	if code != 0 {
		t.Fatalf("dlq replay flush_all --confirm=demo: exit %d: %s%s", code, out, stderr)
	}
	testkit.WaitFor(t, 15*time.Second, "the replayed flush-all sent", func() bool { _, acc := allCalls(h); return acc == 1 })
	if got, _ := allCalls(h); got != 2 {
		t.Errorf("%d flush-all calls in all, want 2 (one refused, one replayed)", got)
	}
}

// TestDeadLetterOutlivesAsynqArchive: a dead letter asynq trims from its archive (it keeps at most
// 10,000 per queue and 90 days, silently) is still listed by `enqueue dlq ls` from the product's
// own record, and `dlq replay` enqueues it again from that record; `dlq rm` forgets it. (The trim
// past 10,000 is TestFaultDeadLettersPastAsynqLimit's; here the dead letters are 91 days old.)
func TestDeadLetterOutlivesAsynqArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, "PURGE_BATCH_SIZE=1")
	us := []string{"https://img.example.com/trim/a.jpg", "https://img.example.com/trim/b.jpg"}
	for _, u := range us {
		h.SB.RejectURL(u)
	}
	h.mustEnqueue(t, us...)
	h.startWorker()
	testkit.WaitFor(t, 15*time.Second, "both URLs dead-lettered", func() bool { return len(h.archived(tasks.QueueInteractive)) == 2 })
	dl := h.archived(tasks.QueueInteractive)
	// They were dead-lettered 91 days ago, and asynq's trim (of entries archived more than 90 days
	// ago, whenever it archives a task) took them: gone from asynq, with no trace there.
	st := store.New(h.RDB)
	now, err := st.Now(ctx)
	must(t, err)
	for _, ti := range dl {
		d, ok, err := st.DeadLetterByID(ctx, ti.ID)
		if err != nil || !ok {
			t.Fatalf("no record of dead letter %s (%v)", ti.ID, err)
		}
		d.At = now - (taskq.ArchiveAge + 24*time.Hour).Milliseconds()
		must(t, st.KeepDeadLetter(ctx, d))
		must(t, h.RDB.ZRem(ctx, taskq.ArchivedKey(tasks.QueueInteractive), ti.ID).Err())
		must(t, h.RDB.Del(ctx, taskq.TaskKey(tasks.QueueInteractive, ti.ID)).Err())
	}
	if n := len(h.archived(tasks.QueueInteractive)); n != 0 {
		t.Fatalf("%d archived tasks left after the trim", n)
	}
	code, out, stderr := h.enqueue("", "dlq", "ls", "--json")
	var list []struct {
		ID        string   `json:"id"`
		URLs      []string `json:"urls"`
		LastError string   `json:"last_error"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("dlq ls --json after the trim: exit %d, %d entries: %s%s", code, len(list), out, stderr)
	}
	for _, d := range list {
		if len(d.URLs) != 1 || !strings.Contains(d.LastError, "400") {
			t.Errorf("entry %+v: want its URL and the API's answer", d)
		}
	}
	h.SB.ClearFaults()
	code, out, stderr = h.enqueue("", "dlq", "replay", list[0].ID)
	if code != 0 {
		t.Fatalf("dlq replay of a trimmed dead letter: exit %d: %s%s", code, out, stderr)
	}
	testkit.WaitFor(t, 15*time.Second, "the replayed URL invalidated", func() bool { return h.SB.URLCount(list[0].URLs[0]) == 1 })
	if code, out, stderr = h.enqueue("", "dlq", "rm", list[1].ID); code != 0 {
		t.Fatalf("dlq rm of a trimmed dead letter: exit %d: %s%s", code, out, stderr)
	}
	if code, out, _ = h.enqueue("", "dlq", "ls", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("dlq ls after replay and rm: exit %d: %s", code, out)
	}
}

// TestPauseStaysVisible: while a 429 pauses every worker, asynqmon's task error says
// "paused: 429" within its first 40 characters; after the pause ended, `enqueue status` and the
// status reading still name it, with the calls it held.
func TestPauseStaysVisible(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_BATCH_SIZE=1", "PURGE_CONCURRENCY=4")
	h.SB.ApplyFaults(&sandbox.Faults{RateLimit: &sandbox.Window{For: 300 * time.Millisecond, Code: http.StatusTooManyRequests, RetryAfter: "3"}})
	in := testkit.ImageURLs("pausevisible", 4)
	h.mustEnqueue(t, in...)
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "a task held by the pause, in retry", func() bool {
		ts, err := h.inspector().ListRetryTasks(tasks.QueueInteractive)
		if err != nil || len(ts) == 0 {
			return false
		}
		head := ts[0].LastErr[:min(40, len(ts[0].LastErr))]
		if !strings.Contains(head, "paused: 429") {
			t.Fatalf("asynqmon shows %q first: want \"paused: 429\" within 40 characters", head)
		}
		return true
	})
	testkit.WaitFor(t, 30*time.Second, "all invalidated after the pause", func() bool { return invalidatedAll(h.SB, in) })
	snap, err := status.NewReader(h.RDB).Read(context.Background(), status.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.RecentPauses) == 0 || snap.RecentPauses[0].Cause != store.PauseRateLimited || snap.RecentPauses[0].Ongoing ||
		snap.RecentPauses[0].Held == 0 || snap.Paused != "" {
		t.Fatalf("after the pause: recent %+v, paused %q; want an ended 429 pause that held calls", snap.RecentPauses, snap.Paused)
	}
	code, out, stderr := h.enqueue("", "status")
	t.Logf("enqueue status:\n%s", out)
	want := status.DescribePause(snap.RecentPauses[0])
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(want, "rate limited (429) from ") {
		t.Errorf("enqueue status (exit %d) does not show the pause %q:\n%s%s", code, want, out, stderr)
	}
}
