// Package testworker runs the worker command (workercmd.Run) inside a test's process, the way the
// integration tests of several packages start one. It stands apart from testkit because
// workercmd imports the store and worker packages, whose own tests import testkit. Only tests
// import it.
package testworker

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/cli/workercmd"
	"github.com/cipurge/cipurge/internal/testkit"
)

// Worker is a worker command running in the test's process, started by Start.
type Worker struct {
	// Logs is what the worker logs (JSON lines, unless env says otherwise).
	Logs *testkit.SyncBuffer

	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returned
	err     error         // Run's error, once done is closed
	cleanly bool          // the end of the test fails when Run returned an error
}

// Start runs workercmd.Run with env in the background until the test ends. Then it cancels Run's
// context (as SIGTERM does) and waits up to 30 s for Run to return, failing the test when it does
// not (and, after StopsCleanly, when Run returned an error). When the test failed, the tail of the
// worker's log is printed.
func Start(t testing.TB, env []string) *Worker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{Logs: &testkit.SyncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		w.err = workercmd.Run(ctx, nil, env, io.Discard, w.Logs)
		close(w.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
			if w.cleanly && w.err != nil {
				t.Errorf("the worker returned: %v", w.err)
			}
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("worker logs:\n%s", testkit.Tail(w.Logs.String(), 60))
		}
	})
	return w
}

// StopsCleanly makes the end of the test fail when Run returns an error once it is cancelled
// there (or before). It returns w.
func (w *Worker) StopsCleanly() *Worker {
	w.cleanly = true
	return w
}

// Done is closed when Run returned; Err is its error then.
func (w *Worker) Done() <-chan struct{} { return w.done }

// Err is Run's error, once Done is closed.
func (w *Worker) Err() error { return w.err }

// Stop asks the worker to shut down (as SIGTERM does) and returns Run's error. It fails the test
// when Run does not return within 30 s.
func (w *Worker) Stop(t testing.TB) error {
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

// Addr waits up to 20 s for the worker's "http server listening" log line and returns its
// address (host:port; HTTP_ADDR may be 127.0.0.1:0). It fails the test when Run returns first.
func (w *Worker) Addr(t testing.TB) string {
	t.Helper()
	var addr string
	testkit.WaitFor(t, 20*time.Second, "the worker's HTTP server to listen", func() bool {
		select {
		case <-w.done:
			t.Fatalf("worker stopped before listening: %v\n%s", w.err, testkit.Tail(w.Logs.String(), 60))
		default:
		}
		addr = testkit.LogField(w.Logs.String(), "http server listening", "addr")
		return addr != ""
	})
	return addr
}
