package intake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/intake"
)

// TestInvalidationsNameTheirRequest: the 202 names the request in its body and its Location; an
// Idempotency-Key retry answers the same request and queues nothing; a bad callback is a 400.
func TestInvalidationsNameTheirRequest(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	post := func(key, body string) jsonAnswer { return e.postInvalidations(key, body) }
	body := `{"urls":["https://img.example.com/idem/a.jpg"],"callback":"https://hooks.example.com/x"}`
	first := post("k-1", body)
	id, _ := first.got["request_id"].(string)
	if first.Status != http.StatusAccepted || id == "" || first.Header.Get("Location") != intake.PathRequests+id {
		t.Fatalf("first: %d, request %q, Location %q", first.Status, id, first.Header.Get("Location"))
	}
	again := post("k-1", body)
	if again.got["request_id"] != id || again.got["replayed"] != true || again.got["enqueued"] != float64(0) {
		t.Fatalf("the retry: %v, want request %s replayed", again.got, id)
	}
	if bad := post("", `{"urls":["https://img.example.com/idem/b.jpg"],"callback":"ftp://x"}`); bad.Status != http.StatusBadRequest {
		t.Errorf("a bad callback: %d, want 400", bad.Status)
	}
	if n := e.pendingCount(); n != 1 {
		t.Errorf("%d URLs pending, want 1", n)
	}
}

// postInvalidations posts body to the intake with the test token and an Idempotency-Key when key
// is not "". It returns the answer with its JSON body decoded.
func (e *env) postInvalidations(key, body string) jsonAnswer {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+intake.PathInvalidations, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	if key != "" {
		req.Header.Set(intake.HeaderIdempotencyKey, key)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := jsonAnswer{Status: resp.StatusCode, Header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &a.got)
	return a
}

// jsonAnswer is an answer with its JSON body as a map.
type jsonAnswer struct {
	Status int
	Header http.Header
	got    map[string]any
	body   string // the body as it came
}

// TestRequestProgress: GET /v1/requests/{id} answers the request's counts; ?wait answers when
// the request is done or the wait ends; an unknown ID is 404.
func TestRequestProgress(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	get := func(path string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	a := e.postURLs("https://img.example.com/progress/a.jpg")
	loc := a.Header.Get("Location")
	code, m := get(loc)
	if code != http.StatusOK || m["waiting"] != float64(1) || m["done"] != false || m["done_means"] != "confirmed" {
		t.Fatalf("GET %s: %d %v", loc, code, m)
	}
	if nd, _ := m["not_done"].([]any); len(nd) != 1 {
		t.Errorf("not_done %v, want the one URL", m["not_done"])
	}
	start := time.Now()
	if code, m = get(loc + "?wait=300ms"); code != http.StatusOK || m["done"] != false || time.Since(start) < 300*time.Millisecond {
		t.Errorf("?wait=300ms on a request not done: %d %v after %v", code, m, time.Since(start))
	}
	if code, _ := get(intake.PathRequests + "rq_aaaaaaaaaaaaaaaa"); code != http.StatusNotFound {
		t.Errorf("an unknown request: %d, want 404", code)
	}
	if code, _ := get(loc + "?wait=2h"); code != http.StatusBadRequest {
		t.Errorf("?wait=2h: %d, want 400", code)
	}
}

// TestCallbackWithoutSecret: a worker with no webhook secret refuses a callback with a 400
// that says why. Nothing is queued. A request without a callback still goes through.
func TestCallbackWithoutSecret(t *testing.T) {
	t.Parallel()
	const why = "no secret here: set one"
	e := setup(t, func(o *intake.Options) { o.NoCallback = why })
	post := func(body string) jsonAnswer { return e.postInvalidations("", body) }
	bad := post(`{"urls":["https://img.example.com/cb/a.jpg"],"callback":"https://hooks.example.com/x"}`)
	msg, _ := bad.got["error"].(string)
	if bad.Status != http.StatusBadRequest || bad.got["code"] != "bad_option" || !strings.Contains(msg, why) {
		t.Errorf("a callback without a secret: %d %v, want 400 bad_option naming why", bad.Status, bad.got)
	}
	if n := e.pendingCount(); n != 0 {
		t.Errorf("%d URLs pending after the refusal, want 0", n)
	}
	if ok := post(`{"urls":["https://img.example.com/cb/b.jpg"]}`); ok.Status != http.StatusAccepted {
		t.Errorf("no callback: %d, want 202", ok.Status)
	}
}
