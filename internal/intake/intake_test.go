package intake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/cipurge/cipurge/internal/testkit"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestInvalidations: a request is normalised, deduped within itself and against the pending set,
// and answered 202 with one result per input URL, in order.
func TestInvalidations(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	a := e.post(intake.PathInvalidations, urlsBody([]string{
		"https://img.example.com/in/a.jpg",
		"https://demo.cloudimg.io/img.example.com/in/a.jpg?w=600", // the same image, CDN form
		"https://img.example.com/in/b.jpg",
		"ftp://img.example.com/in/c.jpg",
	}, "cms: gallery 7"))
	if a.Status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", a.Status, a.Body)
	}
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	r := a.report(t)
	want := []struct{ key, outcome string }{
		{"https://img.example.com/in/a.jpg", "enqueued"},
		{"https://img.example.com/in/a.jpg", "duplicate"},
		{"https://img.example.com/in/b.jpg", "enqueued"},
		{"", "rejected"},
	}
	if len(r.Results) != len(want) {
		t.Fatalf("%d results for 4 URLs: %s", len(r.Results), a.Body)
	}
	for i, w := range want {
		if got := r.Results[i]; got.Key != w.key || got.Outcome != w.outcome {
			t.Errorf("result %d: key %q outcome %q, want %q %q", i, got.Key, got.Outcome, w.key, w.outcome)
		}
	}
	if r.Results[3].Reason == "" || r.Results[3].Input != "ftp://img.example.com/in/c.jpg" {
		t.Errorf("the rejection names no input or reason: %+v", r.Results[3])
	}
	if r.Enqueued != 2 || r.Duplicates != 1 || r.Rejected != 1 || r.AlreadyPending != 0 {
		t.Errorf("counts %+v", r)
	}
	if n := e.pendingCount(); n != 2 || !e.isPending("https://img.example.com/in/a.jpg") || !e.isPending("https://img.example.com/in/b.jpg") {
		t.Errorf("pending set holds %d keys, want a.jpg and b.jpg", n)
	}
	src, _ := e.rdb.HGet(context.Background(), store.KeySources, "https://img.example.com/in/a.jpg").Result()
	if src != "cms: gallery 7" {
		t.Errorf("source %q was not kept", src)
	}

	// The same image again, while it waits: already pending, still 202.
	a = e.postURLs("https://demo.cloudimg.io/img.example.com/in/b.jpg")
	if r := a.report(t); a.Status != http.StatusAccepted || r.AlreadyPending != 1 || r.Enqueued != 0 {
		t.Errorf("second request: status %d: %s", a.Status, a.Body)
	}
	if n := e.pendingCount(); n != 2 {
		t.Errorf("pending set holds %d keys after a repeat, want 2", n)
	}

	// One log line per request, with the counts, the client and no token.
	lines := e.logs.FilterMessage("intake request").All()
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 2 requests", len(lines))
	}
	f := lines[0].ContextMap()
	if f["status"] != int64(202) || f["urls"] != int64(4) || f["enqueued"] != int64(2) || f["rejected"] != int64(1) || f["client"] == "" {
		t.Errorf("log line fields %v", f)
	}
}

// TestEveryURLRejected: nothing will be invalidated, so the answer is 422, with the report.
func TestEveryURLRejected(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	a := e.postURLs("", "ftp://x/y.jpg")
	if a.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", a.Status, a.Body)
	}
	if r := a.report(t); r.Rejected != 2 || len(r.Results) != 2 || r.Results[0].Reason == "" {
		t.Errorf("report %s", a.Body)
	}
	if n := e.pendingCount(); n != 0 {
		t.Errorf("%d keys pending", n)
	}
}

// TestUnauthorized: without the right bearer token every request is 401 with no detail, on
// every path, and nothing reaches Redis.
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	body := urlsBody([]string{"https://img.example.com/auth/a.jpg"}, "")
	for name, auth := range map[string]string{
		"missing":          "",
		"wrong token":      "Bearer not-the-token",
		"prefix of token":  "Bearer " + testToken[:len(testToken)-1],
		"token plus more":  "Bearer " + testToken + "x",
		"empty bearer":     "Bearer ",
		"basic scheme":     "Basic " + testToken,
		"no scheme":        testToken,
		"token in scheme":  testToken + " " + testToken,
		"lower-case wrong": "bearer nope",
	} {
		for _, path := range []string{intake.PathInvalidations, intake.PathFlushAll, "/v1/nope"} {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s on %s: status %d, want 401", name, path, resp.StatusCode)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", name, resp.Header.Get("WWW-Authenticate"))
			}
			if got := strings.TrimSpace(string(b)); got != `{"code":"unauthorized","error":"unauthorized"}` {
				t.Errorf("%s: 401 body says more than unauthorized: %s", name, got)
			}
		}
	}
	if n := e.pendingCount(); n != 0 {
		t.Errorf("%d keys reached Redis without the token", n)
	}
	// The scheme is case-insensitive (RFC 6750).
	a := do(t, e.srv.Client(), http.MethodPost, e.srv.URL+intake.PathInvalidations, "", "application/json", strings.NewReader(body))
	if a.Status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", a.Status)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+intake.PathInvalidations, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "bearer "+testToken)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf(`"bearer <token>": status %d, want 202`, resp.StatusCode)
	}
}

// TestEmptyTokenRefusesEverything: an intake built without a token fails closed.
func TestEmptyTokenRefusesEverything(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *intake.Options) { o.Token = "" })
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+intake.PathInvalidations, strings.NewReader(`{"urls":["https://img.example.com/a.jpg"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer ")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", resp.StatusCode)
	}
}

// TestRoutes: unknown paths are 404, other methods 405 with Allow: POST.
func TestRoutes(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	c := e.srv.Client()
	a := do(t, c, http.MethodPost, e.srv.URL+"/v1/invalidation", testToken, "application/json", strings.NewReader(`{}`))
	if a.Status != http.StatusNotFound || a.errorBody(t).Code != "not_found" {
		t.Errorf("unknown path: %d %s", a.Status, a.Body)
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		for _, path := range []string{intake.PathInvalidations, intake.PathFlushAll} {
			a := do(t, c, m, e.srv.URL+path, tokenFor(path), "", nil)
			if a.Status != http.StatusMethodNotAllowed || a.Header.Get("Allow") != http.MethodPost {
				t.Errorf("%s %s: status %d Allow %q, want 405 POST", m, path, a.Status, a.Header.Get("Allow"))
				continue
			}
			if eb := a.errorBody(t); eb.Code != "method_not_allowed" || !strings.Contains(eb.Message, "use POST") {
				t.Errorf("%s %s: %s", m, path, a.Body)
			}
		}
	}
}

// TestUnsupportedMediaType: a body that is not declared as JSON is 415 and is not read.
func TestUnsupportedMediaType(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	body := urlsBody([]string{"https://img.example.com/ct/a.jpg"}, "")
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=iso-8859-1"} {
		for _, path := range []string{intake.PathInvalidations, intake.PathFlushAll} {
			a := do(t, e.srv.Client(), http.MethodPost, e.srv.URL+path, tokenFor(path), ct, strings.NewReader(body))
			if a.Status != http.StatusUnsupportedMediaType {
				t.Errorf("Content-Type %q on %s: status %d, want 415", ct, path, a.Status)
				continue
			}
			if eb := a.errorBody(t); eb.Code != "unsupported_media_type" || !strings.Contains(eb.Message, "application/json") {
				t.Errorf("Content-Type %q: %s", ct, a.Body)
			}
		}
	}
	if n := e.pendingCount(); n != 0 {
		t.Errorf("%d keys pending after 415s", n)
	}
	a := do(t, e.srv.Client(), http.MethodPost, e.srv.URL+intake.PathInvalidations, testToken, "application/json; charset=UTF-8", strings.NewReader(body))
	if a.Status != http.StatusAccepted {
		t.Errorf("application/json; charset=UTF-8: status %d", a.Status)
	}
}

// TestMalformedJSON: 400 with the line and column of the error, over HTTP.
func TestMalformedJSON(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	cases := []struct {
		path, body, code string
		line, col        int
	}{
		{intake.PathInvalidations, "{\n  \"urls\": [\n    \"https://img.example.com/a.jpg\"\n    \"https://img.example.com/b.jpg\"\n  ]\n}", "malformed_json", 4, 5},
		{intake.PathInvalidations, `{"urls": ["https://img.example.com/a.jpg"`, "malformed_json", 1, 42},
		{intake.PathInvalidations, `{"urls": "https://img.example.com/a.jpg"}`, "wrong_type", 1, 40},
		{intake.PathInvalidations, `{"urls": ["https://img.example.com/a.jpg"]}, {}`, "trailing_data", 1, 44},
		{intake.PathInvalidations, `{"url": ["https://img.example.com/a.jpg"]}`, "unknown_field", 0, 0},
		{intake.PathInvalidations, ``, "empty_body", 0, 0},
		{intake.PathInvalidations, `{"urls": []}`, "no_urls", 0, 0},
		{intake.PathInvalidations, `{"source": "cms"}`, "no_urls", 0, 0},
		{intake.PathFlushAll, `{"confirm": demo}`, "malformed_json", 1, 13},
		{intake.PathFlushAll, `{"confirm": "demo", "scope": "all"}`, "unknown_field", 0, 0},
	}
	for _, c := range cases {
		a := do(t, e.srv.Client(), http.MethodPost, e.srv.URL+c.path, tokenFor(c.path), "application/json", strings.NewReader(c.body))
		if a.Status != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400: %s", c.body, a.Status, a.Body)
			continue
		}
		eb := a.errorBody(t)
		if eb.Code != c.code || eb.Line != c.line || eb.Column != c.col {
			t.Errorf("%q: code %q at %d:%d, want %q at %d:%d: %s", c.body, eb.Code, eb.Line, eb.Column, c.code, c.line, c.col, eb.Message)
		}
		if c.line > 0 && !strings.Contains(eb.Message, fmt.Sprintf("line %d, column %d", c.line, c.col)) {
			t.Errorf("%q: the message does not say where: %s", c.body, eb.Message)
		}
	}
	if n := e.pendingCount(); n != 0 {
		t.Errorf("%d keys pending after 400s", n)
	}
	if _, err := asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll); err == nil {
		t.Error("a malformed flush-all request enqueued a flush-all")
	}
}

// maxBody returns a JSON body of exactly size bytes holding urls (padded with white space).
func maxBody(t *testing.T, urls []string, size int64) string {
	t.Helper()
	b := urlsBody(urls, "")
	pad := int(size) - len(b)
	if pad < 0 {
		t.Fatalf("%d URLs do not fit in %d bytes", len(urls), size)
	}
	return b[:len(b)-1] + strings.Repeat(" ", pad) + "}"
}

// TestLimits: a request of exactly INTAKE_MAX_BYTES bytes holding exactly INTAKE_MAX_URLS URLs
// is accepted; one byte more or one URL more is 413 naming the limit, and nothing is enqueued.
// Bodies are sent both with a Content-Length and chunked (no length known in advance).
func TestLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, nil) // the defaults: 1 MiB, 1000 URLs
	c := e.srv.Client()
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }

	us := testkit.ImageURLs("max", intake.DefaultMaxURLs+1)
	over := maxBody(t, us[:intake.DefaultMaxURLs], intake.DefaultMaxBytes+1)
	for name, r := range map[string]io.Reader{"with length": strings.NewReader(over), "chunked": chunked(over)} {
		a := do(t, c, http.MethodPost, e.srv.URL+intake.PathInvalidations, testToken, "application/json", r)
		if a.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: %d bytes: status %d, want 413: %.300s", name, len(over), a.Status, a.Body)
		}
		eb := a.errorBody(t)
		if eb.Code != "body_too_large" || eb.Setting != "INTAKE_MAX_BYTES" || eb.Limit != intake.DefaultMaxBytes ||
			!strings.Contains(eb.Message, fmt.Sprintf("INTAKE_MAX_BYTES=%d", intake.DefaultMaxBytes)) {
			t.Errorf("%s: %s", name, a.Body)
		}
	}
	tooMany := urlsBody(us, "")
	a := do(t, c, http.MethodPost, e.srv.URL+intake.PathInvalidations, testToken, "application/json", strings.NewReader(tooMany))
	if a.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d URLs: status %d, want 413: %.300s", len(us), a.Status, a.Body)
	}
	eb := a.errorBody(t)
	if eb.Code != "too_many_urls" || eb.Setting != "INTAKE_MAX_URLS" || eb.Limit != intake.DefaultMaxURLs ||
		!strings.Contains(eb.Message, fmt.Sprintf("INTAKE_MAX_URLS=%d", intake.DefaultMaxURLs)) {
		t.Errorf("too many URLs: %s", a.Body)
	}
	if n := e.pendingCount(); n != 0 {
		t.Fatalf("%d keys pending after 413s", n)
	}

	exact := maxBody(t, us[:intake.DefaultMaxURLs], intake.DefaultMaxBytes)
	if int64(len(exact)) != intake.DefaultMaxBytes {
		t.Fatalf("body is %d bytes", len(exact))
	}
	for name, r := range map[string]io.Reader{"with length": strings.NewReader(exact), "chunked": chunked(exact)} {
		a := do(t, c, http.MethodPost, e.srv.URL+intake.PathInvalidations, testToken, "application/json", r)
		if a.Status != http.StatusAccepted {
			t.Fatalf("%s: exactly %d bytes and %d URLs: status %d, want 202: %.300s", name, len(exact), intake.DefaultMaxURLs, a.Status, a.Body)
		}
		rep := a.report(t)
		if len(rep.Results) != intake.DefaultMaxURLs || rep.Enqueued+rep.AlreadyPending != intake.DefaultMaxURLs {
			t.Errorf("%s: %d results, %d enqueued, %d already pending", name, len(rep.Results), rep.Enqueued, rep.AlreadyPending)
		}
	}
	if n := e.pendingCount(); n != int64(intake.DefaultMaxURLs) {
		t.Errorf("%d keys pending, want %d", n, intake.DefaultMaxURLs)
	}
}

// TestSmallLimits: the limits come from the options (INTAKE_MAX_BYTES, INTAKE_MAX_URLS).
func TestSmallLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *intake.Options) { o.MaxBytes, o.MaxURLs = 2048, 3 })
	us := testkit.ImageURLs("small", 4)
	a := e.post(intake.PathInvalidations, maxBody(t, us[:3], 2048))
	if a.Status != http.StatusAccepted || a.report(t).Enqueued != 3 {
		t.Errorf("3 URLs in 2048 bytes: %d %s", a.Status, a.Body)
	}
	a = e.post(intake.PathInvalidations, maxBody(t, us[:3], 2049))
	if eb := a.errorBody(t); a.Status != http.StatusRequestEntityTooLarge || eb.Limit != 2048 || !strings.Contains(eb.Message, "INTAKE_MAX_BYTES=2048") {
		t.Errorf("2049 bytes: %d %s", a.Status, a.Body)
	}
	a = e.postURLs(us...)
	if eb := a.errorBody(t); a.Status != http.StatusRequestEntityTooLarge || eb.Limit != 3 || !strings.Contains(eb.Message, "INTAKE_MAX_URLS=3") {
		t.Errorf("4 URLs: %d %s", a.Status, a.Body)
	}
	// The flush-all body is limited too.
	a = e.post(intake.PathFlushAll, `{"confirm": "demo", "reason": "`+strings.Repeat("x", 2048)+`"}`)
	if a.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("large flush-all body: %d %s", a.Status, a.Body)
	}
}

// TestTextLimit: "source" and "reason" are labels, bounded by MaxTextBytes (the source is stored
// with every key), and nothing is enqueued when one is too long.
func TestTextLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	u := []string{"https://img.example.com/text/a.jpg"}
	if a := e.post(intake.PathInvalidations, urlsBody(u, strings.Repeat("s", intake.MaxTextBytes))); a.Status != http.StatusAccepted {
		t.Errorf("a source of exactly %d bytes: %d %s", intake.MaxTextBytes, a.Status, a.Body)
	}
	u = []string{"https://img.example.com/text/b.jpg"}
	a := e.post(intake.PathInvalidations, urlsBody(u, strings.Repeat("s", intake.MaxTextBytes+1)))
	if eb := a.errorBody(t); a.Status != http.StatusBadRequest || eb.Code != "text_too_long" || !strings.Contains(eb.Message, `"source"`) {
		t.Errorf("a source one byte too long: %d %s", a.Status, a.Body)
	}
	if e.isPending(u[0]) {
		t.Error("the URL was enqueued with a refused source")
	}
	a = e.post(intake.PathFlushAll, `{"confirm": "demo", "reason": "`+strings.Repeat("r", intake.MaxTextBytes+1)+`"}`)
	if eb := a.errorBody(t); a.Status != http.StatusBadRequest || !strings.Contains(eb.Message, `"reason"`) {
		t.Errorf("a reason one byte too long: %d %s", a.Status, a.Body)
	}
}

// TestRedisUnavailable: with Redis cut off (every connection closed, new ones refused) the answer
// is 503 with Retry-After, and the same request succeeds once Redis is back.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	p := startProxy(t, r.Addr())
	client := redis.NewClient(&redis.Options{Addr: p.Addr()})
	t.Cleanup(func() { client.Close() })
	e := newEnv(t, r, client, func(o *intake.Options) { o.RetryAfter = 3 * time.Second; o.Timeout = 5 * time.Second })
	if a := e.postURLs("https://img.example.com/down/first.jpg"); a.Status != http.StatusAccepted {
		t.Fatalf("through the proxy with Redis up: %d %s", a.Status, a.Body)
	}
	p.setDown(true)
	body := urlsBody([]string{"https://img.example.com/down/a.jpg"}, "")
	for _, c := range []struct{ path, body string }{
		{intake.PathInvalidations, body},
		{intake.PathFlushAll, `{"confirm": "demo"}`},
	} {
		a := e.post(c.path, c.body)
		if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") != "3" {
			t.Fatalf("%s with Redis down: status %d, Retry-After %q, want 503 and 3: %s", c.path, a.Status, a.Header.Get("Retry-After"), a.Body)
		}
		if eb := a.errorBody(t); eb.Code != "unavailable" || !strings.Contains(eb.Message, "again later") {
			t.Errorf("%s: %s", c.path, a.Body)
		}
		if strings.Contains(string(a.Body), p.Addr()) {
			t.Errorf("the answer names the Redis address: %s", a.Body)
		}
	}
	if l := e.logs.FilterField(zapStatus(503)).Len(); l != 2 {
		t.Errorf("%d log lines with status 503, want 2", l)
	}
	if e.isPending("https://img.example.com/down/a.jpg") {
		t.Fatal("the proxy let a write through while down")
	}
	p.setDown(false)
	testkit.WaitFor(t, 10*time.Second, "the intake to take requests again", func() bool {
		return e.post(intake.PathInvalidations, body).Status == http.StatusAccepted
	})
	if !e.isPending("https://img.example.com/down/a.jpg") {
		t.Error("the URL is not pending after Redis came back")
	}
}

// TestFlushAll: the CLI's rules over HTTP. No or a wrong confirmation is 403 with the cost;
// a confirmed request is 202 and enqueues one flush-all; a second one is 409 while the first is
// pending, and again within the cooldown after one was sent.
func TestFlushAll(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	for body, code := range map[string]string{
		`{}`:                                   "confirmation_required",
		`{"reason": "new logo"}`:               "confirmation_required",
		`{"confirm": "dem"}`:                   "confirmation_mismatch",
		`{"confirm": "` + testToken + `"}`:     "confirmation_mismatch",
		`{"confirm": "demo-and-more-letters"}`: "confirmation_mismatch",
	} {
		a := e.post(intake.PathFlushAll, body)
		if a.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403: %s", body, a.Status, a.Body)
			continue
		}
		eb := a.errorBody(t)
		if eb.Code != code || !strings.Contains(eb.Message, "re-download") && !strings.Contains(eb.Message, "downloaded again") {
			t.Errorf("%s: code %q, or the message does not say what flush-all costs: %s", body, eb.Code, eb.Message)
		}
	}
	if _, err := insp.GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll); err == nil {
		t.Fatal("an unconfirmed request enqueued a flush-all")
	}

	a := e.post(intake.PathFlushAll, `{"confirm": "demo", "reason": "new watermark on every image"}`)
	if a.Status != http.StatusAccepted {
		t.Fatalf("confirmed: status %d, want 202: %s", a.Status, a.Body)
	}
	var ok intake.FlushAccepted
	if err := json.Unmarshal(a.Body, &ok); err != nil || ok.Status != "accepted" || ok.TaskID != tasks.TaskIDAll || ok.Queue != tasks.QueueAll {
		t.Errorf("answer %s (%v)", a.Body, err)
	}
	info, err := insp.GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll)
	if err != nil {
		t.Fatalf("no flush-all task: %v", err)
	}
	var all tasks.All
	if err := json.Unmarshal(info.Payload, &all); err != nil {
		t.Fatal(err)
	}
	if all.Reason != "new watermark on every image" || !strings.HasPrefix(all.RequestedBy, "intake 127.0.0.1") {
		t.Errorf("payload %+v", all)
	}

	a = e.post(intake.PathFlushAll, `{"confirm": "demo"}`)
	if eb := a.errorBody(t); a.Status != http.StatusConflict || eb.Code != "flush_all_refused" || !strings.Contains(eb.Message, "already pending") {
		t.Errorf("second request while pending: %d %s", a.Status, a.Body)
	}
	// The intake words its own fix: an HTTP client has no enqueue command and no --flags.
	for _, a := range []answer{a, e.post(intake.PathFlushAll, `{}`), e.post(intake.PathFlushAll, `{"confirm": "dem"}`)} {
		if eb := a.errorBody(t); strings.Contains(eb.Message, "enqueue ") || strings.Contains(eb.Message, "--") {
			t.Errorf("%d %s: the message speaks the CLI", a.Status, eb.Message)
		}
	}

	// As if a worker had sent it: the cooldown refuses the next.
	if err := insp.DeleteTask(tasks.QueueAll, tasks.TaskIDAll); err != nil {
		t.Fatal(err)
	}
	st := store.New(e.rdb)
	now, err := st.Now(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AllSent(context.Background(), now, "uuid-1", 0); err != nil {
		t.Fatal(err)
	}
	a = e.post(intake.PathFlushAll, `{"confirm": "demo"}`)
	if eb := a.errorBody(t); a.Status != http.StatusConflict || !strings.Contains(eb.Message, "PURGE_ALL_COOLDOWN") {
		t.Errorf("within the cooldown: %d %s", a.Status, a.Body)
	}
}

// TestFlushAllWithoutToken: a worker with no CLOUDIMAGE_TOKEN refuses every flush-all.
func TestFlushAllWithoutToken(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	e := newEnv(t, r, r.Client(), func(o *intake.Options) { o.Client = newClient(t, r.Client()) })
	for _, body := range []string{`{"confirm": ""}`, `{"confirm": "demo"}`} {
		a := e.post(intake.PathFlushAll, body)
		if eb := a.errorBody(t); a.Status != http.StatusForbidden || eb.Code != "flush_all_unavailable" || !strings.Contains(eb.Message, "CLOUDIMAGE_TOKEN is not set") {
			t.Errorf("%s: %d %s", body, a.Status, a.Body)
		}
	}
}

// TestFlushAllOwnSecret: flush-all over HTTP takes INTAKE_FLUSH_TOKEN, never the producers'
// INTAKE_TOKEN; without INTAKE_FLUSH_TOKEN the path answers 404 and says how to turn it on.
func TestFlushAllOwnSecret(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	body := `{"confirm": "demo", "reason": "producer token"}`
	a := do(t, e.srv.Client(), http.MethodPost, e.srv.URL+intake.PathFlushAll, testToken, "application/json", strings.NewReader(body))
	if a.Status != http.StatusUnauthorized {
		t.Errorf("flush-all with INTAKE_TOKEN: status %d, want 401: %s", a.Status, a.Body)
	}
	if _, err := insp.GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll); err == nil {
		t.Fatal("the producers' token enqueued a flush-all")
	}
	// The flush token does not open the producers' path either.
	a = do(t, e.srv.Client(), http.MethodPost, e.srv.URL+intake.PathInvalidations, flushToken, "application/json",
		strings.NewReader(urlsBody([]string{"https://img.example.com/secret/a.jpg"}, "")))
	if a.Status != http.StatusUnauthorized {
		t.Errorf("URLs with INTAKE_FLUSH_TOKEN: status %d, want 401", a.Status)
	}
	if a := e.post(intake.PathFlushAll, body); a.Status != http.StatusAccepted {
		t.Errorf("flush-all with INTAKE_FLUSH_TOKEN: status %d, want 202: %s", a.Status, a.Body)
	}

	off := setup(t, func(o *intake.Options) { o.FlushBearer = "" })
	a = do(t, off.srv.Client(), http.MethodPost, off.srv.URL+intake.PathFlushAll, testToken, "application/json", strings.NewReader(body))
	if eb := a.errorBody(t); a.Status != http.StatusNotFound || eb.Code != "flush_all_off" || !strings.Contains(eb.Message, "set INTAKE_FLUSH_TOKEN") {
		t.Errorf("without INTAKE_FLUSH_TOKEN: %d %s", a.Status, a.Body)
	}
	a = do(t, off.srv.Client(), http.MethodPost, off.srv.URL+intake.PathFlushAll, "", "application/json", strings.NewReader(body))
	if a.Status != http.StatusUnauthorized {
		t.Errorf("without INTAKE_FLUSH_TOKEN and without a token: %d, want 401", a.Status)
	}
	if _, err := asynq.NewInspectorFromRedisClient(off.rdb).GetTaskInfo(tasks.QueueAll, tasks.TaskIDAll); err == nil {
		t.Error("a flush-all was enqueued with flush-all over HTTP off")
	}
}
