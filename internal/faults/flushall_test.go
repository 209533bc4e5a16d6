//go:build faults

package faults

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// flushAPI is a stand-in for the API that counts the flush-all requests it receives and answers
// each as the test says: slowly, with a 201 torn mid-body, or never.
type flushAPI struct {
	srv     *httptest.Server
	mode    string // "slow" (answers 201 after 14 s), "torn" (a 201 cut off mid-body), "hang" (never answers)
	mu      sync.Mutex
	calls   int
	arrived chan struct{} // closed at the first flush-all request
	once    sync.Once
	stop    chan struct{}
}

func newFlushAPI(t *testing.T, mode string) *flushAPI {
	t.Helper()
	a := &flushAPI{mode: mode, arrived: make(chan struct{}), stop: make(chan struct{})}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() {
		close(a.stop)
		a.srv.CloseClientConnections()
		a.srv.Close()
	})
	return a
}

func (a *flushAPI) serve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Scope string `json:"scope"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	if body.Scope != "all" {
		http.Error(w, `{"status":"error","msg":"this stand-in only takes flush-alls"}`, http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	a.once.Do(func() { close(a.arrived) })
	const ok = `{"status":"success","msg":"Your invalidation request has been received","invalidation":{"status":"RECEIVED","uuid":"f1a5e7c0-0000-4000-8000-00000000a11a","added_at":"2026-12-01 12:00:00.000000"}}`
	switch a.mode {
	case "slow":
		select {
		case <-time.After(14 * time.Second):
		case <-r.Context().Done():
			return
		case <-a.stop:
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(ok))
	case "torn":
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " +
			itoa(len(ok)) + "\r\n\r\n" + ok[:len(ok)/2])
		_ = buf.Flush()
		_ = conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	case "hang":
		select {
		case <-r.Context().Done():
		case <-a.stop:
		}
	}
}

func (a *flushAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// TestFaultFlushAllOnce: a confirmed flush-all whose call ends without a clear answer reaches the
// API exactly once: the worker gets SIGTERM while the API takes 14 s to answer (and a second
// worker takes over), the worker is killed with SIGKILL mid-call (asynq's recoverer runs the task
// again after its 30 s lease), the API's 201 is torn mid-body, and the API never answers (the
// client's 20 s header timeout). In each case the task ends dead-lettered as "outcome unknown"
// with what an operator should check, and the API saw one flush-all.
func TestFaultFlushAllOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, mode, fault string }{
		{"SIGTERM mid-call", "slow", "term"},
		{"SIGKILL mid-call", "slow", "kill"},
		{"torn 201", "torn", ""},
		{"hung call", "hang", ""},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			api := newFlushAPI(t, c.mode)
			r := testredis.Start(t)
			rdb := r.Client()
			e := baseEnv(api.srv.URL).With("REDIS_URL="+r.URL(), "PURGE_SHUTDOWN_TIMEOUT=2s", "PURGE_MAX_RETRY=3", "PURGE_RATE=0")
			mustEnqueue(t, e, 30*time.Second, "--all", "--confirm=demo", "--reason", c.name)
			start := time.Now()
			w1 := startWorker(t, "worker-1", e)
			select {
			case <-api.arrived:
			case <-time.After(30 * time.Second):
				t.Fatalf("no flush-all reached the API within 30 s:\n%s", testkit.Tail(w1.logs(), 20))
			}
			switch c.fault {
			case "term":
				_ = syscall.Kill(w1.Pid(), syscall.SIGTERM)
				select {
				case <-w1.Done():
				case <-time.After(30 * time.Second):
					t.Fatal("the worker did not stop within 30 s of SIGTERM")
				}
				startWorker(t, "worker-2", e)
			case "kill":
				w1.Kill()
				startWorker(t, "worker-2", e)
			}
			var reason string
			testkit.WaitFor(t, 180*time.Second, "the flush-all dead-lettered as outcome unknown", func() bool {
				for _, ti := range archivedAll(t, rdb) {
					if ti.Queue == tasks.QueueAll && strings.Contains(ti.LastErr, "outcome unknown") {
						reason = ti.LastErr
						return true
					}
				}
				return false
			})
			// Archived: nothing runs the task again by itself, so the count is final.
			n := api.count()
			report(t, "%s: %d flush-all call(s) reached the API; dead-lettered as outcome unknown %.0fs after the start: %q",
				c.name, n, time.Since(start).Seconds(), firstLine(reason))
			if n != 1 {
				t.Errorf("%d flush-alls reached the API, want exactly 1", n)
			}
			for _, want := range []string{"Check with Cloudimage", "--confirm", "PURGE_ALL_COOLDOWN"} {
				if !strings.Contains(reason, want) {
					t.Errorf("the dead letter does not say %q: %s", want, reason)
				}
			}
			// The cooldown counts from the attempt: a new request is refused.
			res := runEnqueue(e, "", 30*time.Second, "--all", "--confirm=demo")
			if res.code != 2 || !strings.Contains(res.stderr, "outcome is unknown") {
				t.Errorf("a new flush-all after an unknown outcome: exit %d, want 2 (cooldown): %s", res.code, res.stderr)
			}
		})
	}
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return truncate(sc.Text(), 160)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
