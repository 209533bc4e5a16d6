package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testkit/testworker"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// testKey is the API key the tests use; the secrets test searches for it everywhere.
const testKey = "ci-test-key-7f3a9c2e5b1d"

// harness is a private Redis, a sandbox API and the environment of a worker that uses them.
type harness struct {
	t *testing.T
	*testkit.Rig
}

// newHarness starts a Redis and a sandbox, with an environment tuned for fast tests: short
// windows and backoffs, no rate limit, no confirmation, debug logs, unless extra says otherwise.
func newHarness(t *testing.T, extra ...string) *harness {
	t.Helper()
	return &harness{t: t, Rig: testkit.NewRig(t, testKey, append([]string{"LOG_LEVEL=debug"}, extra...)...)}
}

// startWorker runs workercmd.Run with the harness environment plus extra until the test ends.
func (h *harness) startWorker(extra ...string) *testworker.Worker {
	h.t.Helper()
	return testworker.Start(h.t, h.Env.With(extra...).List())
}

// enqueue runs the enqueue command and returns its exit status and output.
func (h *harness) enqueue(stdin string, args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	err := enqueuecmd.Run(context.Background(), args, h.Env.List(), strings.NewReader(stdin), &out, &errb)
	code = enqueuecmd.ExitCode(err)
	if err != nil && err.Error() != "" {
		errb.WriteString("enqueue: " + err.Error() + "\n")
	}
	return code, out.String(), errb.String()
}

func (h *harness) inspector() *asynq.Inspector { return asynq.NewInspectorFromRedisClient(h.RDB) }

// archived lists the dead letters of queue.
func (h *harness) archived(queue string) []*asynq.TaskInfo {
	h.t.Helper()
	ts, err := h.inspector().ListArchivedTasks(queue)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		h.t.Fatal(err)
	}
	return ts
}

// mustEnqueue runs the enqueue command with args (no standard input) and fails t unless it exits 0.
func (h *harness) mustEnqueue(t *testing.T, args ...string) {
	t.Helper()
	if code, _, stderr := h.enqueue("", args...); code != 0 {
		t.Fatal(stderr)
	}
}

// deadLetters waits up to timeout (failing t with msg) until queue holds n dead letters, and
// returns them.
func (h *harness) deadLetters(t *testing.T, queue string, n int, timeout time.Duration, msg string) []*asynq.TaskInfo {
	t.Helper()
	var dl []*asynq.TaskInfo
	testkit.WaitFor(t, timeout, msg, func() bool {
		dl = h.archived(queue)
		return len(dl) == n
	})
	return dl
}

// invalidatedAll reports whether every url was accepted by the sandbox at least once.
func invalidatedAll(sb *sandbox.Server, us []string) bool {
	for _, u := range us {
		if sb.URLCount(u) == 0 {
			return false
		}
	}
	return true
}

// waitIdle waits until nothing is left that could still send: the pending set is empty and no
// queue holds a task that is pending, active, scheduled or waiting to retry. Tests that prove a
// URL is not sent again wait on this instead of sleeping.
func (h *harness) waitIdle(t *testing.T) {
	t.Helper()
	testkit.WaitFor(t, 30*time.Second, "the pipeline idle (nothing pending, queued or retrying)", func() bool {
		if n, err := h.RDB.ZCard(context.Background(), store.KeyPending).Result(); err != nil || n != 0 {
			return false
		}
		if n, err := store.New(h.RDB).ChecksWaiting(context.Background()); err != nil || n != 0 {
			return false // status checks not handed to asynq yet
		}
		for _, q := range tasks.QueueNames() {
			info, err := h.inspector().GetQueueInfo(q)
			if err != nil && strings.Contains(err.Error(), "NOT_FOUND") {
				continue // no task ever went to this queue
			}
			if err != nil {
				return false
			}
			if info.Pending+info.Active+info.Scheduled+info.Retry+info.Aggregating != 0 {
				return false
			}
		}
		return true
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
