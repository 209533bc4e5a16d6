//go:build faults

package faults

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestFaultEvictingRedis: a Redis with maxmemory-policy allkeys-lru (which evicts asynq's tasks
// and the pending set) acknowledges nothing: enqueue exits 2 naming the policy and the fix, the
// HTTP intake answers 503 with the same, the worker is not ready and forms no batches of the URLs
// acknowledged before the policy changed. After CONFIG SET maxmemory-policy noeviction the worker
// is ready again by itself and sends them, and the refused requests go through.
// It runs over 80 lines on purpose: one scenario on real processes; each step needs the state the one before left.
func TestFaultEvictingRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb, rdb, e := newRig(t, testredis.WithArgs("--maxmemory", "64mb", "--maxmemory-policy", "noeviction"))
	st := store.New(rdb)
	e = e.With("INTAKE_TOKEN=evict-intake-token")
	// Acknowledged under noeviction with no worker running: due (their window is 200 ms) long before
	// a worker starts, so a batcher that formed batches would form them at its first tick.
	seeded := testkit.ImageURLs("evict-seeded", 30)
	mustEnqueue(t, e, 30*time.Second, append([]string{"--no-progress"}, seeded...)...)
	must(t, rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())

	in := testkit.ImageURLs("evict", 30)
	res := runEnqueue(e, "", 30*time.Second, append([]string{"--no-progress"}, in...)...)
	if res.code != 2 || !strings.Contains(res.stderr, "allkeys-lru") || !strings.Contains(res.stderr, "CONFIG SET maxmemory-policy noeviction") {
		t.Errorf("enqueue into an allkeys-lru Redis: exit %d, want 2 naming the policy and the fix: %s", res.code, res.stderr)
	}
	w := startWorker(t, "worker", e)
	addr := w.httpAddr(t)
	code, body := testkit.Get(t, "http://"+addr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "allkeys-lru") {
		t.Errorf("/readyz with allkeys-lru: %d %s", code, body)
	}
	intake := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/invalidations", strings.NewReader(`{"urls":["`+in[0]+`"]}`))
		req.Header.Set("Authorization", "Bearer evict-intake-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	if code, body := intake(); code != http.StatusServiceUnavailable || !strings.Contains(body, "allkeys-lru") {
		t.Errorf("intake with allkeys-lru: %d %s", code, body)
	}

	// The signal: the batcher logs its first refusal (then at most once a minute). After it, nothing
	// is formed nor sent for a bounded time: an absence has no event to wait on. 3 s is 60 batcher
	// ticks (PURGE_WINDOW=200ms: one every 50 ms) and three times PURGE_MAX_DELAY, with the seeded
	// URLs due all along.
	testkit.WaitFor(t, 20*time.Second, "the batcher saying it forms no batches", func() bool {
		return countLogs(w.logs(), "batcher: forming no batches") > 0
	})
	const hold = 3 * time.Second
	queued := func() int {
		n, err := rdb.LLen(ctx, taskq.PendingKey(tasks.QueueInteractive)).Result()
		must(t, err)
		a, err := rdb.LLen(ctx, taskq.ActiveKey(tasks.QueueInteractive)).Result()
		must(t, err)
		return int(n + a)
	}
	var pending int64
	formed := 0 // request tasks in the queue
	for end := time.Now().Add(hold); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if pending, _, err = st.PendingCount(ctx); err != nil {
			t.Fatal(err)
		}
		formed = queued()
		if formed != 0 || pending != int64(len(seeded)) || sb.Stats().Requests != 0 || time.Now().After(end) {
			break
		}
	}
	refusals := countLogs(w.logs(), "batcher: forming no batches")
	report(t, "allkeys-lru: enqueue exit %d; /readyz %d; intake 503; of %d URLs acknowledged before the switch %d still pending, "+
		"%d request tasks formed and %d API calls over %s after the batcher's first refusal",
		res.code, code, len(seeded), pending, formed, sb.Stats().Requests, hold)
	if formed != 0 || sb.Stats().Requests != 0 || pending != int64(len(seeded)) {
		t.Errorf("with allkeys-lru: %d request tasks formed, %d API calls, %d of %d URLs pending (%d refusals logged)",
			formed, sb.Stats().Requests, pending, len(seeded), refusals)
	}

	// Fixed: the worker notices by itself (it reads the policy again every 10 s) and sends them.
	must(t, rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	fixed := time.Now()
	testkit.WaitFor(t, 30*time.Second, "/readyz 200 after CONFIG SET maxmemory-policy noeviction", func() bool {
		code, _ := testkit.Get(t, "http://"+addr+"/readyz")
		return code == http.StatusOK
	})
	ready := time.Since(fixed)
	testkit.WaitFor(t, 30*time.Second, "the URLs acknowledged before the switch invalidated", func() bool { return len(missing(sb, seeded)) == 0 })
	drained := time.Since(fixed)
	mustEnqueue(t, e, 30*time.Second, append([]string{"--no-progress"}, in...)...)
	testkit.WaitFor(t, 30*time.Second, "every URL invalidated after the fix", func() bool { return len(missing(sb, in)) == 0 })
	twice, _ := sentTwice(sb, append(append([]string(nil), seeded...), in...))
	report(t, "after CONFIG SET maxmemory-policy noeviction: ready in %.1fs, the %d URLs sent in %.1fs, the refused %d after enqueue again; %d sent twice",
		ready.Seconds(), len(seeded), drained.Seconds(), len(in), twice)
	if twice != 0 {
		t.Errorf("%d URLs sent twice", twice)
	}
}

// TestFaultRedisOOM: Redis runs out of memory (maxmemory small, noeviction). Enqueue is refused
// once it is full (exit 2) and what it acknowledged before stays; a worker started meanwhile is
// not ready (/readyz 503: Redis refuses writes) although PING answers; once memory is raised it is
// ready again by itself and every acknowledged URL is invalidated.
func TestFaultRedisOOM(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb, rdb, e := newRig(t, testredis.WithArgs("--maxmemory-policy", "noeviction"))
	base := testredis.UsedMemory(t, ctx, rdb)
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(base+512*1024, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	refused := 0
	for i := 0; i < 200 && refused == 0; i++ {
		chunk := testkit.ImageURLs("oom/"+strconv.Itoa(i), 200)
		res := runEnqueue(e, "", 30*time.Second, "--no-progress", "-f", writeLines(t, chunk))
		switch res.code {
		case 0:
			acked = append(acked, chunk...)
		case 2:
			refused++
			if !strings.Contains(res.stderr, "OOM") {
				t.Errorf("enqueue refused without naming the cause: %s", res.stderr)
			}
		default:
			t.Fatalf("enqueue: exit %d: %s", res.code, res.stderr)
		}
	}
	if refused == 0 {
		t.Fatalf("Redis never ran out of memory after %d URLs", len(acked))
	}
	w := startWorker(t, "worker", e)
	addr := w.httpAddr(t)
	code, body := testkit.Get(t, "http://"+addr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "refuses writes") {
		t.Errorf("/readyz while Redis is out of memory: %d %s", code, body)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "/readyz 200 after memory was raised", func() bool {
		code, _ := testkit.Get(t, "http://"+addr+"/readyz")
		return code == http.StatusOK
	})
	testkit.WaitFor(t, 120*time.Second, "every acknowledged URL invalidated", func() bool { return len(missing(sb, acked)) == 0 })
	report(t, "OOM: %d URLs acknowledged before Redis refused writes; /readyz %d during, 200 after; %d of them lost",
		len(acked), code, len(missing(sb, acked)))
}
