package e2e

import (
	"bytes"
	"context"
	"fmt"
	"github.com/cipurge/cipurge/internal/testkit"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/cli/workercmd"
	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// testKey is the API key the tests use; the secrets test searches for it everywhere.
const testKey = "ci-test-key-7f3a9c2e5b1d"

type harness struct {
	t     *testing.T
	redis *testredis.Server
	rdb   *redis.Client
	sb    *sandbox.Server
	sbURL string
	env   map[string]string
}

// newHarness starts a Redis and a sandbox, with an environment tuned for fast tests: short
// windows and backoffs, no rate limit, no confirmation, unless extra says otherwise.
func newHarness(t *testing.T, extra ...string) *harness {
	t.Helper()
	r := testredis.Start(t)
	sb, url := testkit.StartSandbox(t, testKey)
	h := &harness{t: t, redis: r, rdb: r.Client(), sb: sb, sbURL: url, env: testkit.FastEnv(r.URL(), url, testKey)}
	h.env["LOG_LEVEL"] = "debug"
	h.set(extra...)
	return h
}

// set changes the environment: "KEY=value" pairs.
func (h *harness) set(kv ...string) {
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		h.env[k] = v
	}
}

func (h *harness) environ(extra ...string) []string {
	m := make(map[string]string, len(h.env))
	for k, v := range h.env {
		m[k] = v
	}
	for _, s := range extra {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// runningWorker is a worker started by startWorker.
type runningWorker struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's error, once done is closed
	logs   *testkit.SyncBuffer
}

// httpAddr waits for the worker's HTTP server and returns its address (from its "http server
// listening" log line, HTTP_ADDR being 127.0.0.1:0).
func (w *runningWorker) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	testkit.WaitFor(t, 10*time.Second, "the worker's HTTP server", func() bool {
		addr = logValue(w.logs.String(), "http server listening", "addr")
		return addr != ""
	})
	return addr
}

// stop asks the worker to shut down (as SIGTERM does) and returns Run's error.
func (w *runningWorker) stop(t *testing.T) error {
	t.Helper()
	w.cancel()
	select {
	case <-w.done:
		return w.err
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop within 30s")
		return nil
	}
}

// startWorker runs workercmd.Run with the harness environment plus extra.
func (h *harness) startWorker(extra ...string) *runningWorker {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &runningWorker{cancel: cancel, done: make(chan struct{}), logs: &testkit.SyncBuffer{}}
	env := h.environ(extra...)
	go func() {
		w.err = workercmd.Run(ctx, nil, env, io.Discard, w.logs)
		close(w.done)
	}()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
		}
		if h.t.Failed() {
			h.t.Logf("worker logs:\n%s", testkit.Tail(w.logs.String(), 60))
		}
	})
	return w
}

// enqueue runs the enqueue command and returns its exit status and output.
func (h *harness) enqueue(stdin string, args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	err := enqueuecmd.Run(context.Background(), args, h.environ(), strings.NewReader(stdin), &out, &errb)
	code = enqueuecmd.ExitCode(err)
	if err != nil && err.Error() != "" {
		errb.WriteString("enqueue: " + err.Error() + "\n")
	}
	return code, out.String(), errb.String()
}

func (h *harness) inspector() *asynq.Inspector { return asynq.NewInspectorFromRedisClient(h.rdb) }

// archived lists the dead letters of queue.
func (h *harness) archived(queue string) []*asynq.TaskInfo {
	h.t.Helper()
	ts, err := h.inspector().ListArchivedTasks(queue)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		h.t.Fatal(err)
	}
	return ts
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
		if n, err := h.rdb.ZCard(context.Background(), store.KeyPending).Result(); err != nil || n != 0 {
			return false
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

var _ = fmt.Sprint
