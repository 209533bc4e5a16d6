//go:build faults

package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
)

// TestFaultMillionPendingThreeWorkers: 1,000,000 URLs wait in the pending set and three workers
// start at once, with no fault and no rate limit (the batcher's longest steps). One batcher at a
// time forms the batches (its step never outlives its lease), no round fails (a round near its
// deadline begins no chunk and finishes those it began), so no URL is sent twice.
func TestFaultMillionPendingThreeWorkers(t *testing.T) {
	t.Parallel()
	const n = 1_000_000
	ctx := context.Background()
	sb, rdb, e := newRig(t)
	e = e.With("PURGE_RATE=0", "PURGE_CONCURRENCY=20")
	in := testkit.ImageURLs("million", n)
	res := mustEnqueue(t, e, 3*time.Minute, "--no-progress", "-f", writeLines(t, in))
	if !strings.Contains(res.stderr, "1,000,000 enqueued") {
		t.Fatalf("enqueue: exit %d: %s", res.code, res.stderr)
	}
	start := time.Now()
	ws := []*proc{startWorker(t, "worker-a", e), startWorker(t, "worker-b", e), startWorker(t, "worker-c", e)}
	testkit.WaitFor(t, 10*time.Minute, "a million URLs accepted", func() bool { return sb.Stats().URLs >= n })
	deadline := time.Now().Add(2 * time.Minute)
	var lost []string
	for lost = missing(sb, in); len(lost) > 0 && time.Now().Before(deadline); lost = missing(sb, in) {
		time.Sleep(2 * time.Second)
	}
	took := time.Since(start)
	twice, extra := sentTwice(sb, in)
	st := sb.Stats()
	stepFailed := 0
	for _, w := range ws {
		stepFailed += countLogs(w.logs(), "batcher step failed")
	}
	report(t, "%d URLs pending, 3 workers, no fault: %d API calls accepted (%d needed), every URL sent in %.0fs; "+
		"%d URLs sent twice (%d extra sends); %d not sent; %d batcher steps failed",
		n, st.Accepted, (n+14)/15, took.Seconds(), twice, extra, len(lost), stepFailed)
	if len(lost) > 0 {
		t.Errorf("%d URLs never reached the API, e.g. %s", len(lost), lost[0])
	}
	if twice != 0 {
		t.Errorf("%d URLs sent twice (%d extra sends) with no fault: two batchers formed batches at once", twice, extra)
	}
	if stepFailed != 0 {
		t.Errorf("%d batcher steps failed with no fault: a round outlived its deadline or its lease", stepFailed)
	}
	if pending, _, err := store.New(rdb).PendingCount(ctx); err != nil || pending != 0 {
		t.Errorf("pending set holds %d entries (%v) after the drain", pending, err)
	}
}
