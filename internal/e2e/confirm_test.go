package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// confirmEnv turns status checking on with short delays.
var confirmEnv = []string{"PURGE_CONFIRM=true", "PURGE_CONFIRM_DELAY=100ms", "PURGE_MAX_RESENDS=2"}

func (h *harness) state(t *testing.T, key string) store.Record {
	t.Helper()
	rec, _, err := store.New(h.RDB).History(context.Background(), key)
	must(t, err)
	return rec
}

// TestConfirmedInvalidation: the worker follows an accepted request to DONE, records it, and
// `enqueue status URL` shows when it was requested, sent, in which request, and that it is confirmed.
func TestConfirmedInvalidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, confirmEnv...)
	// RECEIVED -> ... -> DONE in 2s: the first check (due on asynq's 1s poll) finds it unfinished.
	h.SB.SetStatusDelay(2 * time.Second)
	u := "https://img.example.com/confirm/ok.jpg"
	h.mustEnqueue(t, u)
	h.startWorker()
	testkit.WaitFor(t, 15*time.Second, "the invalidation confirmed", func() bool { return h.state(t, u).State == store.StateConfirmed })
	if n := h.SB.Stats().StatusRequests; n < 2 {
		t.Errorf("%d status requests; a 2s life cycle checked from about 1s needs at least 2", n)
	}
	rec := h.state(t, u)
	if acc := h.SB.Accepted(); len(acc) != 1 || acc[0].UUID != rec.UUID {
		t.Errorf("history uuid %q does not match the accepted request %+v", rec.UUID, acc)
	}
	code, out, stderr := h.enqueue("", "status", "https://demo.cloudimg.io/img.example.com/confirm/ok.jpg?w=300")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, want := range []string{u, "requested", "sent", rec.UUID, "confirmed"} {
		if !strings.Contains(out, want) {
			t.Errorf("enqueue status does not show %q:\n%s", want, out)
		}
	}
}

// TestFailedURLIsResentThenDeadLettered: a URL Cloudimage lists under failed is sent again as a
// new request; after PURGE_MAX_RESENDS it is dead-lettered with the uuids and statuses it went
// through, and a replay of that entry sends it once more. The other URLs are confirmed, sent once.
func TestFailedURLIsResentThenDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, confirmEnv...)
	in := testkit.ImageURLs("failedinstatus", 3)
	bad := in[1]
	h.SB.FailURLInStatus(bad)
	h.mustEnqueue(t, in...)
	h.startWorker()
	dl := h.deadLetters(t, tasks.QueueInteractive, 1, 30*time.Second, "the failing URL dead-lettered")
	if n := h.SB.URLCount(bad); n != 3 {
		t.Errorf("the failing URL was sent %d times, want 3 (1 + PURGE_MAX_RESENDS=2)", n)
	}
	for _, u := range []string{in[0], in[2]} {
		if n := h.SB.URLCount(u); n != 1 {
			t.Errorf("%s sent %d times, want 1", u, n)
		}
		testkit.WaitFor(t, 5*time.Second, u+" confirmed", func() bool { return h.state(t, u).State == store.StateConfirmed })
	}
	p, err := tasks.DecodeURLs(dl[0].Payload)
	must(t, err)
	if len(p.URLs) != 1 || p.URLs[0] != bad || len(p.Previous) != 3 {
		t.Errorf("dead letter: urls %v, previous %v; want [%s] and 3 attempts", p.URLs, p.Previous, bad)
	}
	for _, a := range p.Previous {
		if !strings.Contains(dl[0].LastErr, a.UUID) {
			t.Errorf("dead letter's reason does not name uuid %s: %q", a.UUID, dl[0].LastErr)
		}
	}
	if st := h.state(t, bad).State; st != store.StateDead {
		t.Errorf("history state %q, want dead", st)
	}
	// The operator replays it: one more send.
	if code, out, stderr := h.enqueue("", "dlq", "replay", dl[0].ID); code != 0 {
		t.Fatalf("replay: exit %d: %s%s", code, out, stderr)
	}
	testkit.WaitFor(t, 10*time.Second, "the replayed URL sent once more", func() bool { return h.SB.URLCount(bad) == 4 })
}

// TestErrorStatusIsResent: a request that ends in ERROR is sent again, and then confirmed.
func TestErrorStatusIsResent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, confirmEnv...)
	h.SB.ErrorNext(1)
	in := testkit.ImageURLs("errorstatus", 2)
	h.mustEnqueue(t, in...)
	h.startWorker()
	for _, u := range in {
		testkit.WaitFor(t, 20*time.Second, u+" confirmed after a resend", func() bool { return h.state(t, u).State == store.StateConfirmed })
		if n := h.SB.URLCount(u); n != 2 {
			t.Errorf("%s sent %d times, want 2 (ERROR, then DONE)", u, n)
		}
	}
	if dl := h.archived(tasks.QueueInteractive); len(dl) != 0 {
		t.Errorf("dead-lettered: %s", dl[0].LastErr)
	}
}

// TestConfirmOff: PURGE_CONFIRM=false sends no status request.
func TestConfirmOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_CONFIRM=false")
	u := "https://img.example.com/confirmoff/a.jpg"
	h.mustEnqueue(t, u)
	h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "sent", func() bool { return h.SB.URLCount(u) == 1 })
	// The accepted call's handler records any status check before its task completes: a status
	// check would be in the record (store.KeyChecks), the confirm queue, or already sent.
	if n, err := store.New(h.RDB).ChecksWaiting(context.Background()); err != nil || n != 0 {
		t.Errorf("%d status checks recorded with PURGE_CONFIRM=false (%v)", n, err)
	}
	h.waitIdle(t)
	if n := h.SB.Stats().StatusRequests; n != 0 {
		t.Errorf("%d status requests with PURGE_CONFIRM=false", n)
	}
	info, err := h.inspector().GetQueueInfo(tasks.QueueConfirm)
	if err == nil && info.Size != 0 {
		t.Errorf("%d status checks queued with PURGE_CONFIRM=false", info.Size)
	}
	if st := h.state(t, u).State; st != "sent" {
		t.Errorf("history state %q, want sent", st)
	}
}

// TestUnknownUUIDIsUnconfirmed: a status check Cloudimage refuses (the uuid is unknown) marks the
// URLs unconfirmed with the reason; it is not dead-lettered and not asked again.
func TestUnknownUUIDIsUnconfirmed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, confirmEnv...)
	h.SB.SetStatusDelay(time.Hour)
	u := "https://img.example.com/confirm/unknown.jpg"
	h.mustEnqueue(t, u)
	h.startWorker()
	testkit.WaitFor(t, 10*time.Second, "sent", func() bool { return h.SB.URLCount(u) == 1 })
	h.SB.Reset() // the sandbox forgets every uuid: status checks get 404
	testkit.WaitFor(t, 10*time.Second, "marked unconfirmed", func() bool { return h.state(t, u).State == store.StateUnconfirmed })
	if rec := h.state(t, u); !strings.Contains(rec.Detail, "404") {
		t.Errorf("the reason does not carry the API's answer: %q", rec.Detail)
	}
	if dl := h.archived(tasks.QueueConfirm); len(dl) != 0 {
		t.Errorf("a refused status check was dead-lettered: %s", dl[0].LastErr)
	}
}

// TestConfirmOutOfRetriesIsUnconfirmed: status checks that fail until their retries are used up
// (PURGE_MAX_RETRY=1: two attempts) mark the URLs unconfirmed with the reason, instead of leaving
// them "sent" until the history expires.
func TestConfirmOutOfRetriesIsUnconfirmed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, append(confirmEnv, "PURGE_MAX_RETRY=1")...)
	h.SB.FailStatusNext(1000, 503)
	u := "https://img.example.com/confirm/retries.jpg"
	h.mustEnqueue(t, u)
	h.startWorker()
	testkit.WaitFor(t, 30*time.Second, "marked unconfirmed", func() bool { return h.state(t, u).State == "unconfirmed" })
	if rec := h.state(t, u); !strings.Contains(rec.Detail, "503") {
		t.Errorf("the reason does not carry the API's answer: %q", rec.Detail)
	}
	if n := h.SB.Stats().StatusRequests; n != 2 {
		t.Errorf("%d status requests, want 2 (PURGE_MAX_RETRY=1)", n)
	}
}

// applyFaults installs faults written as CLOUDIMAGE_SANDBOX_FAULTS writes them on the harness's sandbox.
func (h *harness) applyFaults(t *testing.T, spec string) {
	t.Helper()
	f, err := sandbox.ParseFaults(spec)
	must(t, err)
	h.SB.ApplyFaults(f)
}

// TestErrorCDNNodeIsResentThenDeadLettered (issue 24): a request Cloudimage reports in
// ERROR_CDN_NODE (any status that starts with ERROR) ends its status check as a failure and
// follows the failed-URL policy: sent again PURGE_MAX_RESENDS times, then dead-lettered with the
// statuses it went through. A URL of another request is confirmed, sent once.
func TestErrorCDNNodeIsResentThenDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, confirmEnv...)
	h.applyFaults(t, "status=ERROR_CDN_NODE match=*/edgefail/*")
	bad, good := "https://img.example.com/edgefail/1.jpg", "https://img.example.com/edgeok/1.jpg"
	h.mustEnqueue(t, bad)
	h.startWorker()
	dl := h.deadLetters(t, tasks.QueueInteractive, 1, 30*time.Second, "the ERROR_CDN_NODE URL dead-lettered")
	if n := h.SB.URLCount(bad); n != 3 {
		t.Errorf("sent %d times, want 3 (1 + PURGE_MAX_RESENDS=2)", n)
	}
	if !strings.Contains(dl[0].LastErr, "ERROR_CDN_NODE") {
		t.Errorf("the dead letter does not name the status: %q", dl[0].LastErr)
	}
	if st := h.state(t, bad).State; st != store.StateDead {
		t.Errorf("history state %q, want dead", st)
	}
	h.mustEnqueue(t, good)
	testkit.WaitFor(t, 15*time.Second, "the other URL confirmed", func() bool { return h.state(t, good).State == store.StateConfirmed })
	if n := h.SB.URLCount(good); n != 1 {
		t.Errorf("the other URL was sent %d times, want 1", n)
	}
}

// TestUnknownStatusKeepsChecking (issue 24): a status Cloudimage does not document keeps the
// check going (no resend, no dead letter) until DONE; it is counted by status in
// cipurge_api_unknown_status_total and logged once, however many checks see it.
func TestUnknownStatusKeepsChecking(t *testing.T) {
	t.Parallel()
	h := newHarness(t, confirmEnv...)
	h.applyFaults(t, "status=QUEUED_ON_MARS for=12s")
	u := "https://img.example.com/unknownstatus/1.jpg"
	h.mustEnqueue(t, u)
	w := h.startWorker()
	testkit.WaitFor(t, 40*time.Second, "confirmed once the unknown status gives way to DONE", func() bool {
		return h.state(t, u).State == store.StateConfirmed
	})
	if n := h.SB.URLCount(u); n != 1 {
		t.Errorf("sent %d times, want 1: an unknown status is not a failure", n)
	}
	if n := h.SB.Stats().StatusRequests; n < 3 {
		t.Errorf("%d status requests; the unknown status for 12s, checked from about 1s (5s apart), needs at least 3", n)
	}
	if n := strings.Count(w.Logs.String(), "Cloudimage reported a status it does not document"); n != 1 {
		t.Errorf("the unknown status was logged %d times, want once", n)
	}
	_, body := testkit.Get(t, "http://"+w.Addr(t)+"/metrics")
	if !strings.Contains(body, `cipurge_api_unknown_status_total{status="QUEUED_ON_MARS"}`) {
		t.Errorf("the metric does not count the status:\n%s", testkit.Tail(body, 40))
	}
	if dl := h.archived(tasks.QueueInteractive); len(dl) != 0 {
		t.Errorf("dead-lettered: %s", dl[0].LastErr)
	}
}
