package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
)

// TestUpgradeDrainsWhatTheOldCodeQueued: a worker of this code drains what a worker of the code
// before the schema file left in Redis: pending requests, a request task and a bulk task, written
// here with the keys, queue names, task types and payloads spelled out as the old code wrote them.
func TestUpgradeDrainsWhatTheOldCodeQueued(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pending := testkit.ImageURLs("old-pending", 3)
	queued := testkit.ImageURLs("old-task", 2)
	bulk := testkit.ImageURLs("old-bulk", 20)
	for i, u := range pending {
		must(t, h.RDB.ZAdd(ctx, "cipurge:{cipurge}:pending", redis.Z{Score: float64(time.Now().Add(-time.Minute).UnixMilli() + int64(i)), Member: u}).Err())
	}
	must(t, h.RDB.HSet(ctx, "cipurge:{cipurge}:src", pending[0], "cms: old").Err())
	c := asynq.NewClientFromRedisClient(h.RDB)
	old := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	_, err := c.Enqueue(asynq.NewTask("purge:urls",
		[]byte(fmt.Sprintf(`{"urls":[%q,%q],"requested_at":%q,"origin":"interactive"}`, queued[0], queued[1], old)),
		asynq.Queue("purge"), asynq.TaskID("urls_old1"), asynq.MaxRetry(11)))
	must(t, err)
	body := `{"urls":[`
	for i, u := range bulk {
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf("%q", u)
	}
	_, err = c.Enqueue(asynq.NewTask("purge:urls", []byte(body+fmt.Sprintf(`],"requested_at":%q,"origin":"bulk"}`, old)),
		asynq.Queue("bulk"), asynq.TaskID("urls_old2"), asynq.MaxRetry(11)))
	must(t, err)

	h.startWorker()
	all := append(append(append([]string(nil), pending...), queued...), bulk...)
	testkit.WaitFor(t, 20*time.Second, "every URL the old code queued invalidated", func() bool { return invalidatedAll(h.SB, all) })
	if n := h.RDB.ZCard(ctx, "cipurge:{cipurge}:pending").Val(); n != 0 {
		t.Fatalf("%d old pending requests left", n)
	}
	for _, u := range all {
		if n := h.SB.URLCount(u); n != 1 {
			t.Errorf("%s invalidated %d times, want 1", u, n)
		}
	}
	if rec, ok, err := store.New(h.RDB).History(ctx, pending[0]); err != nil || !ok || (rec.State != store.StateSent && rec.State != store.StateConfirmed) {
		t.Errorf("history of an old pending request: %+v, %v, %v; want sent", rec, ok, err)
	}
}
