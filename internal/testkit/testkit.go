// Package testkit holds what the product's tests share across packages: polling a condition with
// a deadline (tests never sleep to wait), a buffer that concurrent writers (a worker's logger) can
// share with the test reading it, and the tail of a long log for failure messages. Only tests
// import it.
package testkit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/taskq"
)

// WaitFor polls cond every 25 ms until it holds, or fails the test with msg once timeout passed.
func WaitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail returns the last n lines of s, not counting the newline that ends it.
func Tail(s string, n int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > n {
		parts = parts[len(parts)-n:]
	}
	return strings.Join(parts, "\n")
}

// Get fetches url (10 s timeout) and returns the status code and up to 16 MiB of the body.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// FastEnv is the environment integration tests start a worker and enqueue with: a private Redis,
// an API (the sandbox) and its key, and short windows and backoffs so that tests run in seconds.
// Tests override entries for what they exercise.
func FastEnv(redisURL, apiURL, apiKey string) map[string]string {
	return map[string]string{
		"REDIS_URL":              redisURL,
		"CLOUDIMAGE_API_URL":     apiURL,
		"CLOUDIMAGE_API_KEY":     apiKey,
		"CLOUDIMAGE_TOKEN":       "demo",
		"PURGE_WINDOW":           "200ms",
		"PURGE_MAX_DELAY":        "1s",
		"PURGE_RATE":             "0",
		"PURGE_CONFIRM":          "false",
		"PURGE_RETRY_BASE":       "50ms",
		"PURGE_BACKOFF_BASE":     "50ms",
		"PURGE_BACKOFF_MAX":      "500ms",
		"PURGE_AUTH_PROBE":       "200ms",
		"PURGE_SHUTDOWN_TIMEOUT": "2s",
		"HTTP_ADDR":              "127.0.0.1:0",
		"LOG_LEVEL":              "info",
	}
}

// ImageURLs returns n distinct origin image URLs on img.example.com, under prefix. A plain token
// normalises each to itself.
func ImageURLs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "https://img.example.com/" + prefix + "/" + strconv.Itoa(i) + ".jpg"
	}
	return out
}

// StartSandbox starts the sandbox Cloudimage API on a free loopback port, accepting key, and stops
// it when the test ends. It returns the server (to inspect and inject faults) and its base URL.
func StartSandbox(t testing.TB, key string) (*sandbox.Server, string) {
	t.Helper()
	sb, url, stop, err := sandbox.Start(sandbox.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return sb, url
}

// RunUntilEnd runs a command (run: a worker's Run with its arguments bound) in the background
// until the test ends, then cancels its context and waits up to 30 s for it to return, failing
// the test when it does not or when it returns an error. The command's log goes to the returned
// buffer, which is printed (its tail) when the test failed.
func RunUntilEnd(t testing.TB, run func(ctx context.Context, stderr io.Writer) error) *SyncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the command returned: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the command did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("its log:\n%s", Tail(logs.String(), 60))
		}
	})
	return logs
}

// deadDequeue is asynq's dequeue (asynq v0.26 internal/rdb dequeueCmd: pending -> active, state
// active, a lease), with the lease of a worker that died holding the task: already expired.
var deadDequeue = redis.NewScript(`
local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[2])
if not id then return false end
redis.call("HSET", ARGV[2] .. id, "state", "active")
redis.call("HDEL", ARGV[2] .. id, "pending_since")
redis.call("ZADD", KEYS[3], ARGV[1], id)
return id`)

// DequeueAsDeadWorker takes the next pending task of queue q as an asynq worker does, for a
// worker that then died (SIGKILL) holding it: its lease expired ago ago. asynq's recoverer, which
// runs when an asynq server starts and then once a minute, takes back such a task once its lease
// expired more than 30 s ago: it retries it, or archives it when it was on its last retry
// (Retried >= MaxRetry) without calling the server's error handler. It returns the task's ID.
func DequeueAsDeadWorker(t testing.TB, rdb redis.UniversalClient, q string, ago time.Duration) string {
	t.Helper()
	keys := []string{taskq.PendingKey(q), taskq.ActiveKey(q), taskq.LeaseKey(q)}
	id, err := deadDequeue.Run(context.Background(), rdb, keys, time.Now().Add(-ago).Unix(), taskq.TaskKey(q, "")).Text()
	if err != nil {
		t.Fatalf("dequeue from %s as a dead worker: %v", q, err)
	}
	return id
}
