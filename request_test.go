package cipurge_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestEnqueueMakesARequest: every call names a request that counts its URLs; a retry with the
// same idempotency key names the same request and queues nothing; a URL two requests share
// counts for both; a bulk run's request counts its URLs without a link per URL.
func TestEnqueueMakesARequest(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	rdb := r.Client()
	c := newClient(t, rdb)
	st := store.New(rdb)
	ctx := context.Background()
	a := []string{"https://img.example.com/rq/a.jpg", "https://img.example.com/rq/b.jpg", "not a url"}
	rep, err := c.Enqueue(ctx, a, cipurge.WithIdempotencyKey("deploy-1"), cipurge.WithCallback("https://hooks.example.com/cipurge"))
	if err != nil {
		t.Fatal(err)
	}
	if !store.ValidRequestID(rep.RequestID) || rep.Replayed || rep.Enqueued != 2 {
		t.Fatalf("report %+v", rep)
	}
	rec, err := st.Request(ctx, rep.RequestID)
	if err != nil || rec.Total != 2 || rec.Counts[store.ReqWaiting] != 2 || rec.Callback != "https://hooks.example.com/cipurge" || rec.Open {
		t.Fatalf("record %+v, %v", rec, err)
	}
	again, err := c.Enqueue(ctx, a, cipurge.WithIdempotencyKey("deploy-1"))
	if err != nil || again.RequestID != rep.RequestID || !again.Replayed || again.Enqueued != 0 {
		t.Fatalf("the retry: %+v, %v; want request %s replayed, nothing enqueued", again, err, rep.RequestID)
	}
	other, err := c.Enqueue(ctx, a[1:2])
	if err != nil || other.RequestID == rep.RequestID || other.AlreadyPending != 1 {
		t.Fatalf("a second request of a pending URL: %+v, %v", other, err)
	}
	// The shared URL is sent once: both requests count it.
	if _, err := st.MoveURLs(ctx, nil, a[:2], store.Move{From: store.ReqWaiting, To: store.ReqSent, Keep: true}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{rep.RequestID, other.RequestID} {
		if rec, _ := st.Request(ctx, id); rec.Counts[store.ReqSent] != rec.Total {
			t.Errorf("%s after the send: %v of %d", id, rec.Counts, rec.Total)
		}
	}
	bulk, err := c.EnqueueBulk(ctx, slices.Values([]string{"https://img.example.com/rq/c.jpg", "https://img.example.com/rq/d.jpg"}))
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := st.Request(ctx, bulk.RequestID); rec.Total != 2 || rec.Open {
		t.Errorf("bulk request %+v", rec)
	}
	if n := rdb.HLen(ctx, store.KeyRequestLinks).Val(); n != 2 {
		t.Errorf("%d URLs linked, want the 2 of the pending set, not the bulk run's", n)
	}
	var bad *cipurge.OptionError
	if _, err := c.Enqueue(ctx, a, cipurge.WithCallback("http://hooks.example.com/x")); !errors.As(err, &bad) {
		t.Errorf("a plain http callback: %v, want an *OptionError", err)
	}
}
