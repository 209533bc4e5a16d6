package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestStatusUsesTheFleetsSettings: enqueue status reports the rate the workers run with (they
// publish it), not the CLI's PURGE_RATE, and estimates the drain from it; a queue paused with
// asynq's pause shows in enqueue status and on /readyz, which stays ready and names it.
func TestStatusUsesTheFleetsSettings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.startWorker("PURGE_RATE=0.5", "PURGE_BURST=1", "PURGE_BATCH_SIZE=1")
	addr := w.Addr(t)
	// The CLI runs with another PURGE_RATE: what counts is the workers'.
	h.Env.Set("PURGE_RATE=1000")
	var rep map[string]any
	testkit.WaitFor(t, 20*time.Second, "the worker's settings in enqueue status --json", func() bool {
		_, out, _ := h.enqueue("", "status", "--json")
		rep = nil
		_ = json.Unmarshal([]byte(out), &rep)
		ws, _ := rep["workers"].([]any)
		return len(ws) == 1
	})
	if rep["configured_rate"] != 0.5 || rep["configured_rate_from"] != "workers" {
		t.Errorf("configured rate %v from %v, want 0.5 from workers", rep["configured_rate"], rep["configured_rate_from"])
	}
	if err := h.inspector().PauseQueue(tasks.QueueInteractive); err != nil {
		// asynq registers a queue on its first task: enqueue one first.
		h.mustEnqueue(t, testkit.ImageURLs("fleet-first", 1)...)
		testkit.WaitFor(t, 20*time.Second, "the queue exists", func() bool { return h.inspector().PauseQueue(tasks.QueueInteractive) == nil })
	}
	in := testkit.ImageURLs("fleet", 20)
	h.mustEnqueue(t, in...)
	// The batcher forms tasks no faster than they can be sent: some wait on the paused queue, the
	// rest in the pending set.
	testkit.WaitFor(t, 20*time.Second, "request tasks waiting on the paused queue", func() bool {
		info, err := h.inspector().GetQueueInfo(tasks.QueueInteractive)
		return err == nil && info.Pending >= 1
	})
	// Everything waits on the paused queue (the window's URLs too: the batcher's tasks go there),
	// so nothing drains: no time to drain, only the pause named.
	_, out, _ := h.enqueue("", "status")
	for _, want := range []string{"workers alive: 1 (PURGE_RATE=0.5", "configured 0.5 calls/s, from the workers",
		"QUEUE PAUSED: purge", "asynq queue unpause purge", "the whole backlog is in paused queues (purge): it does not drain until they are unpaused"} {
		if !strings.Contains(out, want) {
			t.Errorf("enqueue status does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "to drain at ") {
		t.Errorf("enqueue status estimates a drain time for a backlog that a paused queue holds:\n%s", out)
	}
	code, body := testkit.Get(t, "http://"+addr+"/readyz")
	var rd map[string]any
	_ = json.Unmarshal([]byte(body), &rd)
	if code != 200 || rd["ready"] != true || !strings.Contains(body, `"paused_queues":["purge"]`) || !strings.Contains(body, "asynq queue unpause") {
		t.Errorf("/readyz with a paused queue: %d %s", code, body)
	}
	if err := h.inspector().UnpauseQueue(tasks.QueueInteractive); err != nil {
		t.Fatal(err)
	}
	code, body = testkit.Get(t, "http://"+addr+"/readyz")
	if code != 200 || strings.Contains(body, "paused_queues") {
		t.Errorf("/readyz after unpause: %d %s", code, body)
	}
}
