package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge/internal/testkit/fakeclock"
)

const key = "sandbox-test-key"

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClock is a settable clock for Options.Now.
func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) }

// response is a decoded answer of the sandbox.
type response struct {
	Code       int
	RetryAfter string
	Status     string `json:"status"`
	Msg        string `json:"msg"`
	Inv        struct {
		Status  string `json:"status"`
		UUID    string `json:"uuid"`
		AddedAt string `json:"added_at"`
		Scope   string `json:"scope"`
		URLs    struct {
			Received    []string `json:"received"`
			Invalidated []string `json:"invalidated"`
			Failed      []string `json:"failed"`
		} `json:"urls"`
	} `json:"invalidation"`
	Raw string
}

func do(t *testing.T, s *Server, method, path, k, contentType, body string) response {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if k != "" {
		r.Header.Set("X-Client-Key", k)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var out response
	out.Raw = w.Body.String()
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, path, out.Raw)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	out.Code = w.Code
	out.RetryAfter = w.Header().Get("Retry-After")
	return out
}

func post(t *testing.T, s *Server, body string) response {
	t.Helper()
	return do(t, s, http.MethodPost, "/invalidate", key, "application/json", body)
}

func status(t *testing.T, s *Server, uuid string) response {
	t.Helper()
	return do(t, s, http.MethodGet, "/invalidate/"+uuid, key, "", "")
}

func original(urls ...string) string {
	b, _ := json.Marshal(map[string]any{"scope": "original", "urls": urls})
	return string(b)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestAccepts(t *testing.T) {
	clk := newClock()
	s := New(Options{Key: key, Now: clk.Now})

	r := post(t, s, original("/sample.li/birds.jpg", "/sample.li/boat.jpg"))
	if r.Code != http.StatusCreated || r.Status != "success" || r.Msg != receivedMsg ||
		r.Inv.Status != StatusReceived || !uuidRE.MatchString(r.Inv.UUID) || r.Inv.AddedAt != "2024-05-01 12:00:00.000000" {
		t.Fatalf("answer = %d %s", r.Code, r.Raw)
	}
	all := post(t, s, `{"scope":"all"}`)
	if all.Code != http.StatusCreated || all.Inv.UUID == r.Inv.UUID || !uuidRE.MatchString(all.Inv.UUID) {
		t.Fatalf("scope all: %d %s", all.Code, all.Raw)
	}

	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	want := Request{At: clk.Now(), Scope: "original", URLs: []string{"/sample.li/birds.jpg", "/sample.li/boat.jpg"},
		Code: 201, UUID: r.Inv.UUID}
	if got := reqs[0]; !got.At.Equal(want.At) || got.Scope != want.Scope || fmt.Sprint(got.URLs) != fmt.Sprint(want.URLs) ||
		got.Code != want.Code || got.UUID != want.UUID || got.Reason != "" {
		t.Errorf("request = %+v, want %+v", got, want)
	}
	if got := reqs[1]; got.Scope != "all" || got.URLs != nil || got.UUID != all.Inv.UUID {
		t.Errorf("request = %+v", got)
	}
}

func TestAnyKeyWhenNoneConfigured(t *testing.T) {
	s := New(Options{})
	if r := do(t, s, http.MethodPost, "/invalidate", "whatever", "application/json", original("a")); r.Code != 201 {
		t.Errorf("any key: %d %s", r.Code, r.Raw)
	}
	if r := do(t, s, http.MethodPost, "/invalidate", "", "application/json", original("a")); r.Code != 401 {
		t.Errorf("no key: %d %s", r.Code, r.Raw)
	}
}

func TestRefusals(t *testing.T) {
	sixteen := make([]string, 16)
	for i := range sixteen {
		sixteen[i] = fmt.Sprintf("/img/%d.jpg", i)
	}
	for _, tc := range []struct {
		name, method, path, key, contentType, body string
		code                                       int
		reason                                     string // "" = not recorded
	}{
		{"no key", "POST", "/invalidate", "", "application/json", original("a"), 401, reasonNoKey},
		{"wrong key", "POST", "/invalidate", "wrong", "application/json", original("a"), 401, reasonBadKey},
		{"malformed JSON", "POST", "/invalidate", key, "application/json", `{"scope":"original","urls":[`, 400, reasonMalformed},
		{"trailing garbage", "POST", "/invalidate", key, "application/json", `{"scope":"all"} x`, 400, reasonMalformed},
		{"urls not a list", "POST", "/invalidate", key, "application/json", `{"scope":"original","urls":"a"}`, 400, reasonMalformed},
		{"missing scope", "POST", "/invalidate", key, "application/json", `{"urls":["a"]}`, 400, reasonNoScope},
		{"unknown scope", "POST", "/invalidate", key, "application/json", `{"scope":"everything"}`, 400, reasonBadScope},
		{"withdrawn scope urls", "POST", "/invalidate", key, "application/json", `{"scope":"urls","urls":["a?w=1"]}`, 400, reasonBadScope},
		{"no urls", "POST", "/invalidate", key, "application/json", `{"scope":"original","urls":[]}`, 400, reasonNoURLs},
		{"null urls", "POST", "/invalidate", key, "application/json", `{"scope":"original","urls":null}`, 400, reasonNoURLs},
		{"16 urls", "POST", "/invalidate", key, "application/json", original(sixteen...), 400, reasonTooMany()},
		{"empty url", "POST", "/invalidate", key, "application/json", original("a", ""), 400, reasonEmptyURL},
		{"query string", "POST", "/invalidate", key, "application/json", original("https://img.domain.com/image2.jpg?w=600"), 400,
			"query string in url: https://img.domain.com/image2.jpg?w=600"},
		{"urls with scope all", "POST", "/invalidate", key, "application/json", `{"scope":"all","urls":["a"]}`, 400, reasonAllURLs},
		{"text/plain", "POST", "/invalidate", key, "text/plain", original("a"), 415, reasonContentType},
		{"no content type", "POST", "/invalidate", key, "", original("a"), 415, reasonContentType},
		{"too large", "POST", "/invalidate", key, "application/json", original(strings.Repeat("a", maxBody)), 413, reasonTooLarge},
		{"GET /invalidate", "GET", "/invalidate", key, "", "", 405, ""},
		{"POST status", "POST", "/invalidate/abc", key, "application/json", "", 405, ""},
		{"unknown path", "GET", "/v1/invalidate", key, "", "", 404, ""},
		{"unknown uuid", "GET", "/invalidate/00000000-0000-4000-8000-000000000000", key, "", "", 404, ""},
		{"status without key", "GET", "/invalidate/abc", "", "", "", 401, ""},
		{"status with wrong key", "GET", "/invalidate/abc", "wrong", "", "", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{Key: key})
			r := do(t, s, tc.method, tc.path, tc.key, tc.contentType, tc.body)
			if r.Code != tc.code || r.Status != "error" || r.Msg == "" {
				t.Fatalf("answer = %d %s, want %d", r.Code, r.Raw, tc.code)
			}
			if strings.Contains(r.Raw, key) {
				t.Errorf("the answer echoes the key: %s", r.Raw)
			}
			reqs := s.Requests()
			if tc.reason == "" {
				if len(reqs) != 0 {
					t.Errorf("recorded %+v", reqs)
				}
				return
			}
			if len(reqs) != 1 || reqs[0].Code != tc.code || reqs[0].Reason != tc.reason || reqs[0].UUID != "" {
				t.Errorf("recorded %+v, want code %d reason %q", reqs, tc.code, tc.reason)
			}
			if r.Msg != tc.reason {
				t.Errorf("msg = %q, want %q", r.Msg, tc.reason)
			}
			if len(s.Accepted()) != 0 || len(s.URLCounts()) != 0 {
				t.Error("a refused request was counted as accepted")
			}
		})
	}
}

func TestStatusLifeCycle(t *testing.T) {
	clk := newClock()
	s := New(Options{Key: key, Now: clk.Now, StatusDelay: 4 * time.Minute})
	urls := []string{"a.jpg", "b.jpg", "c.jpg"}
	uuid := post(t, s, original(urls...)).Inv.UUID

	for i, want := range []string{StatusReceived, StatusPreparing, StatusFlushingCloudimage, StatusFlushingCDN} {
		r := status(t, s, uuid)
		if r.Code != 200 || r.Status != "success" || r.Inv.Status != want || r.Inv.UUID != uuid || r.Inv.Scope != "original" ||
			fmt.Sprint(r.Inv.URLs.Received) != fmt.Sprint(urls) || len(r.Inv.URLs.Invalidated) != 0 {
			t.Fatalf("after %d min: %d %s, want %s", i, r.Code, r.Raw, want)
		}
		clk.Advance(time.Minute - time.Nanosecond)
		if got := status(t, s, uuid).Inv.Status; got != want {
			t.Fatalf("just before the next stage: %s, want %s", got, want)
		}
		clk.Advance(time.Nanosecond)
	}
	r := status(t, s, uuid)
	if r.Inv.Status != StatusDone || fmt.Sprint(r.Inv.URLs.Invalidated) != fmt.Sprint(urls) ||
		r.Inv.URLs.Failed == nil || len(r.Inv.URLs.Failed) != 0 || !strings.Contains(r.Raw, `"received":null`) {
		t.Fatalf("at the end: %s", r.Raw)
	}
	// Zero delay: DONE at once, also for earlier invalidations still in progress.
	uuid2 := post(t, s, original("d.jpg")).Inv.UUID
	if got := status(t, s, uuid2).Inv.Status; got != StatusReceived {
		t.Fatalf("new invalidation: %s", got)
	}
	s.SetStatusDelay(0)
	if got := status(t, s, uuid2).Inv.Status; got != StatusDone {
		t.Fatalf("with zero delay: %s", got)
	}
	if st := s.Stats(); st.StatusRequests != 11 || st.Accepted != 2 || st.URLs != 4 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestErrorAndFailedPlans(t *testing.T) {
	s := New(Options{Key: key})
	s.FailURLInStatus("b.jpg")
	s.ErrorNext(1)
	errored := post(t, s, original("a.jpg", "b.jpg")).Inv.UUID
	partial := post(t, s, original("a.jpg", "b.jpg", "c.jpg")).Inv.UUID
	clean := post(t, s, original("c.jpg")).Inv.UUID
	all := post(t, s, `{"scope":"all"}`).Inv.UUID

	if r := status(t, s, errored); r.Inv.Status != StatusError || fmt.Sprint(r.Inv.URLs.Failed) != "[a.jpg b.jpg]" ||
		len(r.Inv.URLs.Invalidated) != 0 {
		t.Errorf("ErrorNext: %s", r.Raw)
	}
	if r := status(t, s, partial); r.Inv.Status != StatusDone || fmt.Sprint(r.Inv.URLs.Failed) != "[b.jpg]" ||
		fmt.Sprint(r.Inv.URLs.Invalidated) != "[a.jpg c.jpg]" {
		t.Errorf("FailURLInStatus: %s", r.Raw)
	}
	if r := status(t, s, clean); r.Inv.Status != StatusDone || fmt.Sprint(r.Inv.URLs.Invalidated) != "[c.jpg]" {
		t.Errorf("clean: %s", r.Raw)
	}
	if r := status(t, s, all); r.Inv.Status != StatusDone || r.Inv.Scope != "all" {
		t.Errorf("scope all: %s", r.Raw)
	}
	// The plan is fixed when the request is accepted.
	s.ClearFaults()
	if r := status(t, s, partial); fmt.Sprint(r.Inv.URLs.Failed) != "[b.jpg]" {
		t.Errorf("after ClearFaults: %s", r.Raw)
	}
}

// TestFaults: each fault the sandbox plays, and the answer once it ends.
// It runs over 80 lines on purpose: the faults run in order on one sandbox and one clock.
func TestFaults(t *testing.T) {
	clk := newClock()
	s := New(Options{Key: key, Now: clk.Now})
	body := original("a.jpg")

	s.FailNext(2, http.StatusBadGateway)
	for range 2 {
		if r := post(t, s, body); r.Code != http.StatusBadGateway {
			t.Fatalf("FailNext: %d", r.Code)
		}
	}
	if r := post(t, s, body); r.Code != 201 {
		t.Fatalf("after FailNext: %d %s", r.Code, r.Raw)
	}

	s.FailFor(30*time.Second, http.StatusServiceUnavailable)
	if r := post(t, s, body); r.Code != http.StatusServiceUnavailable {
		t.Fatalf("FailFor: %d", r.Code)
	}
	clk.Advance(30 * time.Second)
	if r := post(t, s, body); r.Code != 201 {
		t.Fatalf("after FailFor: %d", r.Code)
	}

	s.RateLimitFor(time.Minute, "17")
	if r := post(t, s, body); r.Code != http.StatusTooManyRequests || r.RetryAfter != "17" {
		t.Fatalf("RateLimitFor: %d Retry-After %q", r.Code, r.RetryAfter)
	}
	s.RateLimitFor(time.Minute, "")
	if r := post(t, s, body); r.Code != http.StatusTooManyRequests || r.RetryAfter != "" {
		t.Fatalf("RateLimitFor without header: %d Retry-After %q", r.Code, r.RetryAfter)
	}
	clk.Advance(time.Minute)
	if r := post(t, s, body); r.Code != 201 {
		t.Fatalf("after RateLimitFor: %d", r.Code)
	}

	s.RejectURL("bad.jpg")
	if r := post(t, s, original("a.jpg", "bad.jpg")); r.Code != 400 || r.Msg != "url rejected: bad.jpg" {
		t.Fatalf("RejectURL: %d %s", r.Code, r.Raw)
	}
	if r := post(t, s, body); r.Code != 201 {
		t.Fatalf("RejectURL, other URLs: %d", r.Code)
	}

	uuid := post(t, s, body).Inv.UUID
	s.FailStatusNext(1, http.StatusInternalServerError)
	if r := status(t, s, uuid); r.Code != 500 {
		t.Fatalf("FailStatusNext: %d", r.Code)
	}
	if r := status(t, s, uuid); r.Code != 200 {
		t.Fatalf("after FailStatusNext: %d", r.Code)
	}

	// A code outside 4xx/5xx becomes 500.
	s.FailNext(1, 200)
	if r := post(t, s, body); r.Code != 500 {
		t.Fatalf("FailNext(1, 200): %d", r.Code)
	}

	// The key is checked before the faults.
	s.FailNext(1, 503)
	if r := do(t, s, "POST", "/invalidate", "wrong", "application/json", body); r.Code != 401 {
		t.Fatalf("wrong key during a fault: %d", r.Code)
	}
	s.SetKey("new-key")
	if r := post(t, s, body); r.Code != 401 {
		t.Fatalf("old key after SetKey: %d", r.Code)
	}
	if r := do(t, s, "POST", "/invalidate", "new-key", "application/json", body); r.Code != 503 {
		t.Fatalf("new key: %d (the pending FailNext)", r.Code)
	}

	st := s.Stats()
	if st.Requests != 15 || st.Accepted != 5 {
		t.Errorf("Stats = %+v", st)
	}
	if n := s.URLCount("a.jpg"); n != 5 {
		t.Errorf("URLCount(a.jpg) = %d, want 5", n)
	}
	if n := s.URLCount("bad.jpg"); n != 0 {
		t.Errorf("URLCount(bad.jpg) = %d, want 0", n)
	}
}

func TestRecordsAndReset(t *testing.T) {
	s := New(Options{Key: key, MaxRecords: 4})
	var uuids []string
	for i := range 6 {
		uuids = append(uuids, post(t, s, original("a.jpg", fmt.Sprintf("%d.jpg", i))).Inv.UUID)
	}
	post(t, s, `{"scope":"original"}`) // refused, recorded

	reqs := s.Requests()
	if len(reqs) > 4 || reqs[len(reqs)-1].Code != 400 {
		t.Fatalf("kept %d requests: %+v", len(reqs), reqs)
	}
	acc := s.Accepted()
	if len(acc) != len(reqs)-1 || acc[len(acc)-1].UUID != uuids[5] || acc[len(acc)-1].URLs[1] != "5.jpg" {
		t.Fatalf("Accepted = %+v", acc)
	}
	if r := status(t, s, uuids[0]); r.Code != 404 {
		t.Errorf("dropped uuid: %d", r.Code)
	}
	if r := status(t, s, uuids[5]); r.Code != 200 || r.Inv.Status != StatusDone {
		t.Errorf("kept uuid: %d %s", r.Code, r.Raw)
	}
	counts := s.URLCounts()
	if counts["a.jpg"] != 6 || counts["0.jpg"] != 1 || len(counts) != 7 {
		t.Errorf("URLCounts = %v (cumulative despite dropped records)", counts)
	}
	if st := s.Stats(); st.Requests != 7 || st.Accepted != 6 || st.URLs != 12 {
		t.Errorf("Stats = %+v", st)
	}

	s.RejectURL("a.jpg")
	s.Reset()
	if len(s.Requests()) != 0 || len(s.URLCounts()) != 0 || s.Stats() != (Stats{}) {
		t.Error("Reset kept records")
	}
	if r := status(t, s, uuids[5]); r.Code != 404 {
		t.Errorf("uuid from before Reset: %d", r.Code)
	}
	r := post(t, s, original("a.jpg"))
	if r.Code != 201 {
		t.Fatalf("Reset kept RejectURL: %d", r.Code)
	}
	if r.Inv.UUID == uuids[0] {
		t.Error("uuid reused after Reset")
	}
	if got := status(t, s, r.Inv.UUID); got.Code != 200 {
		t.Errorf("new uuid after Reset: %d", got.Code)
	}
	// A uuid of another server is unknown.
	if got := status(t, New(Options{Key: key}), r.Inv.UUID); got.Code != 404 {
		t.Errorf("uuid of another server: %d", got.Code)
	}
}

func TestDebugLogOnly(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := New(Options{Key: key, Logger: zap.New(core)})
	post(t, s, original("a.jpg"))
	do(t, s, "POST", "/invalidate", "wrong-"+key, "application/json", original("a.jpg"))
	if logs.Len() != 2 {
		t.Fatalf("%d entries", logs.Len())
	}
	for _, e := range logs.All() {
		if e.Level != zapcore.DebugLevel {
			t.Errorf("per-request line at %s: %s", e.Level, e.Message)
		}
		if strings.Contains(fmt.Sprint(e.ContextMap()), key) {
			t.Errorf("the key is logged: %v", e.ContextMap())
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New(Options{Key: key})
	client := &http.Client{Transport: s.RoundTripper()}
	const workers, each = 16, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				switch i % 10 {
				case 3:
					s.FailNext(1, 503)
				case 5:
					s.RejectURL(fmt.Sprintf("w%d-%d", w, i))
				case 7:
					_ = s.URLCounts()
					_ = s.Requests()
				}
				req, _ := http.NewRequest("POST", "http://sandbox/invalidate",
					strings.NewReader(original("shared.jpg", fmt.Sprintf("w%d-%d", w, i))))
				req.Header.Set("X-Client-Key", key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == 201 {
					mu.Lock()
					created++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.Requests != workers*each || st.Accepted != created || s.URLCount("shared.jpg") != created || len(s.Accepted()) != created {
		t.Errorf("Stats = %+v, created %d, shared.jpg %d", st, created, s.URLCount("shared.jpg"))
	}
}

func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Options{Key: key, Latency: time.Minute})
		client := &http.Client{Transport: s.RoundTripper()}
		newReq := func(ctx context.Context) *http.Request {
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://sandbox/invalidate", strings.NewReader(original("a.jpg")))
			req.Header.Set("X-Client-Key", key)
			req.Header.Set("Content-Type", "application/json")
			return req
		}
		start := time.Now()
		resp, err := client.Do(newReq(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 201 || time.Since(start) != time.Minute {
			t.Fatalf("%d after %v, want 201 after 1m", resp.StatusCode, time.Since(start))
		}

		// A client that gives up during the latency: not processed, recorded as 499.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = client.Do(newReq(ctx))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		reqs := s.Requests()
		if len(reqs) != 2 || reqs[1].Code != codeClientGone || s.Stats().Accepted != 1 {
			t.Errorf("requests = %+v", reqs)
		}

		s.SetLatency(0)
		start = time.Now()
		resp, err = client.Do(newReq(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if time.Since(start) != 0 {
			t.Errorf("took %v without latency", time.Since(start))
		}
	})
}

func TestStart(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s, base, stop, err := Start(Options{Key: key, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base URL = %q", base)
	}
	if logs.FilterMessageSnippet("stay on this machine").Len() != 1 {
		t.Errorf("no clear start line: %v", logs.All())
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest("POST", base+"/invalidate", strings.NewReader(original("a.jpg")))
	req.Header.Set("X-Client-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 201 || !strings.Contains(string(body), `"status":"RECEIVED"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}

	// stop does not wait out a long latency.
	s.SetLatency(time.Hour)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", base+"/invalidate", strings.NewReader(original("b.jpg")))
		req.Header.Set("X-Client-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{}).Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Requests == 1 && time.Now().Before(deadline) {
		if s.inflight.Load() > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if s.inflight.Load() == 0 {
		t.Fatal("the slow request never arrived")
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("stop waited for the latency")
	}
	select {
	case <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request never ended")
	}
	stop() // twice is fine
}
