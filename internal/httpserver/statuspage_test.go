package httpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// getStatus gets u with the UI password pw ("" for none) and Accept accept ("" for none), and
// returns the status, the Content-Type and the body.
func getStatus(t *testing.T, u, pw, accept string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if pw != "" {
		req.SetBasicAuth("admin", pw)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestStatusPageAuthAndJSON: /status is behind the UI's basic auth; with Accept: application/json
// it answers the Snapshot and the lookup of a URL in any form; / links it.
func TestStatusPageAuthAndJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "UI_PASSWORD=s3cret-status", "PURGE_WINDOW=10s", "PURGE_MAX_DELAY=10s")
	w := h.startWorker()
	get := func(path string, auth bool, accept string) (int, string, string) {
		pw := ""
		if auth {
			pw = "s3cret-status"
		}
		return getStatus(t, w.base+path, pw, accept)
	}
	if code, _, _ := get("/status", false, ""); code != http.StatusUnauthorized {
		t.Errorf("/status without credentials: %d, want 401", code)
	}
	u := "https://img.example.com/status-json/a.jpg"
	h.enqueue(u)
	code, ctype, body := get("/status?url="+url.QueryEscape("http://IMG.example.com:80/status-json/a.jpg#x"), true, "application/json")
	var v struct {
		Status struct {
			WaitingURLs int64 `json:"urls_in_window"`
			Workers     []any `json:"workers"`
		} `json:"status"`
		Lookup struct {
			Key          string `json:"key"`
			PendingSince string `json:"pending_since"`
		} `json:"lookup"`
	}
	if err := json.Unmarshal([]byte(body), &v); code != 200 || ctype != "application/json" || err != nil {
		t.Fatalf("/status JSON: %d %s %v\n%s", code, ctype, err, body)
	}
	if v.Status.WaitingURLs != 1 || v.Lookup.Key != u || v.Lookup.PendingSince == "" {
		t.Errorf("/status JSON: %+v", v)
	}
	testkit.WaitFor(t, 10*time.Second, "the worker published itself", func() bool {
		_, _, body := get("/status", true, "application/json")
		return strings.Contains(body, `"workers":[{`)
	})
	if code, ctype, body := get("/status", true, ""); code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(body, `id="waiting"`) {
		t.Errorf("/status HTML: %d %s", code, ctype)
	}
	// The last dead letters come from the product's own record, the one enqueue dlq ls reads: a
	// dead letter asynq trimmed from its archive (here: never in it) is still listed and counted.
	kept := store.DeadLetter{ID: "trimmed-by-asynq", Queue: tasks.QueueInteractive, Type: tasks.TypeURLs,
		URLs: []string{"https://img.example.com/status-json/dead.jpg"}, Reason: "rejected: 400 Bad Request", Attempts: 1, At: time.Now().UnixMilli()}
	if err := store.New(h.RDB).KeepDeadLetter(context.Background(), kept); err != nil {
		t.Fatal(err)
	}
	_, _, body = get("/status", true, "application/json")
	var d struct {
		Status struct {
			DeadLetters int `json:"dead_letters"`
			Last        []struct {
				ID        string   `json:"id"`
				LastError string   `json:"last_error"`
				URLs      []string `json:"urls"`
			} `json:"last_dead_letters"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil || d.Status.DeadLetters != 1 || len(d.Status.Last) != 1 ||
		d.Status.Last[0].ID != kept.ID || d.Status.Last[0].LastError != kept.Reason || len(d.Status.Last[0].URLs) != 1 {
		t.Errorf("/status JSON dead letters from the product's record: %v %+v\n%s", err, d, body)
	}
	if _, _, body := get("/status", true, ""); !strings.Contains(body, kept.ID) || !strings.Contains(body, kept.Reason) {
		t.Errorf("/status HTML does not list the kept dead letter %s", kept.ID)
	}
	if code, _, body := get("/", false, ""); code != 200 || !strings.Contains(body, `href="/status"`) {
		t.Errorf("/: %d %s", code, body)
	}
}

// TestStatusPageSaysCoveredByPrefix (issue 24): a URL pending under a prefix sent after its
// request is shown, in JSON and HTML, as "covered by prefix P, sent at T"; the prefix's own
// lookup says it is a prefix.
func TestStatusPageSaysCoveredByPrefix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_WINDOW=30s", "PURGE_MAX_DELAY=30s")
	w := h.startWorker()
	u, prefix := "https://img.example.com/status-cover/a.jpg", "https://img.example.com/status-cover/*"
	h.enqueue(u)
	st := store.New(h.RDB)
	ctx := context.Background()
	time.Sleep(5 * time.Millisecond)
	now, err := st.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PrefixSent(ctx, []string{prefix}, now, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	get := func(raw, accept string) string {
		_, _, body := getStatus(t, w.base+"/status?url="+url.QueryEscape(raw), "", accept)
		return body
	}
	want := "covered by prefix " + prefix + ", sent at " + time.UnixMilli(now).UTC().Format(time.RFC3339)
	if body := get(u, "text/html"); !strings.Contains(body, want) {
		t.Errorf("/status HTML does not say %q:\n%s", want, body)
	}
	if body := get(u, "application/json"); !strings.Contains(body, `"covered_by":{"prefix":"`+prefix+`"`) {
		t.Errorf("/status JSON has no covered_by:\n%s", body)
	}
	if body := get("https://demo.cloudimg.io/img.example.com/status-cover/*", "application/json"); !strings.Contains(body, `"kind":"prefix"`) {
		t.Errorf("/status JSON of the prefix does not say its kind:\n%s", body)
	}
}

// TestStatusPageShowsRequests (issue 22): /status lists the newest requests, newest first, with
// their counts and state, and shows any request by ID with ?request=, in HTML and JSON. A
// callback shows without its query. An unknown ID is said, not a 503.
func TestStatusPageShowsRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.startWorker()
	ctx := context.Background()
	st := store.New(h.RDB)
	h.enqueue("https://img.example.com/status-requests/a.jpg", "https://img.example.com/status-requests/b.jpg")
	ids, err := st.RecentRequests(ctx, 1)
	if err != nil || len(ids) != 1 {
		t.Fatalf("the enqueued request: %v %v", ids, err)
	}
	done := ids[0]
	type request struct {
		ID        string   `json:"id"`
		URLs      int64    `json:"urls"`
		Sent      int64    `json:"sent"`
		Confirmed int64    `json:"confirmed"`
		Done      bool     `json:"done"`
		Open      bool     `json:"open"`
		Callback  string   `json:"callback"`
		NotDone   []string `json:"not_done"`
	}
	type view struct {
		Recent       []request `json:"recent_requests"`
		RequestID    string    `json:"request_id"`
		Request      *request  `json:"request"`
		RequestError string    `json:"request_error"`
	}
	read := func(query string) view {
		t.Helper()
		code, _, body := getStatus(t, w.base+"/status"+query, "", "application/json")
		var v view
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
			t.Fatalf("/status%s JSON: %d %v\n%s", query, code, err, body)
		}
		return v
	}
	testkit.WaitFor(t, 30*time.Second, "the request is done", func() bool {
		v := read("?request=" + done)
		return v.Request != nil && v.Request.Done
	})
	// The worker runs with PURGE_CONFIRM=false: done means sent.
	if v := read("?request=" + done); v.Request.URLs != 2 || v.Request.Sent != 2 || len(v.Request.NotDone) != 0 {
		t.Errorf("/status?request=%s: %+v", done, *v.Request)
	}

	// A bulk run still adds URLs to the newest request: it is open, with a callback.
	open, _, err := st.OpenRequest(ctx, store.NewRequestOptions{Callback: "https://hooks.example.com/cipurge?token=hook-secret-9f", Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	v := read("")
	if len(v.Recent) != 2 || v.Recent[0].ID != open || v.Recent[1].ID != done || !v.Recent[0].Open || !v.Recent[1].Done ||
		v.Recent[1].URLs != 2 || v.Recent[1].Sent != 2 || v.Request != nil {
		t.Errorf("/status recent requests: %+v", v)
	}
	_, _, page := getStatus(t, w.base+"/status", "", "")
	for _, want := range []string{`id="recent-requests"`, `href="/status?request=` + open + `"`, `href="/status?request=` + done + `"`,
		"not done: a bulk run still adds URLs", "done 20"} {
		if !strings.Contains(page, want) {
			t.Errorf("/status HTML does not show %q", want)
		}
	}
	_, _, page = getStatus(t, w.base+"/status?request="+open, "", "")
	for _, want := range []string{`id="request"`, `id="request-state"`, "https://hooks.example.com/cipurge", `value="` + open + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/status?request=%s HTML does not show %q", open, want)
		}
	}
	if strings.Contains(page, "hook-secret-9f") {
		t.Errorf("/status?request=%s shows the callback's query", open)
	}
	for _, id := range []string{"rq_aaaaaaaaaaaaaaaa", "not-an-id"} {
		if v := read("?request=" + id); v.Request != nil || !strings.Contains(v.RequestError, "no such request") || v.RequestID != id {
			t.Errorf("/status?request=%s: %+v", id, v)
		}
	}
}
