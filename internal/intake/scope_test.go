package intake_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Scoped tokens of threeAccounts. Their values are searched for in every log line and answer.
const (
	cmsA    = "scoped-cms-a-7f3e91c2"    // shop-a: enqueue, lookup
	opsAB   = "scoped-ops-ab-2b6d04a8"   // shop-a and shop-b: enqueue, lookup, flush
	readerB = "scoped-reader-b-95c7e13f" // shop-b: lookup
	flushB  = "scoped-flush-b-0d4a6b77"  // shop-b: flush
)

// threeAccounts is an accounts file of three accounts and four scoped tokens.
const threeAccounts = `
accounts:
  - {name: shop-a, token: shopa, hosts: [img.shop-a.com], origins: ["https://storage.shop-a.com/"]}
  - {name: shop-b, token: shopb, origins: ["https://storage.shop-b.com/"]}
  - {name: shop-c, token: shopc, origins: ["https://storage.shop-c.com/"]}
tokens:
  - {name: cms-a, token: ` + cmsA + `, accounts: [shop-a], may: [enqueue, lookup]}
  - {name: ops-ab, token: ` + opsAB + `, accounts: [shop-a, shop-b], may: [enqueue, lookup, flush]}
  - {name: reader-b, token: ` + readerB + `, accounts: [shop-b], may: [lookup]}
  - {name: flush-b, token: ` + flushB + `, accounts: [shop-b], may: [flush]}
`

// setupScoped is an intake of threeAccounts: a Client per account, each confirming its flush-all
// with its own Cloudimage token. The unscoped tokens keep theirs.
func setupScoped(t *testing.T) *env {
	t.Helper()
	set := mustParse(t)
	r := testredis.Start(t)
	e := newEnv(t, r, r.Client(), func(o *intake.Options) {
		o.Accounts, o.Clients = set, map[string]*cipurge.Client{}
		for _, a := range set.All() {
			c, err := cipurge.NewClient(r.Client(), a.Normalizer(), cipurge.WithAccountName(a.Name), cipurge.WithFlushAll(a.Token(), time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			o.Clients[a.Name] = c
		}
	})
	t.Cleanup(func() { testkit.NoSecretLogged(t, e.logs, "a scoped token", cmsA, opsAB, readerB, flushB) })
	return e
}

// send posts body to path with token, or GETs path when body is "".
func (e *env) send(token, path, body string) answer {
	e.t.Helper()
	if body == "" {
		return do(e.t, e.srv.Client(), http.MethodGet, e.srv.URL+path, token, "", nil)
	}
	return do(e.t, e.srv.Client(), http.MethodPost, e.srv.URL+path, token, "application/json", strings.NewReader(body))
}

// requestsMade is how many request records Redis holds.
func (e *env) requestsMade() int64 {
	e.t.Helper()
	return e.rdb.ZCard(context.Background(), store.KeyRequests).Val()
}

// expect checks a's status and that its body holds each of want and no scoped token's value.
func expect(t *testing.T, what string, a answer, status int, want ...string) {
	t.Helper()
	body := string(a.Body)
	if a.Status != status {
		t.Errorf("%s: %d %s, want %d", what, a.Status, body, status)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: %q missing in %s", what, w, body)
		}
	}
	for _, v := range []string{cmsA, opsAB, readerB, flushB} {
		if strings.Contains(body, v) {
			t.Errorf("%s: a token's value in %s", what, body)
		}
	}
}

// TestScopedEnqueue: a scoped token enqueues for its accounts only. One URL of another account
// makes the whole request 403, naming that account, and nothing is queued: no URL, no record.
func TestScopedEnqueue(t *testing.T) {
	t.Parallel()
	e := setupScoped(t)
	urls := func(us ...string) string { return urlsBody(us, "") }
	inv := intake.PathInvalidations

	expect(t, "a URL of shop-b with cms-a", e.send(cmsA, inv, urls("https://img.shop-a.com/a/1.jpg", "https://storage.shop-b.com/b/1.jpg")),
		http.StatusForbidden, `"forbidden"`, `url \"https://storage.shop-b.com/b/1.jpg\" is of the account \"shop-b\", which this token does not reach`)
	expect(t, "a CDN URL of shop-c with ops-ab", e.send(opsAB, inv, urls("https://shopc.cloudimg.io/storage.shop-c.com/c.jpg")),
		http.StatusForbidden, `the account \"shop-c\"`)
	expect(t, "the field account shop-b with cms-a", e.send(cmsA, inv, `{"urls":["https://img.shop-a.com/a/2.jpg"],"account":"shop-b"}`),
		http.StatusForbidden, `the field account is of the account \"shop-b\"`)
	expect(t, "reader-b enqueues", e.send(readerB, inv, urls("https://storage.shop-b.com/b/2.jpg")),
		http.StatusForbidden, "this token may not enqueue (it may lookup)")
	expect(t, "URLs of two accounts with ops-ab", e.send(opsAB, inv, urls("https://img.shop-a.com/a/3.jpg", "https://storage.shop-b.com/b/3.jpg")),
		http.StatusBadRequest, `"several_accounts"`, `two accounts, \"shop-a\" and \"shop-b\"`)
	expect(t, "a URL of no account with ops-ab", e.send(opsAB, inv, urls("https://elsewhere.example.com/x.jpg")),
		http.StatusBadRequest, `"no_account"`, "name one in the field account")
	if n, m := e.pendingCount(), e.requestsMade(); n != 0 || m != 0 {
		t.Fatalf("after the refusals: %d URLs pending and %d requests made, want none", n, m)
	}

	a := e.send(cmsA, inv, urls("https://img.shop-a.com/storage.shop-a.com/a/4.jpg", "https://storage.shop-a.com/a/5.jpg", "https://elsewhere.example.com/y.jpg"))
	expect(t, "URLs of shop-a with cms-a", a, http.StatusAccepted, `"enqueued":3`)
	a = e.send(opsAB, inv, urls("https://storage.shop-b.com/b/6.jpg"))
	expect(t, "a URL of shop-b with ops-ab", a, http.StatusAccepted, `"enqueued":1`)
	if n := e.pendingCount(); n != 4 {
		t.Errorf("%d URLs pending, want 4", n)
	}
	id := requestID(t, a)
	st, err := newInspector(t, e.rdb).Request(context.Background(), id)
	if err != nil || st.Account != "shop-b" {
		t.Errorf("request %s: %+v, %v; want the account shop-b", id, st, err)
	}
}

// TestScopedLookup: a scoped token reads its accounts' requests only (403 for another's), and
// only if it may look up; the unscoped token reads every request, as before.
func TestScopedLookup(t *testing.T) {
	t.Parallel()
	e := setupScoped(t)
	ids := map[string]string{}
	for account, u := range map[string]string{"shop-a": "https://img.shop-a.com/storage.shop-a.com/l/1.jpg", "shop-b": "https://storage.shop-b.com/l/2.jpg"} {
		a := e.send(opsAB, intake.PathInvalidations, urlsBody([]string{u}, ""))
		ids[account] = requestID(t, a)
	}
	get := func(token, id string) answer { return e.send(token, intake.PathRequests+id, "") }
	expect(t, "cms-a reads shop-a's", get(cmsA, ids["shop-a"]), http.StatusOK, `"account":"shop-a"`)
	expect(t, "cms-a reads shop-b's", get(cmsA, ids["shop-b"]), http.StatusForbidden,
		`request `+ids["shop-b"]+` is of the account \"shop-b\", which this token does not reach`)
	expect(t, "cms-a waits for shop-b's", get(cmsA, ids["shop-b"]+"?wait=5s"), http.StatusForbidden, `\"shop-b\"`)
	expect(t, "reader-b reads shop-b's", get(readerB, ids["shop-b"]), http.StatusOK, `"account":"shop-b"`)
	expect(t, "flush-b reads shop-b's", get(flushB, ids["shop-b"]), http.StatusForbidden, "this token may not look requests up")
	expect(t, "the unscoped token reads shop-b's", get(testToken, ids["shop-b"]), http.StatusOK, `"account":"shop-b"`)
	expect(t, "an unknown request", get(cmsA, "rq_aaaaaaaaaaaaaaaa"), http.StatusNotFound, "no_request")
}

// TestScopedFlushAll: a flush-all with a scoped token names its account (by default the token's
// only one), needs a token that may flush it, and is confirmed with that account's Cloudimage
// token. The unscoped flush token keeps confirming with the deployment's.
func TestScopedFlushAll(t *testing.T) {
	t.Parallel()
	e := setupScoped(t)
	all := intake.PathFlushAll
	body := func(confirm, account string) string {
		b, _ := json.Marshal(map[string]string{"confirm": confirm, "reason": "test", "account": account})
		return string(b)
	}
	expect(t, "cms-a flushes", e.send(cmsA, all, body("shopa", "")), http.StatusForbidden, "this token may not request a flush-all")
	expect(t, "ops-ab without an account", e.send(opsAB, all, body("shopa", "")), http.StatusBadRequest,
		`"no_account"`, "this token reaches several accounts (shop-a, shop-b)")
	expect(t, "ops-ab flushes shop-c", e.send(opsAB, all, body("shopc", "shop-c")), http.StatusForbidden,
		`the flush-all's account is of the account \"shop-c\"`)
	expect(t, "flush-b confirms with the deployment's token", e.send(flushB, all, body(ciToken, "")), http.StatusForbidden, "confirmation_mismatch")
	expect(t, "flush-b confirms with shop-a's token", e.send(flushB, all, body("shopa", "")), http.StatusForbidden, "confirmation_mismatch")
	expect(t, "flush-b flushes shop-b", e.send(flushB, all, body("shopb", "")), http.StatusAccepted, `"accepted"`)
	info, err := asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll)
	if err != nil {
		t.Fatalf("no flush-all task: %v", err)
	}
	if p := string(info.Payload); !strings.Contains(p, "intake 127.0.0.1 token flush-b") || strings.Contains(p, flushB) {
		t.Errorf("the flush-all's payload %s: want it requested by the token flush-b, named, never its value", p)
	}
	expect(t, "the unscoped token with shop-b's confirmation", e.send(flushToken, all, body("shopb", "")), http.StatusForbidden, "confirmation_mismatch")
	expect(t, "the intake token on the flush path", e.send(testToken, all, body(ciToken, "")), http.StatusUnauthorized, "unauthorized")
}

// TestScopedFlushWithoutFlushToken: without INTAKE_FLUSH_TOKEN the flush path is off for the
// unscoped token (404, as before), and on for a scoped token that may flush.
func TestScopedFlushWithoutFlushToken(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *intake.Options) {
		o.FlushBearer = ""
		o.Accounts, o.Clients = mustParse(t), nil
	})
	b := `{"confirm":"demo","reason":"test","account":"shop-b"}`
	expect(t, "the intake token", e.send(testToken, intake.PathFlushAll, b), http.StatusNotFound, "flush_all_off")
	expect(t, "flush-b", e.send(flushB, intake.PathFlushAll, b), http.StatusAccepted, `"accepted"`)
}

func mustParse(t *testing.T) *accounts.Set {
	t.Helper()
	set, err := accounts.Parse([]byte(threeAccounts), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// requestID is the request_id of a's report.
func requestID(t *testing.T, a answer) string {
	t.Helper()
	return testkit.DecodeJSON[struct {
		ID string `json:"request_id"`
	}](t, a.Answer, "a report").ID
}

// TestScopedHistory: GET /v1/history?url= answers a URL's history; a scoped token must may
// lookup and reach the URL's account (403 naming it otherwise). The unscoped token reads any.
func TestScopedHistory(t *testing.T) {
	t.Parallel()
	e := setupScoped(t)
	a := e.send(cmsA, intake.PathInvalidations, urlsBody([]string{"https://storage.shop-a.com/h/1.jpg"}, ""))
	expect(t, "enqueue", a, http.StatusAccepted)
	get := func(token, raw string) answer {
		return e.send(token, intake.PathHistory+"?url="+url.QueryEscape(raw), "")
	}
	expect(t, "cms-a reads a URL of shop-a", get(cmsA, "https://storage.shop-a.com/h/1.jpg"), http.StatusOK,
		`"key":"https://storage.shop-a.com/h/1.jpg"`, `"pending_since"`)
	expect(t, "cms-a reads a URL of shop-b", get(cmsA, "https://storage.shop-b.com/h/2.jpg"), http.StatusForbidden,
		`url \"https://storage.shop-b.com/h/2.jpg\" is of the account \"shop-b\"`)
	expect(t, "cms-a reads a URL of no account, kept by the account default", get(cmsA, "https://elsewhere.example.com/h/3.jpg"),
		http.StatusForbidden, `the account \"default\"`)
	expect(t, "flush-b reads a URL", get(flushB, "https://storage.shop-b.com/h/2.jpg"), http.StatusForbidden, "this token may not look URLs up")
	expect(t, "the unscoped token", get(testToken, "https://storage.shop-b.com/h/2.jpg"), http.StatusOK, `"account":"default"`)
	expect(t, "a URL the normaliser rejects", get(testToken, "ftp://x/y.jpg"), http.StatusBadRequest, `"invalid_url"`)
	expect(t, "no url", e.send(testToken, intake.PathHistory, ""), http.StatusBadRequest, `"no_url"`)
}
