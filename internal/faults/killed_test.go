//go:build faults

package faults

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
)

// TestFaultWorkerKilled: two workers drain 20,000 URLs; the one holding the batcher lease is
// killed with SIGKILL when a third of the requests are accepted. Every URL is invalidated in the
// end (the survivor takes over the batcher lease at once and asynq's recoverer hands it the dead
// worker's tasks when their 30 s lease expires); the test reports how many URLs were sent twice.
func TestFaultWorkerKilled(t *testing.T) {
	t.Parallel()
	const (
		n           = 20000
		batch       = 15
		concurrency = 10
	)
	ctx := context.Background()
	sb, rdb, e := newRig(t)
	// 100 ms per API call: with PURGE_RATE=100 about ten calls are in flight at any moment, so the
	// kill lands in the middle of some of them.
	sb.SetLatency(100 * time.Millisecond)
	e = e.With("PURGE_RATE=100", "PURGE_BURST=10",
		"PURGE_CONCURRENCY="+strconv.Itoa(concurrency), "PURGE_BATCH_SIZE="+strconv.Itoa(batch))

	in := testkit.ImageURLs("killed", n)
	res := mustEnqueue(t, e, time.Minute, "--no-progress", "-f", writeLines(t, in))
	if !strings.Contains(res.stderr, "20,000 enqueued") {
		t.Fatalf("enqueue: exit %d: %s", res.code, res.stderr)
	}
	a := startWorker(t, "worker-a", e)
	b := startWorker(t, "worker-b", e)
	requests := (n + batch - 1) / batch
	testkit.WaitFor(t, 90*time.Second, "a third of the requests accepted", func() bool { return sb.Stats().Accepted >= requests/3 })

	// Kill the worker that holds the batcher lease (host:pid:nonce), so that the batcher's
	// hand-over is part of the test too.
	victim, survivor := a, b
	if holder, err := rdb.Get(ctx, store.KeyBatcher).Result(); err == nil {
		if parts := strings.Split(holder, ":"); len(parts) >= 2 && parts[len(parts)-2] == strconv.Itoa(b.Pid()) {
			victim, survivor = b, a
		}
	}
	acceptedAtKill := sb.Stats().Accepted
	killedAt := time.Now()
	victim.Kill()
	t.Logf("killed %s (pid %d) with SIGKILL after %d of about %d requests", victim.Name, victim.Pid(), acceptedAtKill, requests)

	testkit.WaitFor(t, 200*time.Second, "every URL invalidated after the kill", func() bool { return len(missing(sb, in)) == 0 })
	recovered := time.Since(killedAt)
	twice, extra := sentTwice(sb, in)
	st := sb.Stats()
	c := codes(sb)
	report(t, "%d URLs, %d API calls accepted (%d needed at 15 URLs a call); killed the batcher-lease holder after %d calls; "+
		"every URL invalidated %.0fs after the kill; %d URLs sent twice (%d extra sends); %d calls cut off by the kill (no answer)",
		n, st.Accepted, requests, acceptedAtKill, recovered.Seconds(), twice, extra, c[499])

	// Only requests in flight in the killed worker can go out twice: at most its concurrency.
	if twice > concurrency*batch {
		t.Errorf("%d URLs sent twice; only the killed worker's %d in-flight requests (%d URLs) could be", twice, concurrency, concurrency*batch)
	}
	if dl := archivedAll(t, rdb); len(dl) != 0 {
		t.Errorf("%d tasks dead-lettered: %s", len(dl), dl[0].LastErr)
	}
	if pending, _, err := store.New(rdb).PendingCount(ctx); err != nil || pending != 0 {
		t.Errorf("pending set holds %d entries (%v) after the drain", pending, err)
	}
	if survivor.Exited() {
		t.Errorf("the surviving worker exited:\n%s", testkit.Tail(survivor.logs(), 20))
	}
}
