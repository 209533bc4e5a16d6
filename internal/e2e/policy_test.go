package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestFailurePolicyEndToEnd: single-URL requests answered 408, 425, 502 and 503 are all
// invalidated in the end and none is dead-lettered; a 404 from the endpoint stops sending (the
// reason on /readyz), dead-letters nothing, and sending resumes by itself once it answers again.
func TestFailurePolicyEndToEnd(t *testing.T) {
	h := newHarness(t, "PURGE_BATCH_SIZE=1", "PURGE_MAX_RETRY=3")
	w := h.startWorker()
	addr := w.httpAddr(t)
	deadLetters := func() int {
		n := 0
		for _, q := range tasks.QueueNames() {
			n += len(h.archived(q))
		}
		return n
	}
	for _, code := range []int{408, 425, 502, 503} {
		h.sb.FailNext(2, code)
		us := testkit.ImageURLs("policy-"+strconv.Itoa(code), 2)
		if c, _, errb := h.enqueue("", us...); c != 0 {
			t.Fatalf("enqueue: exit %d: %s", c, errb)
		}
		testkit.WaitFor(t, 30*time.Second, "URLs answered "+http.StatusText(code)+" invalidated", func() bool { return invalidatedAll(h.sb, us) })
		if !codeSeen(h, code) {
			t.Errorf("the sandbox never answered %d", code)
		}
	}
	if n := deadLetters(); n != 0 {
		t.Fatalf("%d dead letters after transient answers, want 0", n)
	}

	h.sb.FailFor(time.Hour, 404)
	held := testkit.ImageURLs("policy-404", 3)
	if c, _, errb := h.enqueue("", held...); c != 0 {
		t.Fatalf("enqueue: exit %d: %s", c, errb)
	}
	testkit.WaitFor(t, 20*time.Second, "/readyz saying the endpoint is wrong", func() bool {
		code, body := testkit.Get(t, "http://"+addr+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "404") && strings.Contains(body, "CLOUDIMAGE_API_URL")
	})
	if n := deadLetters(); n != 0 {
		t.Fatalf("%d dead letters after 404s from the endpoint, want 0 (the work is kept)", n)
	}
	h.sb.ClearFaults()
	testkit.WaitFor(t, 30*time.Second, "the URLs held by the 404s invalidated", func() bool { return invalidatedAll(h.sb, held) })
	if n := deadLetters(); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
	testkit.WaitFor(t, 10*time.Second, "/readyz ready again", func() bool {
		code, _ := testkit.Get(t, "http://"+addr+"/readyz")
		return code == http.StatusOK
	})
}
