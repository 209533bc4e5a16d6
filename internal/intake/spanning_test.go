package intake_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
)

// setupSeveral is an intake of threeAccounts as the worker builds it with several accounts: one
// Client and one Inspector over every account.
func setupSeveral(t *testing.T) *env {
	t.Helper()
	set := mustParse(t)
	accts, err := cipurge.ParseAccounts([]byte(threeAccounts), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := testredis.Start(t)
	c, err := cipurge.NewClient(r.Client(), nil, cipurge.WithAccounts(accts))
	if err != nil {
		t.Fatal(err)
	}
	insp, err := cipurge.NewInspector(r.Client(), nil, cipurge.InspectAccounts(accts))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, r, r.Client(), func(o *intake.Options) { o.Accounts, o.Client, o.Inspector = set, c, insp })
	t.Cleanup(func() { testkit.NoSecretLogged(t, e.logs, "a scoped token", cmsA, opsAB, readerB, flushB) })
	return e
}

// pendingOf is how many URLs wait in the pending set of account.
func (e *env) pendingOf(account string) int64 {
	e.t.Helper()
	return e.rdb.ZCard(context.Background(), store.KeysFor(account).Pending).Val()
}

// TestRequestSpanningAccounts: with a worker of several accounts, one request may hold URLs of
// several. Each URL goes to its account's keys; a URL of no account is rejected with the fix and
// the rest is queued. GET /v1/requests/{id} adds the parts up, for a token that reaches them all.
func TestRequestSpanningAccounts(t *testing.T) {
	t.Parallel()
	e := setupSeveral(t)
	urls := func(us ...string) string { return urlsBody(us, "") }
	inv := intake.PathInvalidations
	a := e.send(opsAB, inv, urls("https://img.shop-a.com/storage.shop-a.com/a/1.jpg", "https://storage.shop-b.com/b/1.jpg", "https://elsewhere.example.com/x.jpg"))
	expect(t, "URLs of two accounts with ops-ab", a, http.StatusAccepted, `"enqueued":2`, `"rejected":1`,
		`"account":"shop-a"`, `"account":"shop-b"`, "which no account lists")
	if ea, eb, ed := e.pendingOf("shop-a"), e.pendingOf("shop-b"), e.pendingOf("default"); ea != 1 || eb != 1 || ed != 0 {
		t.Errorf("pending: shop-a %d, shop-b %d, default %d; want 1, 1, 0", ea, eb, ed)
	}
	id := requestID(t, a)
	expect(t, "the request with ops-ab", e.send(opsAB, intake.PathRequests+id, ""), http.StatusOK,
		`"urls":2`, `"accounts":["shop-a","shop-b"]`)
	expect(t, "the request with cms-a", e.send(cmsA, intake.PathRequests+id, ""), http.StatusForbidden, `of the account \"shop-b\"`)
	expect(t, "the request with INTAKE_TOKEN", e.send(testToken, intake.PathRequests+id, ""), http.StatusOK, `"urls":2`)

	a = e.send(testToken, inv, urls("https://storage.shop-c.com/c/1.jpg", "https://storage.shop-b.com/b/2.jpg"))
	expect(t, "URLs of two accounts with INTAKE_TOKEN", a, http.StatusAccepted, `"enqueued":2`, `"account":"shop-c"`)
	expect(t, "a URL of shop-c with cms-a", e.send(cmsA, inv, urls("https://storage.shop-c.com/c/2.jpg", "https://storage.shop-a.com/a/2.jpg")),
		http.StatusForbidden, `url \"https://storage.shop-c.com/c/2.jpg\" is of the account \"shop-c\"`)
	expect(t, "a URL's history with ops-ab", e.send(opsAB, intake.PathHistory+"?url=https://storage.shop-b.com/b/1.jpg", ""),
		http.StatusOK, `"account":"shop-b"`, `"pending_since"`)

	all := intake.PathFlushAll
	expect(t, "a flush-all naming no account", e.send(flushToken, all, `{"confirm":"shopb"}`), http.StatusBadRequest, `"no_account"`, "shop-a, shop-b, shop-c")
	expect(t, "shop-b's flush-all with shop-a's token", e.send(flushToken, all, `{"account":"shop-b","confirm":"shopa"}`),
		http.StatusForbidden, "confirmation_mismatch")
	expect(t, "shop-b's flush-all", e.send(flushB, all, `{"confirm":"shopb","reason":"test"}`), http.StatusAccepted, `"queue":"flush-all:shop-b"`)
}
