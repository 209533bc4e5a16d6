package cipurge_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestWithAccount: a request may name the client's account, by its name or as the default one.
// Another name refuses the whole call, and nothing is queued.
func TestWithAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testredis.Start(t)
	c := newClient(t, r.Client(), cipurge.WithAccountName("shop"))
	for i, name := range []string{"", "shop", cipurge.DefaultAccount} {
		url := "https://img.example.com/" + string(rune('a'+i)) + ".jpg"
		rep, err := c.Enqueue(ctx, []string{url}, cipurge.WithAccount(name))
		if err != nil || rep.Enqueued != 1 {
			t.Errorf("WithAccount(%q): %+v, %v", name, rep, err)
		}
	}
	before, err := r.Client().Keys(ctx, "*").Result()
	must(t, err)
	_, err = c.Enqueue(ctx, []string{"https://img.example.com/z.jpg"}, cipurge.WithAccount("other"))
	var oe *cipurge.OptionError
	if !errors.As(err, &oe) || oe.Option != "WithAccount" || !strings.Contains(err.Error(), `this client writes for the account "shop" only`) {
		t.Fatalf("another account: %v", err)
	}
	_, err = c.EnqueueBulk(ctx, slices.Values([]string{"https://img.example.com/z.jpg"}), cipurge.WithAccount("other"))
	if !errors.As(err, &oe) {
		t.Fatalf("another account, bulk: %v", err)
	}
	after, err := r.Client().Keys(ctx, "*").Result()
	must(t, err)
	slices.Sort(before)
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Errorf("a refused call wrote to Redis: keys %v, then %v", before, after)
	}
}

// twoShops is an accounts file of two accounts, for the clients of several accounts.
const twoShops = `
accounts:
  - name: shop-a
    token: shopa
    hosts: [img.shop-a.com]
    origins: [https://storage.shop-a.com/]
    flush_all: {cooldown: 1h}
  - name: shop-b
    token: shopb
    origins: [https://storage.shop-b.com/, https://shared.example.com/]
  - name: shop-c
    token: shopc
    origins: [https://shared.example.com/c/]
`

func twoShopAccounts(t *testing.T) *cipurge.Accounts {
	t.Helper()
	a, err := cipurge.ParseAccounts([]byte(twoShops), t.TempDir())
	must(t, err)
	return a
}

// TestClientOfSeveralAccounts: a client built WithAccounts routes each URL to its account's keys.
// A URL of no account, or of two, is rejected with the candidates; the others are queued.
// The request has one ID, with a part in each account; the Inspector adds the parts up.
func TestClientOfSeveralAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testredis.Start(t)
	accts := twoShopAccounts(t)
	c, err := cipurge.NewClient(r.Client(), nil, cipurge.WithAccounts(accts))
	must(t, err)
	urls := []string{
		"https://img.shop-a.com/storage.shop-a.com/a.jpg",     // shop-a by its CNAME
		"https://shopb.cloudimg.io/storage.shop-b.com/b2.jpg", // shop-b by its token host
		"https://storage.shop-a.com/x.jpg",                    // shop-a by its origin
		"https://elsewhere.example.com/z.jpg",                 // no account
		"https://shared.example.com/c/both.jpg",               // two accounts
		"https://storage.shop-b.com/b.jpg",                    // shop-b by its origin
		"https://storage.shop-b.com/b.jpg?version=2",          // the same key again
	}
	rep, err := c.Enqueue(ctx, urls)
	must(t, err)
	wantAcct := []string{"shop-a", "shop-b", "shop-a", "", "", "shop-b", "shop-b"}
	wantOut := []cipurge.Outcome{cipurge.Enqueued, cipurge.Enqueued, cipurge.Enqueued, cipurge.Rejected, cipurge.Rejected, cipurge.Enqueued, cipurge.DuplicateInInput}
	for i, res := range rep.Results {
		if res.Account != wantAcct[i] || res.Outcome != wantOut[i] {
			t.Errorf("%s: %s in %q, want %s in %q (%s)", res.Input, res.Outcome, res.Account, wantOut[i], wantAcct[i], res.Reason)
		}
	}
	if r := rep.Results[3].Reason; !strings.Contains(r, "which no account lists") {
		t.Errorf("no account: %s", r)
	}
	if r := rep.Results[4].Reason; !strings.Contains(r, `matches two accounts, "shop-b"`) || !strings.Contains(r, `"shop-c"`) {
		t.Errorf("two accounts: %s", r)
	}
	if rep.Enqueued != 4 || rep.Rejected != 2 || rep.Duplicates != 1 {
		t.Errorf("counts: %+v", rep)
	}
	for acct, want := range map[string][]string{
		"shop-a":  {"https://storage.shop-a.com/a.jpg", "https://storage.shop-a.com/x.jpg"},
		"shop-b":  {"https://storage.shop-b.com/b.jpg", "https://storage.shop-b.com/v7/b.jpg"},
		"default": nil,
	} {
		got, err := r.Client().ZRange(ctx, store.KeysFor(acct).Pending, 0, -1).Result()
		must(t, err)
		if len(got) != len(want) {
			t.Errorf("pending of %s: %q, want %d keys", acct, got, len(want))
		}
	}
	insp, err := cipurge.NewInspector(r.Client(), nil, cipurge.InspectAccounts(accts))
	must(t, err)
	st, err := insp.Request(ctx, rep.RequestID)
	must(t, err)
	if st.URLs != 4 || st.Waiting != 4 || st.Account != "shop-a" || !slices.Equal(st.Accounts, []string{"shop-a", "shop-b"}) || st.Done {
		t.Errorf("the request: %+v", st)
	}
	h, err := insp.Lookup(ctx, "https://storage.shop-b.com/b.jpg")
	must(t, err)
	if h.Account != "shop-b" || h.PendingSince == nil {
		t.Errorf("lookup: %+v", h)
	}
	if _, err := insp.Lookup(ctx, "https://elsewhere.example.com/z.jpg"); !errors.As(err, new(*cipurge.InvalidURLError)) {
		t.Errorf("lookup of no account: %v", err)
	}

	// WithAccount names the account over the form; an unknown name queues nothing.
	rep, err = c.Enqueue(ctx, []string{"https://elsewhere.example.com/z.jpg"}, cipurge.WithAccount("shop-c"))
	must(t, err)
	if rep.Enqueued != 1 || rep.Results[0].Account != "shop-c" {
		t.Errorf("WithAccount: %+v", rep.Results)
	}
	var oe *cipurge.OptionError
	if _, err := c.Enqueue(ctx, []string{"https://img.shop-a.com/q.jpg"}, cipurge.WithAccount("shop-x")); !errors.As(err, &oe) ||
		!strings.Contains(err.Error(), "use one of shop-a, shop-b, shop-c") {
		t.Errorf("unknown account: %v", err)
	}

	// Bulk: one request, parts in the accounts its URLs are of.
	brep, err := c.EnqueueBulk(ctx, slices.Values([]string{"https://img.shop-a.com/storage.shop-a.com/bulk.jpg", "https://storage.shop-b.com/bulk.jpg", "https://nowhere.example.com/a.jpg"}))
	must(t, err)
	if brep.Enqueued != 2 || brep.Rejected != 1 {
		t.Errorf("bulk: %+v", brep)
	}
	st, err = insp.Request(ctx, brep.RequestID)
	must(t, err)
	if st.URLs != 2 || !slices.Equal(st.Accounts, []string{"shop-a", "shop-b"}) {
		t.Errorf("the bulk request: %+v", st)
	}
	for _, acct := range []string{"shop-a", "shop-b"} {
		if n, err := r.Client().LLen(ctx, taskq.PendingKey(tasks.QueuesOf(acct).Bulk)).Result(); err != nil || n != 1 {
			t.Errorf("bulk queue of %s: %d tasks, %v", acct, n, err)
		}
	}

	// Flush-all: one account, confirmed with its own token.
	if err := c.RequestFlushAll(ctx, cipurge.FlushAllRequest{Confirm: "shopa"}); !errors.As(err, &oe) {
		t.Errorf("flush-all without an account: %v", err)
	}
	var fr *cipurge.FlushRefusedError
	if err := c.RequestFlushAll(ctx, cipurge.FlushAllRequest{Account: "shop-b", Confirm: "shopa"}); !errors.As(err, &fr) {
		t.Errorf("flush-all of shop-b confirmed with shop-a's token: %v", err)
	}
	must(t, c.RequestFlushAll(ctx, cipurge.FlushAllRequest{Account: "shop-b", Confirm: "shopb", RequestedBy: "test"}))
	if n, err := r.Client().Exists(ctx, taskq.TaskKey(tasks.QueuesOf("shop-b").All, tasks.TaskIDAll)).Result(); err != nil || n != 1 {
		t.Errorf("the flush-all of shop-b is not on its queue: %d, %v", n, err)
	}
}
