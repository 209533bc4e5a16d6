//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestFaultDeadLettersPastAsynqLimit: the API rejects every one of 10,300 URLs, one per request
// (PURGE_BATCH_SIZE=1), so 10,300 requests are dead-lettered on one queue, past the 10,000 asynq
// keeps in its archive (it trims the oldest silently). `enqueue dlq ls --limit 20000 --json` lists
// all 10,300, each with its URL, from the product's own record.
func TestFaultDeadLettersPastAsynqLimit(t *testing.T) {
	t.Parallel()
	const n = 10300
	ctx := context.Background()
	sb, rdb, e := newRig(t)
	e = e.With("PURGE_BATCH_SIZE=1", "PURGE_RATE=0", "PURGE_CONCURRENCY=20", "LOG_LEVEL=warn")
	in := testkit.ImageURLs("dlq", n)
	for _, u := range in {
		sb.RejectURL(u)
	}
	mustEnqueue(t, e, time.Minute, "--no-progress", "-f", writeLines(t, in))
	start := time.Now()
	startWorker(t, "worker", e)
	st := store.New(rdb)
	testkit.WaitFor(t, 240*time.Second, "10,300 dead letters recorded", func() bool {
		k, err := st.DeadLetterCount(ctx)
		return err == nil && k >= n
	})
	took := time.Since(start)
	res := runEnqueue(e, "", time.Minute, "dlq", "ls", "--limit", "20000", "--json")
	var list []struct {
		ID   string   `json:"id"`
		URLs []string `json:"urls"`
	}
	if res.code != 0 {
		t.Fatalf("dlq ls: exit %d: %s", res.code, res.stderr)
	}
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		t.Fatalf("dlq ls --json: %v: %s", err, testkit.Tail(res.stdout, 5))
	}
	listed := map[string]bool{}
	for _, d := range list {
		for _, u := range d.URLs {
			listed[u] = true
		}
	}
	lost := 0
	for _, u := range in {
		if !listed[u] {
			lost++
		}
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(tasks.QueueInteractive)
	if err != nil {
		t.Fatal(err)
	}
	report(t, "%d URLs rejected one per request: %d dead letters listed by dlq ls --limit 20000 --json (%d URLs, %d missing); asynq's archive holds %d; %d API calls; %.0fs",
		n, len(list), len(listed), lost, info.Archived, sb.Stats().Requests, took.Seconds())
	if len(list) != n || lost != 0 {
		t.Errorf("dlq ls listed %d entries and misses %d of %d URLs", len(list), lost, n)
	}
	if strings.Contains(res.stderr, "showing") {
		t.Errorf("dlq ls cut the list: %s", res.stderr)
	}
}
