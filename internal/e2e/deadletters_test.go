package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// dlqList is `enqueue dlq ls --json`, as the IDs and URLs it lists, and its stderr.
func (h *harness) dlqList(t *testing.T) (ids []string, urls map[string]string, stderr string) {
	t.Helper()
	code, out, stderr := h.enqueue("", "dlq", "ls", "--json")
	var list []struct {
		ID        string   `json:"id"`
		URLs      []string `json:"urls"`
		LastError string   `json:"last_error"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("dlq ls --json: exit %d: %s%s", code, out, stderr)
	}
	urls = map[string]string{}
	for _, d := range list {
		ids = append(ids, d.ID)
		for _, u := range d.URLs {
			urls[u] = d.LastError
		}
	}
	slices.Sort(ids)
	return ids, urls, stderr
}

// waitPastGrace waits until every dead-letter record is older than the reconciliation's grace
// period (store.DeadLetterGrace), which leaves new records alone.
func (h *harness) waitPastGrace(t *testing.T) {
	t.Helper()
	st := store.New(h.RDB)
	testkit.WaitFor(t, 2*store.DeadLetterGrace+5*time.Second, "the dead letters older than the grace period", func() bool {
		last, err := st.LastDeadLetters(context.Background(), 1)
		now, nerr := st.Now(context.Background())
		return err == nil && nerr == nil && (len(last) == 0 || now-last[0].At > store.DeadLetterGrace.Milliseconds())
	})
}

var deadLettersGauge = regexp.MustCompile(`(?m)^cipurge_dead_letters (\S+)$`)

// TestDeadLetterDeletedOrRunInAsynqmon: of three dead letters, an operator deletes one in asynq
// (asynqmon's "delete", through asynq's Inspector) and runs another ("run"), which succeeds.
// `enqueue dlq ls` then lists only the third, cipurge_dead_letters says 1, and `dlq replay --all`
// sends only the third: the deleted one is never sent, the one run once. The metric ends at 0.
func TestDeadLetterDeletedOrRunInAsynqmon(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_BATCH_SIZE=1")
	us := testkit.ImageURLs("dlq-asynqmon", 3)
	deleted, run, left := us[0], us[1], us[2]
	for _, u := range us {
		h.SB.RejectURL(u)
	}
	if code, _, stderr := h.enqueue("", us...); code != 0 {
		t.Fatal(stderr)
	}
	w := h.startWorker()
	addr := w.Addr(t)
	gauge := func() string {
		_, body := testkit.Get(t, "http://"+addr+"/metrics")
		if m := deadLettersGauge.FindStringSubmatch(body); m != nil {
			return m[1]
		}
		return "missing"
	}
	testkit.WaitFor(t, 30*time.Second, "3 dead letters", func() bool { return len(h.archived(tasks.QueueInteractive)) == 3 })
	if ids, _, _ := h.dlqList(t); len(ids) != 3 || gauge() != "3" {
		t.Fatalf("before: dlq ls lists %v, cipurge_dead_letters %s; want 3 and 3", ids, gauge())
	}
	taskOf := map[string]string{}
	for _, ti := range h.archived(tasks.QueueInteractive) {
		taskOf[tasks.URLsOf(ti.Type, ti.Payload)[0]] = ti.ID
	}

	h.SB.ClearFaults()
	must(t, h.inspector().DeleteTask(tasks.QueueInteractive, taskOf[deleted]))
	must(t, h.inspector().RunTask(tasks.QueueInteractive, taskOf[run]))
	testkit.WaitFor(t, 15*time.Second, "the task run from the archive sent and completed", func() bool {
		_, err := h.inspector().GetTaskInfo(tasks.QueueInteractive, taskOf[run])
		return h.SB.URLCount(run) == 1 && err != nil
	})
	h.waitPastGrace(t)
	ids, urls, stderr := h.dlqList(t)
	if !slices.Equal(ids, []string{taskOf[left]}) || urls[left] == "" {
		t.Errorf("dlq ls lists %v (%v), want only %s (%s)", ids, urls, taskOf[left], left)
	}
	if !strings.Contains(stderr, "forgot 2 dead letters") {
		t.Errorf("dlq ls does not say what it forgot: %q", stderr)
	}
	if g := gauge(); g != "1" {
		t.Errorf("cipurge_dead_letters %s, want 1", g)
	}

	code, out, stderr := h.enqueue("", "dlq", "replay", "--all")
	if code != 0 || !strings.Contains(out, "replayed 1 dead letter") {
		t.Errorf("dlq replay --all: exit %d: %s%s", code, out, stderr)
	}
	testkit.WaitFor(t, 15*time.Second, "the replayed URL sent", func() bool { return h.SB.URLCount(left) == 1 })
	h.waitIdle(t)
	if n, m := h.SB.URLCount(deleted), h.SB.URLCount(run); n != 0 || m != 1 {
		t.Errorf("the deleted dead letter was sent %d times (want 0), the one run from the archive %d (want 1)", n, m)
	}
	testkit.WaitFor(t, 10*time.Second, "cipurge_dead_letters back to 0", func() bool { return gauge() == "0" })
}

// TestConfirmKilledOnLastAttemptIsDeadLettered: a worker was SIGKILLed during a status check's last
// attempt. When a worker starts, asynq's recoverer archives the check without the worker's error
// handler; `enqueue dlq ls` lists it with asynq's reason and `enqueue status URL` says unconfirmed
// (guarantees 4 and 5 for the recoverer's path).
func TestConfirmKilledOnLastAttemptIsDeadLettered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	u := "https://img.example.com/dlq-killed/a.jpg"
	sent := time.Now().Add(-time.Minute)
	const uuid = "c0ffee-killed"
	must(t, store.New(h.RDB).Sent(ctx, []string{u}, sent.Add(-time.Second).UnixMilli(), sent.UnixMilli(), uuid, time.Hour))
	task, err := taskq.NewConfirmTask(tasks.Confirm{UUID: uuid, URLs: []string{u}, RequestedAt: sent.Add(-time.Second), SentAt: sent,
		Origin: tasks.OriginInteractive}, tasks.QueueConfirm, 0, 3)
	must(t, err)
	_, err = asynq.NewClientFromRedisClient(h.RDB).EnqueueContext(ctx, task, asynq.MaxRetry(0)) // its last attempt
	must(t, err)
	id := testkit.DequeueAsDeadWorker(t, h.RDB, tasks.QueueConfirm, 2*time.Minute)

	h.startWorker()
	testkit.WaitFor(t, 15*time.Second, "asynq's recoverer archived the status check", func() bool { return len(h.archived(tasks.QueueConfirm)) == 1 })
	ids, urls, stderr := h.dlqList(t)
	if !slices.Equal(ids, []string{id}) || !strings.Contains(urls[u], "lease expired") {
		t.Errorf("dlq ls lists %v (%v), want %s with asynq's reason: %s", ids, urls, id, stderr)
	}
	if st := h.state(t, u); st.State != store.StateUnconfirmed || !strings.Contains(st.Detail, "lease expired") {
		t.Errorf("history %s (%q), want unconfirmed with the reason", st.State, st.Detail)
	}
	code, out, _ := h.enqueue("", "status", u)
	if code != 0 || !strings.Contains(out, "unconfirmed") {
		t.Errorf("enqueue status: exit %d:\n%s", code, out)
	}
}

// TestDLQReplayRebuildsTheTaskOfItsType: `enqueue dlq replay` of a dead letter asynq trimmed
// (here: 91 days old) enqueues it again through its type's constructor: a status check gets its
// own 2-minute timeout and the retries of PURGE_MAX_RETRY, as the worker makes them. A recorded
// payload that does not decode is not enqueued (exit 1, and replay --all skips it), and stays.
func TestDLQReplayRebuildsTheTaskOfItsType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, "PURGE_MAX_RETRY=4")
	st := store.New(h.RDB)
	now, err := st.Now(ctx)
	must(t, err)
	old := now - (taskq.ArchiveAge + 24*time.Hour).Milliseconds()
	p := tasks.Confirm{UUID: "0dd-trimmed", URLs: []string{"https://img.example.com/dlq-rebuild/a.jpg"}, RequestedAt: time.UnixMilli(old),
		SentAt: time.UnixMilli(old), Origin: tasks.OriginInteractive}
	b, err := tasks.EncodeConfirm(p)
	must(t, err)
	check := tasks.ConfirmTaskID(p.UUID)
	must(t, st.KeepDeadLetter(ctx, store.DeadLetter{ID: check, Queue: tasks.QueueConfirm, Type: tasks.TypeConfirm, URLs: p.URLs,
		Reason: "status checks gave up", Attempts: 5, At: old, Payload: b}))
	must(t, st.KeepDeadLetter(ctx, store.DeadLetter{ID: "urls_poison", Queue: tasks.QueueInteractive, Type: tasks.TypeURLs,
		Reason: "bad task payload", Attempts: 1, At: old, Payload: []byte("not json")}))

	if code, out, stderr := h.enqueue("", "dlq", "replay", check); code != 0 {
		t.Fatalf("dlq replay %s: exit %d: %s%s", check, code, out, stderr)
	}
	ti, err := h.inspector().GetTaskInfo(tasks.QueueConfirm, check)
	must(t, err)
	if ti.Timeout != 2*time.Minute || ti.MaxRetry != taskq.AsynqMaxRetry(4) || ti.Type != tasks.TypeConfirm || ti.State != asynq.TaskStatePending {
		t.Errorf("the replayed status check: timeout %s, max retry %d, type %s, %s; want 2m0s, %d (PURGE_MAX_RETRY=4), %s, pending",
			ti.Timeout, ti.MaxRetry, ti.Type, ti.State, taskq.AsynqMaxRetry(4), tasks.TypeConfirm)
	}
	code, _, stderr := h.enqueue("", "dlq", "replay", "urls_poison")
	if code != 1 || !strings.Contains(stderr, "cannot be replayed") || !strings.Contains(stderr, "enqueue dlq rm urls_poison") {
		t.Errorf("dlq replay of an undecodable payload: exit %d, %q; want 1 and how to delete it", code, stderr)
	}
	code, out, stderr := h.enqueue("", "dlq", "replay", "--all")
	if code != 0 || !strings.Contains(stderr, "skipped urls_poison") || !strings.Contains(out, "replayed 0 dead letters") {
		t.Errorf("dlq replay --all: exit %d: %s%s", code, out, stderr)
	}
	if ids, _, _ := h.dlqList(t); !slices.Equal(ids, []string{"urls_poison"}) {
		t.Errorf("dlq ls lists %v, want the undecodable entry only", ids)
	}
}
