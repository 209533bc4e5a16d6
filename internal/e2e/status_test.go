package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/testkit"
)

// TestStatusOnAFreshRedis: status and dlq work before any queue exists.
func TestStatusOnAFreshRedis(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	code, out, stderr := h.enqueue("", "status")
	if code != 0 || !strings.Contains(out, "QUEUE") || !strings.Contains(out, "dead letters: 0") {
		t.Errorf("status on a fresh Redis: exit %d:\n%s%s", code, out, stderr)
	}
	// No worker alive: the configured rate is this command's own, said in English.
	if !strings.Contains(out, "calls/s, from the PURGE_RATE of this command (no worker alive))\n") || strings.Contains(out, "the this") {
		t.Errorf("status with no worker alive does not say where the configured rate comes from:\n%s", out)
	}
	code, out, stderr = h.enqueue("", "dlq", "ls")
	if code != 0 || !strings.Contains(out, "empty") {
		t.Errorf("dlq ls on a fresh Redis: exit %d:\n%s%s", code, out, stderr)
	}
}

// TestStatusFollowsAURL: status URL says where a request is: pending in its window, queued in a
// request task, then sent.
func TestStatusFollowsAURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_WINDOW=300ms", "PURGE_RATE=0.2", "PURGE_BURST=1", "PURGE_BATCH_SIZE=1")
	in := testkit.ImageURLs("follow", 2)
	h.mustEnqueue(t, in...)
	_, out, _ := h.enqueue("", "status", in[1])
	if !strings.Contains(out, "pending since") {
		t.Errorf("a URL in its window is not shown as pending:\n%s", out)
	}
	h.startWorker()
	// At 0.2 requests/s the second URL waits in its request task for about 5s after the first.
	testkit.WaitFor(t, 10*time.Second, "the first URL sent", func() bool { return h.SB.Stats().Accepted == 1 })
	queued := in[1]
	if h.SB.URLCount(queued) == 1 {
		queued = in[0]
	}
	_, out, _ = h.enqueue("", "status", queued)
	if !strings.Contains(out, "queued") || !strings.Contains(out, "urls_") {
		t.Errorf("a URL waiting in a request task is not shown as queued with its task:\n%s", out)
	}
	testkit.WaitFor(t, 15*time.Second, "both sent", func() bool { return invalidatedAll(h.SB, in) })
	_, out, _ = h.enqueue("", "status", queued)
	if !strings.Contains(out, "sent") || strings.Contains(out, "waiting to be sent") {
		t.Errorf("a sent URL:\n%s", out)
	}
}

// TestStatusUsesTheWorkersSettings: status estimates from the settings the running workers
// publish, not from its own environment, and counts the status checks waiting.
func TestStatusUsesTheWorkersSettings(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_CONFIRM=true", "PURGE_CONFIRM_DELAY=1h") // the CLI's PURGE_RATE is 0
	h.startWorker("PURGE_RATE=3", "PURGE_BURST=1")
	in := testkit.ImageURLs("published", 15)
	h.mustEnqueue(t, in...)
	testkit.WaitFor(t, 20*time.Second, "the URLs sent", func() bool { return invalidatedAll(h.SB, in) })
	var rep struct {
		Workers        []json.RawMessage `json:"workers"`
		ConfiguredRate float64           `json:"configured_rate"`
		ConfirmBacklog int64             `json:"confirm_backlog"`
	}
	testkit.WaitFor(t, 20*time.Second, "status to show the worker and its status check", func() bool {
		code, out, _ := h.enqueue("", "status", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
			return false
		}
		return len(rep.Workers) == 1 && rep.ConfirmBacklog == 1
	})
	if rep.ConfiguredRate != 3 {
		t.Errorf("status shows PURGE_RATE=%g; the worker runs with 3 (the CLI's environment says 0)", rep.ConfiguredRate)
	}
	_, out, _ := h.enqueue("", "status")
	if !strings.Contains(out, "PURGE_RATE=3") || !strings.Contains(out, "status checks waiting: 1") ||
		!strings.Contains(out, "(configured 3 calls/s, from the workers)") {
		t.Errorf("status:\n%s", out)
	}
}

// TestReadyDuringA429Pause: while every worker waits out Cloudimage's Retry-After, /readyz stays
// 200 and names the pause (a 503 would take every worker's intake out of service at once, while
// nothing is wrong with any of them), and enqueue status says the same.
func TestReadyDuringA429Pause(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_BATCH_SIZE=1")
	h.SB.ApplyFaults(&sandbox.Faults{RateLimit: &sandbox.Window{For: time.Minute, Code: http.StatusTooManyRequests, RetryAfter: "60"}})
	if code, _, stderr := h.enqueue("", testkit.ImageURLs("ready429", 2)...); code != 0 {
		t.Fatal(stderr)
	}
	w := h.startWorker()
	addr := w.Addr(t)
	var code int
	var body string
	testkit.WaitFor(t, 20*time.Second, "/readyz to name the pause after the 429", func() bool {
		code, body = testkit.Get(t, "http://"+addr+"/readyz")
		return strings.Contains(body, `"paused":`)
	})
	var rd map[string]any
	_ = json.Unmarshal([]byte(body), &rd)
	if code != http.StatusOK || rd["ready"] != true || !strings.Contains(body, "429") || !strings.Contains(body, "sending is paused for every worker") {
		t.Errorf("/readyz during the shared pause: %d %s; want 200, ready, naming the 429", code, body)
	}
	if _, out, _ := h.enqueue("", "status"); !strings.Contains(out, "PAUSED: ") || !strings.Contains(out, "429") {
		t.Errorf("enqueue status during the shared pause:\n%s", out)
	}
}

// TestStatusDrainAfterAQuietMinute: after one URL in a minute, a burst of 600 URLs (40 calls) is
// estimated at the workers' PURGE_RATE (4 s), not at the 0.02 calls/s the quiet minute measured
// (40 min), and drains about that fast.
func TestStatusDrainAfterAQuietMinute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_WINDOW=3s", "PURGE_MAX_DELAY=3s") // the burst waits in its window while status reads it
	h.startWorker("PURGE_RATE=10", "PURGE_BURST=1")
	first := testkit.ImageURLs("quiet-first", 1)
	if code, _, stderr := h.enqueue("", first...); code != 0 {
		t.Fatal(stderr)
	}
	testkit.WaitFor(t, 20*time.Second, "the first URL sent", func() bool { return invalidatedAll(h.SB, first) })
	burst := testkit.ImageURLs("quiet-burst", 600)
	if code, _, stderr := h.enqueue("", burst...); code != 0 {
		t.Fatal(stderr)
	}
	start := time.Now()
	var rep struct {
		BacklogCalls  int64   `json:"backlog_calls"`
		DrainSeconds  float64 `json:"drain_seconds"`
		DrainRate     float64 `json:"drain_rate"`
		DrainRateFrom string  `json:"drain_rate_from"`
		DrainNote     string  `json:"drain_note"`
	}
	code, out, stderr := h.enqueue("", "status", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("status --json: exit %d\n%s%s", code, out, stderr)
	}
	if rep.DrainRate != 10 || rep.DrainRateFrom != "configured" || rep.DrainSeconds < 1 || rep.DrainSeconds > 5 {
		t.Errorf("after a quiet minute, %d calls: %gs at %g calls/s from %q (%s); want about 4s at the workers' PURGE_RATE=10",
			rep.BacklogCalls, rep.DrainSeconds, rep.DrainRate, rep.DrainRateFrom, rep.DrainNote)
	}
	testkit.WaitFor(t, 30*time.Second, "the burst sent", func() bool { return invalidatedAll(h.SB, burst) })
	t.Logf("estimated %gs at %g calls/s (%s); drained in %s", rep.DrainSeconds, rep.DrainRate, rep.DrainNote, time.Since(start).Round(100*time.Millisecond))
}
