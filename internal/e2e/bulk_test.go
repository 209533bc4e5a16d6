package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestBulkTaskSendsEachRequest: a bulk task carries several API requests' worth of URLs; the
// worker sends them in requests of at most 15, each URL once, and the summary counts requests.
func TestBulkTaskSendsEachRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := testkit.ImageURLs("bulkeach", 2*tasks.BulkRequests*tasks.MaxURLsPerTask+7) // two full bulk tasks and a short one
	code, _, stderr := h.enqueue(strings.Join(in, "\n")+"\n", "--bulk", "-f", "-")
	if code != 0 || !strings.Contains(stderr, "in 21 bulk requests") {
		t.Fatalf("bulk enqueue: exit %d: %s", code, stderr)
	}
	info, err := h.inspector().GetQueueInfo(tasks.QueueBulk)
	must(t, err)
	if info.Pending != 3 {
		t.Errorf("%d bulk tasks pending, want 3 (150 + 150 + 7 URLs)", info.Pending)
	}
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "every URL invalidated", func() bool { return invalidatedAll(h.SB, in) })
	acc := h.SB.Accepted()
	if len(acc) != 21 {
		t.Errorf("%d requests, want 21 (ceil(307/15))", len(acc))
	}
	for _, r := range acc {
		if len(r.URLs) > tasks.MaxURLsPerTask {
			t.Errorf("a request carried %d URLs", len(r.URLs))
		}
	}
	for _, u := range in {
		if n := h.SB.URLCount(u); n != 1 {
			t.Errorf("%s sent %d times, want 1", u, n)
		}
	}
}

// TestBulkTaskFailureSplitsTheRest: when a request of a bulk task fails, that request and the ones
// after it go on as request tasks of their own: the good URLs are sent once, and the dead-letter
// queue holds only the bad URL, not the bulk task.
func TestBulkTaskFailureSplitsTheRest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_CONCURRENCY=1")
	in := testkit.ImageURLs("bulksplit", tasks.BulkRequests*tasks.MaxURLsPerTask)
	bad := in[4*tasks.MaxURLsPerTask+3] // in the fifth request
	h.SB.RejectURL(bad)
	if code, _, stderr := h.enqueue(strings.Join(in, "\n")+"\n", "--bulk", "-f", "-"); code != 0 {
		t.Fatalf("bulk enqueue: exit %d: %s", code, stderr)
	}
	h.startWorker()
	var good []string
	for _, u := range in {
		if u != bad {
			good = append(good, u)
		}
	}
	testkit.WaitFor(t, 20*time.Second, "the good URLs invalidated", func() bool { return invalidatedAll(h.SB, good) })
	dl := h.deadLetters(t, tasks.QueueBulk, 1, 10*time.Second, "the bad URL dead-lettered")
	p, err := tasks.DecodeURLs(dl[0].Payload)
	must(t, err)
	if len(p.URLs) != 1 || p.URLs[0] != bad {
		t.Errorf("dead letter holds %d URLs %v, want only %s", len(p.URLs), p.URLs, bad)
	}
	for _, u := range good {
		if n := h.SB.URLCount(u); n != 1 {
			t.Errorf("%s sent %d times, want 1", u, n)
		}
	}
	if n := h.SB.URLCount(bad); n != 0 {
		t.Errorf("bad URL accepted %d times", n)
	}
}

// TestBulkTaskOutageIsShared: a 5xx inside a bulk task pauses every worker (the shared backoff)
// and the rest of the task is retried as request tasks of their own, without a dead letter.
func TestBulkTaskOutageIsShared(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_BACKOFF_BASE=300ms", "PURGE_BACKOFF_MAX=300ms")
	in := testkit.ImageURLs("bulkoutage", tasks.BulkRequests*tasks.MaxURLsPerTask)
	h.SB.FailNext(1, 503)
	if code, _, stderr := h.enqueue(strings.Join(in, "\n")+"\n", "--bulk", "-f", "-"); code != 0 {
		t.Fatalf("bulk enqueue: exit %d: %s", code, stderr)
	}
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "every URL invalidated", func() bool { return invalidatedAll(h.SB, in) })
	reqs := h.SB.Requests()
	if len(reqs) == 0 || reqs[0].Code != 503 {
		t.Fatalf("the first request was not the injected 503: %+v", reqs[:min(len(reqs), 1)])
	}
	// The task's requests go concurrently, so some were on their way when the 503 came back; no
	// request starts after that until the shared backoff ends.
	for _, r := range reqs[1:] {
		if d := r.At.Sub(reqs[0].At); d > 100*time.Millisecond && d < 300*time.Millisecond {
			t.Errorf("a request came %s after the 503, within the shared backoff of 300ms", d)
		}
	}
	for _, u := range in {
		if n := h.SB.URLCount(u); n != 1 {
			t.Errorf("%s sent %d times, want 1", u, n)
		}
	}
	if dl := h.archived(tasks.QueueBulk); len(dl) != 0 {
		t.Errorf("%d dead letters after one 503: %s", len(dl), dl[0].LastErr)
	}
}
