package cipurge_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
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

// TestRecentRequests: the newest requests first, with their counts and callback without query,
// and no NotDone; n of 0 or less reads none.
func TestRecentRequests(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	c := newClient(t, rdb)
	insp := newInspector(t, rdb)
	ctx := context.Background()
	var ids []string
	for i, u := range []string{"https://img.example.com/recent/a.jpg", "https://img.example.com/recent/b.jpg"} {
		rep, err := c.Enqueue(ctx, []string{u}, cipurge.WithCallback("https://hooks.example.com/cipurge?token=t"+string(rune('0'+i))))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rep.RequestID)
		time.Sleep(2 * time.Millisecond) // distinct scores: the index orders by the millisecond
	}
	got, err := insp.RecentRequests(ctx, 10)
	if err != nil || len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[0] {
		t.Fatalf("RecentRequests(10) = %v, %v; want %s then %s", got, err, ids[1], ids[0])
	}
	if r := got[0]; r.URLs != 1 || r.Waiting != 1 || r.Done || r.NotDone != nil || r.Callback != "https://hooks.example.com/cipurge" || r.DoneMeans != cipurge.DoneMeansConfirmed {
		t.Errorf("the newest request: %+v", *r)
	}
	for _, n := range []int{0, -1} {
		if got, err := insp.RecentRequests(ctx, n); err != nil || len(got) != 0 {
			t.Errorf("RecentRequests(%d) = %v, %v", n, got, err)
		}
	}
}

// TestRequestSaysItsAccount: a request's record names the account of the client that made it, and
// its status says it; a record of the account default names none, so it reads as default.
func TestRequestSaysItsAccount(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	ctx := context.Background()
	insp := newInspector(t, rdb)
	for _, tc := range []struct{ client, want string }{{"", cipurge.DefaultAccount}, {"shop-a", "shop-a"}} {
		var opts []cipurge.ClientOption
		if tc.client != "" {
			opts = append(opts, cipurge.WithAccountName(tc.client))
		}
		c := newClient(t, rdb, opts...)
		rep, err := c.Enqueue(ctx, []string{"https://img.example.com/acct/" + tc.want + ".jpg"}, cipurge.WithAccount(cipurge.DefaultAccount))
		if err != nil {
			t.Fatal(err)
		}
		bulk, err := c.EnqueueBulk(ctx, slices.Values([]string{"https://img.example.com/acct/bulk-" + tc.want + ".jpg"}))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{rep.RequestID, bulk.RequestID} {
			st, err := insp.Request(ctx, id)
			if err != nil || st.Account != tc.want {
				t.Errorf("client %q, request %s: account %q, %v; want %q", tc.client, id, st.Account, err, tc.want)
			}
			raw := rdb.HExists(ctx, store.RequestKey(id), store.FieldReqAccount).Val()
			if raw != (tc.client != "") {
				t.Errorf("client %q: the record has the account field: %v", tc.client, raw)
			}
		}
		hook, err := cipurge.ReadWebhookData(ctx, rdb, rep.RequestID, "")
		if err != nil || hook.Account != tc.want {
			t.Errorf("client %q: the webhook data of %s: %+v, %v", tc.client, rep.RequestID, hook, err)
		}
		b, _ := json.Marshal(&cipurge.RequestStatus{Account: tc.want})
		if !strings.Contains(string(b), `"account":"`+tc.want+`"`) {
			t.Errorf("JSON %s", b)
		}
	}
}

// newInspector is an Inspector of rdb for the token demo.
func newInspector(t *testing.T, rdb redis.UniversalClient) *cipurge.Inspector {
	t.Helper()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	insp, err := cipurge.NewInspector(rdb, norm)
	if err != nil {
		t.Fatal(err)
	}
	return insp
}

// TestLookupSaysItsAccount: a URL's history says the account whose history it is.
func TestLookupSaysItsAccount(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	ctx := context.Background()
	if _, err := newClient(t, rdb).Enqueue(ctx, []string{"https://img.example.com/acct/look.jpg"}); err != nil {
		t.Fatal(err)
	}
	h, err := newInspector(t, rdb).Lookup(ctx, "https://img.example.com/acct/look.jpg")
	if err != nil || h.Account != cipurge.DefaultAccount || h.PendingSince == nil {
		t.Errorf("lookup %+v, %v; want pending, of the account default", h, err)
	}
	other, err := inspect.Lookup(ctx, store.New(rdb).For("shop-a"), "https://img.example.com/acct/look.jpg")
	if err != nil || other.Account != "shop-a" || other.PendingSince != nil {
		t.Errorf("shop-a's lookup %+v, %v; want nothing pending, of the account shop-a", other, err)
	}
}
