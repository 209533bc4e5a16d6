// Package testkit holds what the product's tests share across packages: polling a condition with
// a deadline (tests never sleep to wait), a buffer that concurrent writers (a worker's logger) can
// share with the test reading it, log fields and tails for failure messages, the environment the
// commands run with (Env, FastEnv), the rig an integration test runs against (a private
// redis-server and the sandbox API), HTTP answers read whole, and asynq's dequeue by a worker that
// then died. Only tests import it.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
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

// LogField returns field of the last JSON log line whose msg is msg ("" when there is none), e.g.
// the "addr" of a worker's "http server listening" line.
func LogField(logs, msg, field string) string {
	var out string
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != msg {
			continue
		}
		if v, ok := m[field]; ok {
			out = fmt.Sprint(v)
		}
	}
	return out
}

// NoSecretLogged fails the test when a line of logs (its message and its fields) holds one of
// secrets; what names them in the failure message.
func NoSecretLogged(t testing.TB, logs *observer.ObservedLogs, what string, secrets ...string) {
	t.Helper()
	for _, l := range logs.All() {
		line := fmt.Sprint(l.Message, l.ContextMap())
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("a log line holds %s: %s", what, line)
				break
			}
		}
	}
}

// Answer is one HTTP response, read (up to 16 MiB of its body).
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Send sends req with c and reads the answer (up to 16 MiB of its body), failing the test when
// either fails.
func Send(t testing.TB, c *http.Client, req *http.Request) Answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", req.Method, req.URL, err)
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// DecodeJSON decodes a's body into a T, failing the test, with the status and the body, when it
// is not what it should be (what, e.g. "a JSON error").
func DecodeJSON[T any](t testing.TB, a Answer, what string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.Body, &v); err != nil {
		t.Fatalf("status %d: the body is not %s: %v: %s", a.Status, what, err, a.Body)
	}
	return v
}

// Get fetches url (10 s timeout) and returns the status code and up to 16 MiB of the body.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := Send(t, &http.Client{Timeout: 10 * time.Second}, req)
	return a.Status, string(a.Body)
}

// Env is a process environment by variable name.
type Env map[string]string

// Set changes e by "KEY=value" pairs.
func (e Env) Set(kv ...string) {
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		e[k] = v
	}
}

// With returns a copy of e changed by "KEY=value" pairs.
func (e Env) With(kv ...string) Env {
	out := make(Env, len(e)+len(kv))
	for k, v := range e {
		out[k] = v
	}
	out.Set(kv...)
	return out
}

// List returns e as sorted "KEY=value" strings, for exec.Cmd's Env or a command's Run.
func (e Env) List() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// FastEnv is the environment integration tests start a worker and enqueue with: a private Redis,
// an API (the sandbox) and its key, and short windows and backoffs so that tests run in seconds.
// Tests override entries for what they exercise.
func FastEnv(redisURL, apiURL, apiKey string) Env {
	return Env{
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

// Rig is what an integration test runs the product against: a private redis-server, the sandbox
// API, and FastEnv for the two.
type Rig struct {
	Redis *testredis.Server
	RDB   *redis.Client
	SB    *sandbox.Server
	Env   Env
}

// NewRig starts a redis-server and a sandbox accepting key, both stopped when the test ends; env
// ("KEY=value" pairs) changes FastEnv.
func NewRig(t testing.TB, key string, env ...string) *Rig {
	t.Helper()
	r := testredis.Start(t)
	sb, url := StartSandbox(t, key)
	return &Rig{Redis: r, RDB: r.Client(), SB: sb, Env: FastEnv(r.URL(), url, key).With(env...)}
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
