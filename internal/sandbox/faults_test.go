package sandbox

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("reject=*/broken/*; 429=10s retry-after=3 after=5s;5xx=20s code=502 after=1m; fail-status=*/flaky/?.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Reject) != 1 || len(f.FailStatus) != 1 || f.RateLimit == nil || f.RateLimit.For != 10*time.Second ||
		f.RateLimit.After != 5*time.Second || f.RateLimit.RetryAfter != "3" || f.Outage == nil || f.Outage.Code != 502 ||
		f.Outage.After != time.Minute {
		t.Errorf("parsed %+v", f)
	}
	if f, err := ParseFaults(""); err != nil || f.RateLimit != nil || len(f.Reject) != 0 {
		t.Errorf("empty spec: %+v, %v", f, err)
	}
	for spec, want := range map[string]string{
		"reject":                 "want NAME=VALUE",
		"429=soon":               "want a duration",
		"5xx=10s code=404":       "want 500 to 599",
		"429=10s retry-after=x":  "whole seconds",
		"429=10s code=503":       `unknown option "code"`,
		"teapot=1s":              `unknown fault "teapot"`,
		"reject=*/a/* after=10s": `unknown option "after"`,
	} {
		if _, err := ParseFaults(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", spec, err, want)
		}
	}
}

// TestApplyFaults: patterns act at once; windows start at the first request, plus after.
func TestApplyFaults(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Key: "k", Now: func() time.Time { return now }})
	f, err := ParseFaults("reject=*/broken/*; 429=10s retry-after=3 after=5s; fail-status=*/flaky/*")
	if err != nil {
		t.Fatal(err)
	}
	s.ApplyFaults(f)
	post := func(urls ...string) *httptest.ResponseRecorder {
		body := `{"scope":"original","urls":["` + strings.Join(urls, `","`) + `"]}`
		r := httptest.NewRequest(http.MethodPost, "/invalidate", bytes.NewBufferString(body))
		r.Header.Set("X-Client-Key", "k")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	if w := post("https://img.example.com/ok.jpg"); w.Code != http.StatusCreated {
		t.Fatalf("first request: %d %s", w.Code, w.Body)
	}
	if w := post("https://img.example.com/broken/a.jpg"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "broken/a.jpg") {
		t.Errorf("a URL matching reject: %d %s", w.Code, w.Body)
	}
	now = now.Add(6 * time.Second) // inside the 429 window (5 s to 15 s after the first request)
	if w := post("https://img.example.com/ok2.jpg"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "3" {
		t.Errorf("inside the 429 window: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	now = now.Add(10 * time.Second)
	w := post("https://img.example.com/flaky/b.jpg", "https://img.example.com/fine.jpg")
	if w.Code != http.StatusCreated {
		t.Fatalf("after the window: %d", w.Code)
	}
	acc := s.Accepted()
	last := acc[len(acc)-1]
	uuid := last.UUID
	r := httptest.NewRequest(http.MethodGet, "/invalidate/"+uuid, nil)
	r.Header.Set("X-Client-Key", "k")
	sw := httptest.NewRecorder()
	s.ServeHTTP(sw, r)
	if !strings.Contains(sw.Body.String(), `"failed":["https://img.example.com/flaky/b.jpg"]`) {
		t.Errorf("status of a request with a fail-status URL: %s", sw.Body)
	}
}

// TestStatusFaults: status= makes a matching request report its status instead of DONE, for ever
// or for a while; the first matching fault applies; other requests end DONE.
func TestStatusFaults(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Key: "k", Now: func() time.Time { return now }})
	f, err := ParseFaults("status=ERROR_CDN_NODE match=*/edge/*; status=QUEUED_ON_MARS for=10s")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Statuses) != 2 || f.Statuses[0].Match != "*/edge/*" || f.Statuses[1].Match != "*" || f.Statuses[1].For != 10*time.Second {
		t.Fatalf("parsed %+v", f.Statuses)
	}
	for spec, want := range map[string]string{
		"status=X match=":     "options are key=value",
		"status=X for=ever":   "want a duration",
		"status=X after=1s":   `unknown option "after"`,
		"status=X match=* x=": "options are key=value",
	} {
		if _, err := ParseFaults(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", spec, err, want)
		}
	}
	s.ApplyFaults(f)
	send := func(u string) string {
		r := httptest.NewRequest(http.MethodPost, "/invalidate", bytes.NewBufferString(`{"scope":"original","urls":["`+u+`"]}`))
		r.Header.Set("X-Client-Key", "k")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", u, w.Code, w.Body)
		}
		acc := s.Accepted()
		return acc[len(acc)-1].UUID
	}
	status := func(uuid string) string {
		r := httptest.NewRequest(http.MethodGet, "/invalidate/"+uuid, nil)
		r.Header.Set("X-Client-Key", "k")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Body.String()
	}
	edge, other := send("https://img.example.com/edge/a.jpg"), send("https://img.example.com/b.jpg")
	if b := status(edge); !strings.Contains(b, `"status":"ERROR_CDN_NODE"`) || !strings.Contains(b, `"failed":["https://img.example.com/edge/a.jpg"]`) {
		t.Errorf("edge request: %s", b)
	}
	if b := status(other); !strings.Contains(b, `"status":"QUEUED_ON_MARS"`) || !strings.Contains(b, `"received":["https://img.example.com/b.jpg"]`) {
		t.Errorf("other request, within for=: %s", b)
	}
	now = now.Add(11 * time.Second)
	if b := status(other); !strings.Contains(b, `"status":"DONE"`) {
		t.Errorf("other request, after for=: %s", b)
	}
	if b := status(edge); !strings.Contains(b, `"status":"ERROR_CDN_NODE"`) {
		t.Errorf("edge request, later: %s", b)
	}
	if got := f.String(); !strings.Contains(got, "status ERROR_CDN_NODE instead of DONE for requests with a URL matching */edge/*") {
		t.Errorf("String: %s", got)
	}
}
