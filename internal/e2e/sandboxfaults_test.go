package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestSandboxFaultsFromTheEnvironment: the README's quick start with CLOUDIMAGE_SANDBOX_FAULTS: a
// URL matching reject= is dead-lettered with the sandbox's 400, the 429 window pauses every
// worker (not a failure), and the other URL is sent once the pause is over.
func TestSandboxFaultsFromTheEnvironment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good, bad := "https://img.example.com/products/42.jpg", "https://img.example.com/broken/7.jpg"
	h.mustEnqueue(t, good, bad)
	w := h.startWorker("CLOUDIMAGE_API_KEY=", "CLOUDIMAGE_API_URL=", "CLOUDIMAGE_SANDBOX=true",
		"CLOUDIMAGE_SANDBOX_FAULTS=reject=*/broken/*; 429=1s retry-after=1", "PURGE_MAX_RETRY=0")
	h.deadLetters(t, tasks.QueueInteractive, 1, 30*time.Second, "the broken URL dead-lettered")
	testkit.WaitFor(t, 30*time.Second, "the good URL sent", func() bool {
		_, out, _ := h.enqueue("", "status", good)
		return strings.Contains(out, "state          sent")
	})
	dl := h.archived(tasks.QueueInteractive)[0]
	if !strings.Contains(dl.LastErr, "400") || !strings.Contains(dl.LastErr, "url rejected: "+bad) {
		t.Errorf("dead letter: %q", dl.LastErr)
	}
	logs := w.Logs.String()
	for _, want := range []string{`"sandbox":true`, `"faults":"400 for URLs matching */broken/*; 429 for 1s, 0s after the first request (Retry-After: 1)"`,
		"rate limited by Cloudimage: every worker pauses", `"api_url":"http://127.0.0.1:`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %s", want)
		}
	}
	if strings.Contains(logs, "request failed for good") {
		t.Error("a 429 was counted as a failure")
	}
}

// TestSandboxFaultsRefused: a bad syntax, or faults without the sandbox, stop the worker at start
// with one line that names the variable.
func TestSandboxFaultsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"CLOUDIMAGE_SANDBOX_FAULTS=teapot=1s"}, "CLOUDIMAGE_SANDBOX_FAULTS is set but CLOUDIMAGE_SANDBOX is not true"},
		{[]string{"CLOUDIMAGE_API_KEY=", "CLOUDIMAGE_SANDBOX=true", "CLOUDIMAGE_SANDBOX_FAULTS=teapot=1s"}, `CLOUDIMAGE_SANDBOX_FAULTS: unknown fault "teapot"`},
	} {
		w := h.startWorker(tc.env...)
		select {
		case <-w.Done():
		case <-time.After(20 * time.Second):
			t.Fatal("the worker did not stop")
		}
		if w.Err() == nil || !strings.Contains(w.Err().Error(), tc.want) || strings.Contains(w.Err().Error(), "\n") {
			t.Errorf("%v: %v, want one line with %q", tc.env, w.Err(), tc.want)
		}
	}
}
