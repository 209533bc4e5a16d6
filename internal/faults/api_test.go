//go:build faults

package faults

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestFaultAPIOutage: the API answers 503 to everything for 60 s while two workers hold 20
// requests. The fleet-wide backoff (PURGE_BACKOFF_BASE=1s after the first failure, then one probe
// every 5 s) keeps the calls during the outage few; everything is invalidated after it, and nothing
// is dead-lettered (PURGE_MAX_RETRY=25, never used up). It prints how long after the API was back
// the first request succeeded (the probe interval bounds it).
func TestFaultAPIOutage(t *testing.T) {
	t.Parallel()
	const (
		outage   = 60 * time.Second
		n        = 300 // 20 requests of 15
		maxRetry = 25
		burst    = 5
	)
	sb, rdb, e := newRig(t)
	e = e.With(fmt.Sprintf("PURGE_MAX_RETRY=%d", maxRetry), "PURGE_RETRY_BASE=1s",
		"PURGE_BACKOFF_BASE=1s", "PURGE_BACKOFF_MAX=60s", "PURGE_RATE=10", fmt.Sprintf("PURGE_BURST=%d", burst))
	in := testkit.ImageURLs("outage", n)
	mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, in...)...)
	sb.FailFor(outage, 503)
	start := time.Now()
	startWorker(t, "worker-a", e)
	startWorker(t, "worker-b", e)
	testkit.WaitFor(t, outage+150*time.Second, "every URL invalidated after the outage", func() bool { return len(missing(sb, in)) == 0 })
	done := time.Since(start)

	var failed []sandbox.Request
	firstOK := time.Time{}
	perTask := map[string]int{} // failures per request (its URLs)
	for _, q := range sb.Requests() {
		switch {
		case q.Code == 503:
			failed = append(failed, q)
			perTask[strings.Join(q.URLs, " ")]++
		case q.Code < 300 && firstOK.IsZero():
			firstOK = q.At
		}
	}
	mostFailures := 0
	for _, k := range perTask {
		mostFailures = max(mostFailures, k)
	}
	var offsets []string
	for _, q := range failed {
		offsets = append(offsets, fmt.Sprintf("%.1f", q.At.Sub(start).Seconds()))
	}
	// The backoff's pauses that end within the outage (1 s, then 5 s each): each lets one probe
	// through; allow a burst each for calls already on their way.
	expiries := 0
	for d, sum := time.Second, time.Duration(0); sum+d <= outage; d = 5 * time.Second {
		sum += d
		expiries++
	}
	bound := (expiries + 1) * burst
	report(t, "503 for %s: %d API calls during the outage from 2 workers holding 20 requests (at seconds %s); "+
		"first success %.1fs after the outage began (%.1fs after the API was back); every URL invalidated %.0fs after it began; most failures of one request %d of PURGE_MAX_RETRY=%d; %d dead letters",
		outage, len(failed), strings.Join(offsets, " "), firstOK.Sub(start).Seconds(), firstOK.Sub(start.Add(outage)).Seconds(), done.Seconds(), mostFailures, maxRetry, len(archivedAll(t, rdb)))
	if len(failed) > bound {
		t.Errorf("%d calls during a %s outage; the shared backoff allows about %d (%d pause ends, a burst of %d each)", len(failed), outage, bound, expiries+1, burst)
	}
	if dl := archivedAll(t, rdb); len(dl) != 0 {
		t.Errorf("%d tasks dead-lettered although no request used up its %d retries: %s", len(dl), maxRetry, dl[0].LastErr)
	}
	if mostFailures >= maxRetry {
		t.Errorf("a request failed %d times; the test needs PURGE_MAX_RETRY above that", mostFailures)
	}
}

// TestFault429Storm: the API answers 429 with Retry-After: 2 for 10 s. After a 429, no worker
// sends until the two seconds have passed (requests already on the wire when it came excepted),
// nothing counts as a failure (asynq's failed counts stay 0, and with PURGE_MAX_RETRY=0 a single
// counted failure would dead-letter the request), and everything is invalidated after the storm.
func TestFault429Storm(t *testing.T) {
	t.Parallel()
	const (
		storm      = 10 * time.Second
		retryAfter = 2 * time.Second
		// inFlight is how long after a 429 a request may still arrive because it was admitted
		// before the worker that got the 429 had shared the pause.
		inFlight = 250 * time.Millisecond
	)
	sb, rdb, e := newRig(t)
	e = e.With("PURGE_RATE=20", "PURGE_BURST=5", "PURGE_MAX_RETRY=0")
	in := testkit.ImageURLs("storm", 600) // 40 requests
	mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, in...)...)
	sb.RateLimitFor(storm, fmt.Sprint(retryAfter.Seconds()))
	start := time.Now()
	startWorker(t, "worker-a", e)
	startWorker(t, "worker-b", e)
	testkit.WaitFor(t, storm+60*time.Second, "every URL invalidated after the storm", func() bool { return len(missing(sb, in)) == 0 })

	reqs := sb.Requests()
	n429, early := 0, 0
	closest := time.Duration(-1) // the shortest wait after a 429 before a request that was not in flight
	for _, q := range reqs {
		if q.Code != 429 {
			continue
		}
		n429++
		for _, s := range reqs {
			d := s.At.Sub(q.At)
			if d <= inFlight {
				continue
			}
			if d < retryAfter {
				early++
				t.Errorf("a request arrived %s after a 429 with Retry-After %s", d.Round(time.Millisecond), retryAfter)
			}
			if closest < 0 || d < closest {
				closest = d
			}
		}
	}
	if n429 == 0 {
		t.Fatal("the sandbox never answered 429: the test proves nothing")
	}
	today, total := failedCounts(t, rdb)
	dl := archivedAll(t, rdb)
	var at []string
	for _, q := range reqs {
		at = append(at, fmt.Sprintf("%.2f/%d", q.At.Sub(start).Seconds(), q.Code))
	}
	t.Logf("requests (seconds from start/code): %s", strings.Join(at, " "))
	report(t, "429 with Retry-After %s for %s: %d calls answered 429 from 2 workers, %d calls in all for 40 requests; "+
		"%d requests sent sooner than Retry-After after a 429 (shortest wait after a 429 before a new request: %s); "+
		"asynq failed counts today %d, total %d; %d dead letters with PURGE_MAX_RETRY=0",
		retryAfter, storm, n429, len(reqs), early, closest.Round(time.Millisecond), today, total, len(dl))
	if today != 0 || total != 0 {
		t.Errorf("asynq counted %d failures today (%d in all): a 429 must not count as a failure", today, total)
	}
	if len(dl) != 0 {
		t.Errorf("%d tasks dead-lettered after 429s: %s", len(dl), dl[0].LastErr)
	}
}

// TestFaultBadKey: a worker whose key Cloudimage rejects (401) stops sending (one probe per
// PURGE_AUTH_PROBE), says why on /readyz (503), and burns nothing into the dead-letter queue (with
// PURGE_MAX_RETRY=0 a single counted failure would dead-letter a request); a worker restarted with
// the right key drains the backlog.
func TestFaultBadKey(t *testing.T) {
	t.Parallel()
	const (
		probe       = time.Second
		concurrency = 10
	)
	sb, rdb, e := newRig(t)
	e = e.With("PURGE_AUTH_PROBE=1s", "PURGE_MAX_RETRY=0", "PURGE_BATCH_SIZE=5",
		fmt.Sprintf("PURGE_CONCURRENCY=%d", concurrency))
	in := testkit.ImageURLs("badkey", 50) // 10 requests
	mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, in...)...)
	bad := startWorker(t, "worker-wrong-key", e.With("CLOUDIMAGE_API_KEY=wrong-key-d2a41f"))
	addr := bad.httpAddr(t)
	var rejected []sandbox.Request
	unauthorized := func() []sandbox.Request {
		var out []sandbox.Request
		for _, q := range sb.Requests() {
			if q.Code == 401 {
				out = append(out, q)
			}
		}
		return out
	}
	testkit.WaitFor(t, 20*time.Second, "a 401", func() bool { return len(unauthorized()) > 0 })
	var ready string
	testkit.WaitFor(t, 10*time.Second, "/readyz answering 503 with the reason", func() bool {
		code, body := testkit.Get(t, "http://"+addr+"/readyz")
		ready = body
		return code == 503 && strings.Contains(body, "CLOUDIMAGE_API_KEY")
	})
	first := unauthorized()[0].At
	testkit.WaitFor(t, 30*time.Second, "three probes after the first 401", func() bool {
		n := 0
		for _, q := range unauthorized() {
			if q.At.Sub(first) > probe/2 {
				n++
			}
		}
		return n >= 3
	})
	rejected = unauthorized()
	span := rejected[len(rejected)-1].At.Sub(first)
	// The requests in flight when the first 401 came, then one probe per PURGE_AUTH_PROBE.
	bound := concurrency + int(span/probe) + 1
	if len(rejected) > bound {
		t.Errorf("%d requests with a rejected key over %s; one probe per %s allows %d", len(rejected), span.Round(time.Millisecond), probe, bound)
	}
	if acc := sb.Stats().Accepted; acc != 0 {
		t.Errorf("%d requests accepted with the wrong key", acc)
	}
	if dl := archivedAll(t, rdb); len(dl) != 0 {
		t.Errorf("a rejected key burned %d tasks into the DLQ: %s", len(dl), dl[0].LastErr)
	}
	today, total := failedCounts(t, rdb)
	if today != 0 {
		t.Errorf("asynq counted %d failures for 401s", today)
	}
	if c := countLogs(bad.logs(), "sending stopped: Cloudimage rejected the API key"); c != 1 {
		t.Errorf("the rejected key was logged %d times, want once", c)
	}

	// The fix: restart with the right key.
	bad.stop(t)
	fixedAt := time.Now()
	good := startWorker(t, "worker-right-key", e)
	goodAddr := good.httpAddr(t)
	testkit.WaitFor(t, 60*time.Second, "the backlog drained with the right key", func() bool { return len(missing(sb, in)) == 0 })
	drained := time.Since(fixedAt)
	code, body := testkit.Get(t, "http://"+goodAddr+"/readyz")
	if code != 200 {
		t.Errorf("/readyz after the fix: %d %s", code, body)
	}
	report(t, "wrong key: %d requests answered 401 over %.1fs (10 requests queued, PURGE_AUTH_PROBE=%s, concurrency %d), 0 accepted, %d dead letters, asynq failures %d (total %d); "+
		"/readyz said 503 %s; after a restart with the right key the backlog of 50 URLs drained in %.1fs and /readyz said %d",
		len(rejected), span.Seconds(), probe, concurrency, len(archivedAll(t, rdb)), today, total, strings.TrimSpace(ready), drained.Seconds(), code)
}

// TestFaultPoison: task payloads written into Redis by hand that cannot decode (or decode into
// nothing sendable) go to the dead-letter queue at once with the reason; the worker keeps
// processing the good requests before and after them.
func TestFaultPoison(t *testing.T) {
	t.Parallel()
	sb, rdb, e := newRig(t)
	e = e.With("PURGE_MAX_RETRY=10")
	poison := []struct {
		name, typ, queue string
		payload          []byte
	}{
		{"not JSON", tasks.TypeURLs, tasks.QueueInteractive, []byte("{not json")},
		{"binary", tasks.TypeURLs, tasks.QueueBulk, []byte{0x00, 0xff, 0xfe, 0x01, 0x80}},
		{"no URLs", tasks.TypeURLs, tasks.QueueInteractive, []byte(`{"urls":[],"requested_at":"2026-01-01T00:00:00Z"}`)},
		{"no request time", tasks.TypeURLs, tasks.QueueInteractive, []byte(`{"urls":["https://img.example.com/poison/never.jpg"]}`)},
		{"flush-all null", tasks.TypeAll, tasks.QueueAll, []byte("null")},
		{"status check array", tasks.TypeConfirm, tasks.QueueConfirm, []byte(`["uuid"]`)},
	}
	c := asynq.NewClientFromRedisClient(rdb)
	ids := map[string]string{}
	for _, p := range poison {
		info, err := c.Enqueue(asynq.NewTask(p.typ, p.payload, asynq.Queue(p.queue), asynq.MaxRetry(25)))
		if err != nil {
			t.Fatal(err)
		}
		ids[info.ID] = p.name
	}
	before, after := testkit.ImageURLs("poison-before", 30), testkit.ImageURLs("poison-after", 30)
	mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, before...)...)
	w := startWorker(t, "worker", e)
	var dl []*asynq.TaskInfo
	testkit.WaitFor(t, 30*time.Second, "every poison task dead-lettered", func() bool {
		dl = archivedAll(t, rdb)
		return len(dl) == len(poison)
	})
	mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, after...)...)
	testkit.WaitFor(t, 30*time.Second, "the good URLs before and after invalidated", func() bool {
		return len(missing(sb, append(append([]string(nil), before...), after...))) == 0
	})
	var reasons []string
	for _, ti := range dl {
		name, ok := ids[ti.ID]
		if !ok {
			t.Errorf("an unexpected dead letter: %s %s", ti.Type, ti.LastErr)
			continue
		}
		if ti.Retried != 0 || !strings.Contains(ti.LastErr, "bad task payload") {
			t.Errorf("poison %q: retried %d, reason %q; want no retry and the reason", name, ti.Retried, ti.LastErr)
		}
		reasons = append(reasons, name+": "+ti.LastErr)
	}
	sort.Strings(reasons)
	for _, q := range sb.Requests() {
		if q.Scope == "all" || (len(q.URLs) == 1 && q.URLs[0] == "https://img.example.com/poison/never.jpg") {
			t.Errorf("a poison task was sent: %+v", q)
		}
	}
	res := runEnqueue(e, "", time.Minute, "dlq", "ls")
	for id := range ids {
		if !strings.Contains(res.stdout, id) {
			t.Errorf("enqueue dlq ls does not list poison task %s:\n%s", id, res.stdout)
		}
	}
	if n := strings.Count(res.stdout, "bad task payload"); n != len(poison) {
		t.Errorf("enqueue dlq ls shows the reason %d times, want %d:\n%s", n, len(poison), res.stdout)
	}
	if w.Exited() {
		t.Error("the worker exited")
	}
	report(t, "%d poison tasks (%d types, 4 queues) dead-lettered with 0 retries each; %d good URLs before and after them invalidated; reasons: %s",
		len(poison), 3, len(before)+len(after), strings.Join(reasons, " | "))
}
