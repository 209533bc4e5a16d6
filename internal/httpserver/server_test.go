package httpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/cipurge/cipurge/internal/testkit"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/cipurge/cipurge/internal/cli/workercmd"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

const (
	goodURL = "https://img.example.com/ops/good.jpg"
	badURL  = "https://img.example.com/ops/bad.jpg" // the sandbox answers 400 for it: dead-lettered
)

// deadLetter enqueues badURL (which the sandbox rejects) and waits until the worker has isolated
// and archived it; it returns the archived task.
func (h *harness) deadLetter() *asynq.TaskInfo {
	h.t.Helper()
	h.SB.RejectURL(badURL)
	h.enqueue("--source", "ticket-42", badURL)
	insp := asynq.NewInspectorFromRedisClient(h.RDB)
	var archived []*asynq.TaskInfo
	testkit.WaitFor(h.t, 30*time.Second, "the rejected URL to be dead-lettered", func() bool {
		archived, _ = insp.ListArchivedTasks(tasks.QueueInteractive)
		return len(archived) == 1
	})
	return archived[0]
}

// A non-loopback HTTP_ADDR without UI_PASSWORD would open the UI to the network: the worker
// refuses to start (exit status 2) and names the fix; nothing listens.
func TestNonLoopbackWithoutPasswordIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, addr := range []string{"0.0.0.0:" + strconv.Itoa(testredis.FreePort(t)), ":" + strconv.Itoa(testredis.FreePort(t))} {
		h.Env.Set("HTTP_ADDR=" + addr)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var logs testkit.SyncBuffer
		err := workercmd.Run(ctx, nil, h.Env.List(), io.Discard, &logs)
		cancel()
		if err == nil {
			t.Fatalf("HTTP_ADDR=%s without UI_PASSWORD: the worker ran and stopped without an error", addr)
		}
		if code := workercmd.ExitCode(err); code != 2 {
			t.Errorf("HTTP_ADDR=%s: exit status %d, want 2 (configuration error): %v", addr, code, err)
		}
		for _, want := range []string{"UI_PASSWORD", "HTTP_ADDR=" + addr, "127.0.0.1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("HTTP_ADDR=%s: the error does not mention %q: %v", addr, want, err)
			}
		}
		_, port, _ := net.SplitHostPort(addr)
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			t.Errorf("HTTP_ADDR=%s: something listens on port %s after the refusal", addr, port)
		}
	}
}

// With UI_PASSWORD set, the UI and its API need basic auth; read-only refuses every change; the
// payloads the UI shows are readable JSON without the API key.
// It runs over 80 lines on purpose: one worker's UI, checked endpoint by endpoint, then every body read is searched.
func TestUIAuthReadOnlyAndPayloads(t *testing.T) {
	t.Parallel()
	const user, pass = "ops", "pw-9d2c7e"
	h := newHarness(t, "UI_USER="+user, "UI_PASSWORD="+pass) // UI_READONLY defaults to true
	w := h.startWorker()
	dead := h.deadLetter()
	insp := asynq.NewInspectorFromRedisClient(h.RDB)

	var seen []string // every body the test read, searched for the key at the end
	paths := []string{
		"/monitoring", "/monitoring/", "/monitoring/queues/purge", "/monitoring/api/queues",
		"/monitoring/api/queues/purge/archived_tasks", "/monitoring/api/queues/purge/tasks/" + dead.ID,
		"/monitoring/api/servers", "/monitoring/api/redis_info",
	}
	for _, p := range paths {
		if r := do(t, http.MethodGet, w.base+p, "", ""); r.code != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("GET %s without credentials: %d (WWW-Authenticate %q), want 401 with a Basic challenge", p, r.code, r.header.Get("WWW-Authenticate"))
		}
		if r := do(t, http.MethodGet, w.base+p, user, "wrong"); r.code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %d, want 401", p, r.code)
		}
		if r := do(t, http.MethodGet, w.base+p, "admin", pass); r.code != http.StatusUnauthorized {
			t.Errorf("GET %s with the wrong user: %d, want 401", p, r.code)
		}
		r := do(t, http.MethodGet, w.base+p, user, pass)
		if r.code != http.StatusOK {
			t.Errorf("GET %s with the right credentials: %d, want 200: %.300s", p, r.code, r.body)
		}
		seen = append(seen, r.body)
	}
	// The operator's endpoints stay open to probes and Prometheus (they show no task content).
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		r := get(t, w.base+p)
		if r.code != http.StatusOK {
			t.Errorf("GET %s without credentials: %d, want 200", p, r.code)
		}
		seen = append(seen, r.body)
	}

	// The archived task as the UI shows it: readable JSON with the URL and the reason.
	r := do(t, http.MethodGet, w.base+"/monitoring/api/queues/purge/archived_tasks", user, pass)
	var list struct {
		Tasks []struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Payload string `json:"payload"`
			Error   string `json:"error_message"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Tasks) != 1 {
		t.Fatalf("archived tasks: %v, %d tasks: %.500s", err, len(list.Tasks), r.body)
	}
	at := list.Tasks[0]
	var p tasks.URLs
	if err := json.Unmarshal([]byte(at.Payload), &p); err != nil {
		t.Fatalf("the payload shown for %s is not readable JSON (%v): %q", at.ID, err, at.Payload)
	}
	if at.ID != dead.ID || at.Type != tasks.TypeURLs || len(p.URLs) != 1 || p.URLs[0] != badURL || p.RequestedAt.IsZero() {
		t.Errorf("archived task shown as id %s type %s payload %+v; want id %s, %s with URL %s", at.ID, at.Type, p, dead.ID, tasks.TypeURLs, badURL)
	}
	if !strings.Contains(at.Payload, "ticket-42") {
		t.Errorf("the payload does not carry the --source given: %s", at.Payload)
	}
	if at.Error == "" {
		t.Errorf("the archived task shows no reason")
	}

	// Read-only: every change is refused, and the task is still there.
	for _, m := range []struct{ method, path string }{
		{http.MethodDelete, "/monitoring/api/queues/purge/archived_tasks/" + dead.ID},
		{http.MethodPost, "/monitoring/api/queues/purge/archived_tasks/" + dead.ID + ":run"},
		{http.MethodPost, "/monitoring/api/queues/purge/archived_tasks:run_all"},
		{http.MethodDelete, "/monitoring/api/queues/purge/archived_tasks:delete_all"},
		{http.MethodPost, "/monitoring/api/queues/purge:pause"},
		{http.MethodDelete, "/monitoring/api/queues/purge"},
	} {
		if r := do(t, m.method, w.base+m.path, "", ""); r.code != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %d, want 401", m.method, m.path, r.code)
		}
		r := do(t, m.method, w.base+m.path, user, pass)
		if r.code != http.StatusMethodNotAllowed || !strings.Contains(r.body, "UI_READONLY") {
			t.Errorf("%s %s on a read-only UI: %d %q, want 405 naming UI_READONLY", m.method, m.path, r.code, r.body)
		}
	}
	info, err := insp.GetTaskInfo(tasks.QueueInteractive, dead.ID)
	if err != nil || info.State != asynq.TaskStateArchived {
		t.Errorf("after the refused changes the dead letter is %v (err %v), want still archived", info, err)
	}
	if qi, err := insp.GetQueueInfo(tasks.QueueInteractive); err != nil || qi.Paused {
		t.Errorf("after the refused pause the queue is paused=%v (err %v)", qi != nil && qi.Paused, err)
	}

	for i, b := range append(seen, w.logs.String()) {
		if strings.Contains(b, testKey) {
			t.Errorf("the API key appears in body %d: %.300s", i, b)
		}
	}
}

// With UI_READONLY=false an operator can act on dead letters from the UI.
func TestUIWritable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "UI_READONLY=false") // loopback: no password needed
	w := h.startWorker()
	dead := h.deadLetter()
	r := do(t, http.MethodDelete, w.base+"/monitoring/api/queues/purge/archived_tasks/"+dead.ID, "", "")
	if r.code/100 != 2 {
		t.Fatalf("DELETE archived task with UI_READONLY=false: %d %q, want 2xx", r.code, r.body)
	}
	_, err := asynq.NewInspectorFromRedisClient(h.RDB).GetTaskInfo(tasks.QueueInteractive, dead.ID)
	if !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("after the delete, GetTaskInfo: %v, want task not found", err)
	}
}

// readiness fetches /readyz and decodes it.
func readiness(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	r := get(t, base+"/readyz")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("/readyz body is not JSON (%v): %q", err, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/readyz Content-Type %q, want application/json", ct)
	}
	if strings.Contains(r.body, testKey) {
		t.Errorf("/readyz shows the API key: %s", r.body)
	}
	return r.code, m
}

// /healthz is up while the process runs; /readyz says 503 and why when Redis is down or Cloudimage
// rejects the key, and 200 again when that ends; during the shared pause it is 200 and names it.
// It runs over 80 lines on purpose: its steps run in order on one worker, each undoing the state it set.
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.startWorker()
	ctx := context.Background()
	metrics := func() string { return get(t, w.base+"/metrics").body }

	if r := get(t, w.base+"/healthz"); r.code != http.StatusOK || !strings.Contains(r.body, `"alive":true`) {
		t.Fatalf("/healthz: %d %q", r.code, r.body)
	}
	if code, m := readiness(t, w.base); code != http.StatusOK || m["ready"] != true {
		t.Fatalf("/readyz on a healthy worker: %d %v", code, m)
	}

	// The shared pause (as after a 429 with Retry-After).
	st := store.New(h.RDB)
	if err := st.Pause(ctx, "rate_limited by the test", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Cloudimage asks every worker to wait: nothing is wrong with this one, and it keeps accepting
	// requests, so it stays ready (a 503 would take every worker's intake out of service at once),
	// and names the pause.
	code, m := readiness(t, w.base)
	if code != http.StatusOK || m["ready"] != true || m["reason"] != nil || !strings.Contains(m["paused"].(string), "rate_limited by the test") ||
		!strings.Contains(m["note"].(string), "sending is paused for every worker") {
		t.Errorf("/readyz while paused: %d %v, want 200 naming the pause", code, m)
	}
	testkit.WaitFor(t, 10*time.Second, "cipurge_paused 1 in /metrics", func() bool {
		v, ok := metricValue(metrics(), "cipurge_paused", "")
		return ok && v == 1
	})
	must(t, h.RDB.Del(ctx, store.KeyPause).Err())
	if code, m := readiness(t, w.base); code != http.StatusOK || m["paused"] != nil || m["note"] != nil {
		t.Errorf("/readyz after the pause ended: %d %v", code, m)
	}

	// The pause cannot be read (a value of the wrong type): not ready, and /readyz names it, as the
	// status would (a reading is whole or an error); never "no pause".
	must(t, h.RDB.RPush(ctx, store.KeyPause, "not a pause").Err())
	if code, m := readiness(t, w.base); code != http.StatusServiceUnavailable || !strings.Contains(m["redis"].(string), "pause state") {
		t.Errorf("/readyz with an unreadable pause: %d %v, want 503 naming the pause state", code, m)
	}
	must(t, h.RDB.Del(ctx, store.KeyPause).Err())

	// Cloudimage rejects the key: the next request gets 401.
	h.SB.SetKey("a-key-that-is-not-ours")
	h.enqueue(goodURL)
	testkit.WaitFor(t, 30*time.Second, "/readyz to report the rejected key", func() bool {
		code, m := readiness(t, w.base)
		return code == http.StatusServiceUnavailable && strings.Contains(m["reason"].(string), "CLOUDIMAGE_API_KEY") &&
			strings.HasPrefix(m["api_key"].(string), "rejected")
	})
	testkit.WaitFor(t, 10*time.Second, "cipurge_api_key_rejected 1 in /metrics", func() bool {
		v, ok := metricValue(metrics(), "cipurge_api_key_rejected", "")
		return ok && v == 1
	})
	h.SB.SetKey(testKey) // the key is accepted again: the next probe clears the gate
	testkit.WaitFor(t, 30*time.Second, "/readyz to be ready after the key works again", func() bool {
		code, _ := readiness(t, w.base)
		return code == http.StatusOK
	})
	testkit.WaitFor(t, 30*time.Second, "the held URL to be sent once the key works", func() bool { return h.SB.URLCount(goodURL) > 0 })

	// Redis goes away: not ready, still alive, and /metrics answers with the collector down.
	h.Redis.Kill()
	code, m = readiness(t, w.base)
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(m["redis"].(string), "unreachable") || !strings.Contains(m["reason"].(string), "Redis") {
		t.Errorf("/readyz with Redis down: %d %v, want 503 naming Redis", code, m)
	}
	if r := get(t, w.base+"/healthz"); r.code != http.StatusOK {
		t.Errorf("/healthz with Redis down: %d, want 200 (the process is alive)", r.code)
	}
	testkit.WaitFor(t, 20*time.Second, "cipurge_queue_collector_up 0 in /metrics", func() bool {
		r := get(t, w.base+"/metrics")
		v, ok := metricValue(r.body, "cipurge_queue_collector_up", "")
		return r.code == http.StatusOK && ok && v == 0
	})
	if _, ok := metricValue(metrics(), "cipurge_queue_tasks", `queue="purge",state="pending"`); ok {
		t.Errorf("with Redis down /metrics still reports queue sizes (stale values)")
	}
}

// /metrics carries the queue collector and the worker's metrics, with names that pass promlint.
func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.startWorker()
	h.SB.RateLimitFor(2*time.Second, "1") // one shared pause, so the wait metrics show up
	h.enqueue(goodURL)
	testkit.WaitFor(t, 30*time.Second, "the URL to be invalidated", func() bool { return h.SB.URLCount(goodURL) > 0 })
	h.deadLetter()

	var body string
	testkit.WaitFor(t, 10*time.Second, "the dead letter in cipurge_queue_tasks", func() bool {
		body = get(t, w.base+"/metrics").body
		v, ok := metricValue(body, "cipurge_queue_tasks", `queue="purge",state="archived"`)
		return ok && v == 1
	})
	for _, q := range tasks.QueueNames() {
		for _, s := range []string{"pending", "active", "scheduled", "retry", "archived", "completed"} {
			if _, ok := metricValue(body, "cipurge_queue_tasks", `queue="`+q+`",state="`+s+`"`); !ok {
				t.Errorf("no cipurge_queue_tasks{queue=%q,state=%q}", q, s)
			}
		}
	}
	if v, ok := metricValue(body, "cipurge_queue_collector_up", ""); !ok || v != 1 {
		t.Errorf("cipurge_queue_collector_up = %v (present %v), want 1", v, ok)
	}
	for _, name := range []string{
		// the queue collector
		"cipurge_pending_urls", "cipurge_pending_oldest_age_seconds", "cipurge_paused", "cipurge_pause_remaining_seconds",
		"cipurge_api_key_rejected", "cipurge_queue_latency_seconds", "cipurge_queue_processed_total", "cipurge_queue_failed_total",
		"cipurge_queue_paused", "cipurge_queue_memory_usage_bytes", "cipurge_queue_collector_errors_total",
		// the worker's (a labelled one appears once it has a sample: cipurge_ratelimit_waits_total
		// only when a task met the pause, which depends on timing, so it is not required here)
		"cipurge_api_requests_total", "cipurge_api_request_duration_seconds", "cipurge_urls_invalidated_total",
		"cipurge_requests_dropped_total", "cipurge_batch_urls", "cipurge_pauses_total",
		"cipurge_request_to_invalidation_seconds", "cipurge_dead_lettered_total", "cipurge_batches_formed_total",
	} {
		if !strings.Contains(body, "\n# TYPE "+name+" ") {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if v, _ := metricValue(body, "cipurge_urls_invalidated_total", ""); v < 1 {
		t.Errorf("cipurge_urls_invalidated_total = %v, want at least 1", v)
	}
	for _, c := range []struct{ name, labels string }{
		{"cipurge_api_requests_total", `outcome="accepted",scope="original"`},
		{"cipurge_api_requests_total", `outcome="rate_limited",scope="original"`},
		{"cipurge_api_requests_total", `outcome="rejected",scope="original"`},
		{"cipurge_pauses_total", `cause="rate_limited"`},
		{"cipurge_dead_lettered_total", `reason="rejected"`},
	} {
		if v, _ := metricValue(body, c.name, c.labels); v < 1 {
			t.Errorf("%s{%s} = %v, want at least 1", c.name, c.labels, v)
		}
	}

	// Prometheus naming conventions, for every cipurge_ metric.
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "cipurge_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	if strings.Contains(body, testKey) {
		t.Errorf("/metrics shows the API key")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
