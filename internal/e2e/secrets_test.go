package e2e

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/httpserver"
	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// exposure is one place the secrets test searches: a log, a command's output, an HTTP response
// or a Redis key with its value.
type exposure struct {
	where, text string
}

// TestAPIKeyNeverShown runs the whole pipeline with a recognisable API key (enqueue, the worker, a
// 5xx, a 429, a rejected URL dead-lettered, a URL Cloudimage fails twice dead-lettered, a 401 with
// another key and back, a flush-all, status checks, the operator commands), then searches every
// log line, every command's output, every Redis key and value, the metrics page, the health pages
// and the UI's API responses for the key (as is, base64 and hex): zero occurrences. Controls show
// that each searched place did record the events, so the search looked where the key could be.
// It runs over 80 lines on purpose: one run of the pipeline, then a search of every place it wrote.
func TestAPIKeyNeverShown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_CONFIRM=true", "PURGE_CONFIRM_DELAY=100ms", "PURGE_MAX_RESENDS=1", "PURGE_BATCH_SIZE=5",
		"PURGE_MAX_RETRY=3", "LOG_LEVEL=debug", "LOG_FORMAT=json")
	var seen []exposure
	add := func(where, text string) { seen = append(seen, exposure{where, text}) }
	enqueue := func(args ...string) (int, string) {
		t.Helper()
		code, out, errb := h.enqueue("", args...)
		add("enqueue "+strings.Join(args, " "), out+errb)
		return code, out + errb
	}

	// A 5xx, then a 429, a URL the API refuses (400, dead-lettered) and one it fails in its status
	// (sent again, then dead-lettered).
	h.SB.FailNext(1, 503)
	// The window opens at the first request (the 503), so that a worker starting on a loaded
	// machine still meets it (the control below).
	h.SB.ApplyFaults(&sandbox.Faults{RateLimit: &sandbox.Window{For: 2 * time.Second, Code: http.StatusTooManyRequests, RetryAfter: "1"}})
	rejected := "https://img.example.com/secrets/rejected.jpg"
	failing := "https://img.example.com/secrets/failing.jpg"
	h.SB.RejectURL(rejected)
	h.SB.FailURLInStatus(failing)
	first := append(testkit.ImageURLs("secrets", 13), rejected, failing)
	if code, out := enqueue(first...); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, out)
	}
	w := h.startWorker()
	addr := w.Addr(t)
	base := "http://" + addr
	testkit.WaitFor(t, 30*time.Second, "the good URLs invalidated", func() bool { return invalidatedAll(h.SB, append(testkit.ImageURLs("secrets", 13), failing)) })
	testkit.WaitFor(t, 30*time.Second, "the rejected URL and the failing URL dead-lettered", func() bool {
		n := 0
		for _, q := range tasks.QueueNames() {
			n += len(h.archived(q))
		}
		return n == 2
	})

	// A 401 with another key, /readyz while it lasts, then the right key again.
	h.SB.SetKey("another-key-5be0c1")
	more := testkit.ImageURLs("secrets-401", 5)
	if code, out := enqueue(more...); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, out)
	}
	testkit.WaitFor(t, 10*time.Second, "a 401", func() bool { return codeSeen(h, 401) })
	testkit.WaitFor(t, 10*time.Second, "/readyz saying the key is rejected", func() bool {
		code, body := testkit.Get(t, base+"/readyz")
		add("GET /readyz during the 401s", body)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "CLOUDIMAGE_API_KEY")
	})
	h.SB.SetKey(testKey)
	testkit.WaitFor(t, 30*time.Second, "the URLs held by the 401 invalidated", func() bool { return invalidatedAll(h.SB, more) })

	// A bulk re-ingest.
	bulk := testkit.ImageURLs("secrets-bulk", 20)
	code, out, errb := h.enqueue(strings.Join(bulk, "\n")+"\n", "--bulk", "-f", "-")
	add("enqueue --bulk -f -", out+errb)
	if code != 0 {
		t.Fatalf("enqueue --bulk: exit %d: %s%s", code, out, errb)
	}
	testkit.WaitFor(t, 30*time.Second, "the bulk URLs invalidated", func() bool { return invalidatedAll(h.SB, bulk) })

	// A flush-all, then the operator's views.
	if code, out := enqueue("--all", "--confirm=demo", "--reason", "secrets test"); code != 0 {
		t.Fatalf("flush-all: exit %d: %s", code, out)
	}
	testkit.WaitFor(t, 20*time.Second, "the flush-all sent", func() bool {
		for _, r := range h.SB.Accepted() {
			if r.Scope == "all" {
				return true
			}
		}
		return false
	})
	testkit.WaitFor(t, 20*time.Second, "status checks", func() bool { return h.SB.Stats().StatusRequests > 0 })
	enqueue("status")
	enqueue("status", "--json")
	enqueue("status", first[0], failing, rejected)
	enqueue("dlq", "ls")
	enqueue("dlq", "ls", "--json")
	enqueue("--dry-run", first[0])
	enqueue(append([]string{"--json"}, testkit.ImageURLs("secrets-json", 2)...)...)

	// Every page the worker serves: health, metrics, and the UI with its JSON API for every queue
	// and task state.
	pages := []string{"/healthz", "/readyz", "/metrics", httpserver.UIPath + "/",
		"/monitoring/api/queues", "/monitoring/api/queue_stats", "/monitoring/api/servers",
		"/monitoring/api/redis_info", "/monitoring/api/scheduler_entries"}
	for _, q := range tasks.QueueNames() {
		pages = append(pages, "/monitoring/api/queues/"+q, "/monitoring/api/queues/"+q+"/groups")
		for _, state := range []string{"active", "pending", "scheduled", "retry", "archived", "completed"} {
			pages = append(pages, "/monitoring/api/queues/"+q+"/"+state+"_tasks")
		}
	}
	for _, p := range pages {
		code, body := testkit.Get(t, base+p)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d %.200s", p, code, body)
		}
		add("GET "+p, body)
	}
	var archivedPage struct {
		Tasks []struct {
			ID      string `json:"id"`
			Payload string `json:"payload"`
			Error   string `json:"error_message"`
		} `json:"tasks"`
	}
	_, body := testkit.Get(t, base+"/monitoring/api/queues/"+tasks.QueueInteractive+"/archived_tasks")
	must(t, json.Unmarshal([]byte(body), &archivedPage))

	// Stop the worker (as SIGTERM does) so that its shutdown lines are searched too. Run's result
	// is not what this test checks.
	_ = w.Stop(t)
	testkit.WaitFor(t, 30*time.Second, "the worker stopped", func() bool { return strings.Contains(w.Logs.String(), "worker stopped") })
	logs := w.Logs.String()
	add("worker log", logs)
	keys := dumpRedis(t, h.RDB, add)

	needles := map[string]string{
		"the key":        testKey,
		"base64 the key": base64.StdEncoding.EncodeToString([]byte(testKey)),
		"hex the key":    hex.EncodeToString([]byte(testKey)),
	}
	found := 0
	for _, e := range seen {
		for what, n := range needles {
			if i := strings.Index(e.text, n); i >= 0 {
				found++
				t.Errorf("%s found in %s: ...%s...", what, e.where, e.text[max(0, i-80):min(len(e.text), i+len(n)+40)])
			}
		}
	}

	// Controls: the places searched did record every event of the run.
	for _, c := range []struct{ where, text, want string }{
		{"worker log", logs, "request will be retried"},
		{"worker log", logs, "rate limited by Cloudimage"},
		{"worker log", logs, "Cloudimage rejected the request"},
		{"worker log", logs, "sending stopped: Cloudimage rejected the API key"},
		{"worker log", logs, "sending resumed"},
		{"worker log", logs, "Cloudimage failed URLs: sending them again"},
		{"worker log", logs, "FLUSH-ALL SENT"},
		{"metrics", pageText(seen, "GET /metrics"), `outcome="server_error"`},
		{"metrics", pageText(seen, "GET /metrics"), `outcome="rate_limited"`},
		{"metrics", pageText(seen, "GET /metrics"), `outcome="unauthorized"`},
		{"metrics", pageText(seen, "GET /metrics"), `outcome="rejected"`},
		{"UI archived tasks", body, rejected},
		{"Redis", strings.Join(keys, "\n"), failing},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("control: %s does not show %q, so the search may have missed where the key could be", c.where, c.want)
		}
	}
	if len(archivedPage.Tasks) == 0 {
		t.Errorf("the UI lists no dead letters in %s", tasks.QueueInteractive)
	}
	t.Logf("RESULT searched %d log lines, %d command outputs, %d HTTP pages, %d Redis keys with their values for the key, base64 and hex: %d occurrences",
		strings.Count(logs, "\n"), countWhere(seen, "enqueue "), len(pages)+1, len(keys), found)
}

// dumpRedis hands every key of the database and its whole value (by type) to add, and returns the
// key names.
func dumpRedis(t *testing.T, rdb *redis.Client, add func(where, text string)) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := rdb.Scan(ctx, 0, "*", 500).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	must(t, iter.Err())
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		must(t, err)
		var v any
		switch typ {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = rdb.XRange(ctx, k, "-", "+").Result()
		case "none":
			continue // expired since the scan
		default:
			t.Fatalf("key %s has type %s: dump it too", k, typ)
		}
		if err != nil && err != redis.Nil {
			t.Fatalf("read %s (%s): %v", k, typ, err)
		}
		add("Redis "+typ+" "+k, k+"\n"+fmt.Sprintf("%v", v))
	}
	return keys
}

func codeSeen(h *harness, code int) bool {
	for _, r := range h.SB.Requests() {
		if r.Code == code {
			return true
		}
	}
	return false
}

func pageText(seen []exposure, where string) string {
	for _, e := range seen {
		if e.where == where {
			return e.text
		}
	}
	return ""
}

func countWhere(seen []exposure, prefix string) int {
	n := 0
	for _, e := range seen {
		if strings.HasPrefix(e.where, prefix) {
			n++
		}
	}
	return n
}
