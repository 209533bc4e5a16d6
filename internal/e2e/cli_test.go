package e2e

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/cli/workercmd"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestUsageErrorsAreShort: a wrong flag or a missing argument is one line that points at --help,
// exit 2; --help itself is the whole usage on stdout, spelled --all (never -all), exit 0.
func TestUsageErrorsAreShort(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, args := range [][]string{nil, {"--nope"}, {"status", "--nope"}, {"dlq"}, {"dlq", "ls", "--nope"}, {"--confirm=x"}} {
		code, out, stderr := h.enqueue("", args...)
		if code != 2 || out != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--help") {
			t.Errorf("enqueue %q: exit %d, stdout %q, stderr %q: want exit 2 and one line naming --help", args, code, out, stderr)
		}
	}
	code, out, stderr := h.enqueue("", "--help")
	if code != 0 || stderr != "" || !strings.Contains(out, "--all --cancel") || !strings.Contains(out, "\n  --all\n") ||
		strings.Contains(out, "\n  -all") {
		t.Errorf("--help: exit %d, stderr %q:\n%s", code, stderr, out)
	}
	code, out, _ = h.enqueue("", "--version")
	if code != 0 || !strings.HasPrefix(out, "cipurge enqueue ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if code, _, stderr := h.enqueue("", "dlq", "ls", "--queue", "nope"); code != 2 || !strings.Contains(stderr, `unknown --queue "nope"`) {
		t.Errorf("unknown queue: exit %d, %q", code, stderr)
	}
	if code, out, _ := h.enqueue("", "dlq", "ls", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty dlq ls --json: exit %d, %q, want []", code, out)
	}
}

// TestDeadLettersCountedAndDeletedWithConfirmation: --limit says how many it shows of how many,
// rm --all refuses without --yes off a terminal, and the status of a dead URL says it is dead
// with the task ID dlq replay takes.
func TestDeadLettersCountedAndDeletedWithConfirmation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	bad := testkit.ImageURLs("cli-dead", 3)
	for _, u := range bad {
		h.SB.RejectURL(u)
	}
	h.mustEnqueue(t, bad...)
	w := h.startWorker()
	h.deadLetters(t, tasks.QueueInteractive, 3, 30*time.Second, "3 dead letters")
	must(t, w.Stop(t))

	code, out, stderr := h.enqueue("", "dlq", "ls", "--limit", "1")
	if code != 0 || !strings.Contains(out, "showing 1 of 3 dead letters") {
		t.Errorf("dlq ls --limit 1: exit %d\n%s%s", code, out, stderr)
	}
	// The status of a dead URL: dead, why, and the task that dlq replay takes (not the task it
	// was in before the batch was split).
	code, out, stderr = h.enqueue("", "status", bad[1])
	id := ""
	for _, ti := range h.archived(tasks.QueueInteractive) {
		if strings.Contains(string(ti.Payload), bad[1]) {
			id = ti.ID
		}
	}
	if code != 0 || id == "" || !strings.Contains(out, "dead-lettered") || !strings.Contains(out, "enqueue dlq replay "+id) ||
		strings.Contains(out, "waiting to be sent") {
		t.Errorf("status of a dead URL (task %s): exit %d\n%s%s", id, code, out, stderr)
	}
	code, out, _ = h.enqueue("", "status", "--json", bad[1])
	var rep []map[string]any
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || len(rep) != 1 || rep[0]["state"] != "dead" ||
		rep[0]["task"] != id || rep[0]["task_state"] != "archived" {
		t.Errorf("status --json of a dead URL: exit %d, %v\n%s", code, err, out)
	}

	code, _, stderr = h.enqueue("", "dlq", "rm", "--all")
	if code != 2 || !strings.Contains(stderr, "--yes") || len(h.archived(tasks.QueueInteractive)) != 3 {
		t.Errorf("rm --all without --yes off a terminal: exit %d, %q, %d dead letters left", code, stderr, len(h.archived(tasks.QueueInteractive)))
	}
	code, out, _ = h.enqueue("", "dlq", "rm", "--all", "--yes")
	if code != 0 || !strings.Contains(out, "deleted 3 dead letters") || len(h.archived(tasks.QueueInteractive)) != 0 {
		t.Errorf("rm --all --yes: exit %d, %q", code, out)
	}
	code, out, _ = h.enqueue("", "status", bad[1])
	if code != 0 || !strings.Contains(out, "dead letter was deleted") {
		t.Errorf("status of a URL whose dead letter was deleted:\n%s", out)
	}
}

// TestFlushAllCancel: a queued flush-all is removed with enqueue --all --cancel, and a new one
// can be requested after it.
func TestFlushAllCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustEnqueue(t, "--all", "--confirm=demo")
	code, _, stderr := h.enqueue("", "--all", "--confirm=demo")
	if code != 2 || !strings.Contains(stderr, "enqueue --all --cancel") {
		t.Errorf("second flush-all: exit %d, %q: the refusal must say how to cancel the first", code, stderr)
	}
	if code, _, stderr := h.enqueue("", "dlq", "rm", tasks.TaskIDAll); code != 1 || !strings.Contains(stderr, "enqueue --all --cancel") {
		t.Errorf("dlq rm flush_all: exit %d, %q", code, stderr)
	}
	code, out, stderr := h.enqueue("", "--all", "--cancel")
	if code != 0 || !strings.Contains(out, "flush-all cancelled") {
		t.Errorf("--all --cancel: exit %d, %q %q", code, out, stderr)
	}
	if _, err := h.inspector().GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll); err == nil {
		t.Error("the flush-all task is still there")
	}
	m, err := h.RDB.HGetAll(context.Background(), store.KeyAll).Result()
	must(t, err)
	for f := range m {
		if strings.HasPrefix(f, store.FieldAllConfirmed) {
			t.Errorf("the cancelled flush-all's confirmation is not used up: %s", f)
		}
	}
	if code, out, _ := h.enqueue("", "--all", "--cancel"); code != 0 || !strings.Contains(out, "nothing to cancel") {
		t.Errorf("--all --cancel with none queued: exit %d, %q", code, out)
	}
	if code, _, stderr := h.enqueue("", "--all", "--confirm=demo"); code != 0 {
		t.Errorf("a new flush-all after the cancel: exit %d, %q", code, stderr)
	}
	_ = asynq.TaskStateActive
}

// TestWorkerHealthcheck: worker healthcheck exits 0 when the worker at HTTP_ADDR answers /healthz
// and 1 when nothing does; worker --help lists every variable.
func TestWorkerHealthcheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	var out strings.Builder
	if code := workercmd.Main(context.Background(), []string{"healthcheck"}, h.Env.With("HTTP_ADDR="+addr).List(), &out, &out); code != 1 {
		t.Errorf("healthcheck with no worker: exit %d, want 1: %s", code, out.String())
	}
	h.startWorker("HTTP_ADDR=" + addr)
	testkit.WaitFor(t, 20*time.Second, "healthcheck exits 0", func() bool {
		var b strings.Builder
		return workercmd.Main(context.Background(), []string{"healthcheck"}, h.Env.With("HTTP_ADDR=0.0.0.0:"+strings.Split(addr, ":")[1]).List(), &b, &b) == 0
	})
	out.Reset()
	if code := workercmd.Main(context.Background(), []string{"--help"}, nil, &out, &out); code != 0 ||
		!strings.Contains(out.String(), "PURGE_WINDOW") || !strings.Contains(out.String(), "CLOUDIMAGE_API_KEY_FILE") {
		t.Errorf("worker --help: exit %d\n%s", code, out.String())
	}
}
