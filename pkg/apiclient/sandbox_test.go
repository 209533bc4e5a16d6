package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/testkit/fakeclock"
	"github.com/cipurge/cipurge/pkg/apiclient"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestContractAgainstTheSandbox runs the client against the sandbox over real HTTP for the
// whole contract: acceptance, the status life cycle, every refusal and every fault.
// It runs over 80 lines on purpose: its subtests run in order against one sandbox, clock and client.
func TestContractAgainstTheSandbox(t *testing.T) {
	ctx := context.Background()
	clk := fakeclock.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) // shared by the sandbox and the client
	srv, base, stop, err := sandbox.Start(sandbox.Options{
		Key: testKey, StatusDelay: 4 * time.Minute, Now: clk.Now, Logger: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	c := newClient(t, base, apiclient.WithClock(clk.Now), apiclient.WithLogger(zaptest.NewLogger(t)))
	urls := []string{"https://img.domain.com/a.jpg", "/v7/https://img.domain.com/b.jpg", "_media_/images/c.jpg"}

	// mustFail checks err's type and status code.
	mustFail := func(t *testing.T, err error, target any, code int) {
		t.Helper()
		got, ok := statusAs(err, target)
		if err == nil || !ok {
			t.Fatalf("err = %v, want %T", err, target)
		}
		if got != code {
			t.Fatalf("err = %v, want status %d", err, code)
		}
	}

	t.Run("accepted, then RECEIVED to DONE", func(t *testing.T) {
		inv, err := c.Invalidate(ctx, urls)
		if err != nil {
			t.Fatal(err)
		}
		if inv.StatusCode != 201 || inv.Status != apiclient.StatusReceived || !uuidRE.MatchString(inv.UUID) ||
			inv.Msg != "Your invalidation request has been received" {
			t.Fatalf("Invalidation = %+v", inv)
		}
		if at, err := time.Parse("2006-01-02 15:04:05.000000", inv.AddedAt); err != nil || !at.Equal(clk.Now()) {
			t.Errorf("AddedAt = %q (%v)", inv.AddedAt, err)
		}
		for _, want := range []string{apiclient.StatusReceived, apiclient.StatusPreparing,
			apiclient.StatusFlushingCloudimage, apiclient.StatusFlushingCDN} {
			st, err := c.Status(ctx, inv.UUID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != want || st.Final() || st.UUID != inv.UUID || st.Scope != apiclient.ScopeOriginal {
				t.Fatalf("Status = %+v, want %s", st, want)
			}
			clk.Advance(time.Minute)
		}
		st, err := c.Status(ctx, inv.UUID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != apiclient.StatusDone || !st.Final() || fmt.Sprint(st.Invalidated) != fmt.Sprint(urls) ||
			len(st.Failed) != 0 || st.Received != nil {
			t.Fatalf("Status = %+v, want DONE with every URL invalidated", st)
		}
	})

	srv.SetStatusDelay(0)

	t.Run("scope all", func(t *testing.T) {
		inv, err := c.InvalidateAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.Status(ctx, inv.UUID)
		if err != nil || st.Status != apiclient.StatusDone || st.Scope != apiclient.ScopeAll {
			t.Fatalf("Status = %+v, %v", st, err)
		}
	})

	t.Run("wrong key, then recovery", func(t *testing.T) {
		const otherKey = "ck_other_key_42"
		other, err := apiclient.New(otherKey, apiclient.WithBaseURL(base))
		if err != nil {
			t.Fatal(err)
		}
		defer other.CloseIdleConnections()
		var ue *apiclient.UnauthorizedError
		_, err = other.Invalidate(ctx, urls[:1])
		mustFail(t, err, &ue, 401)
		if !errors.Is(err, apiclient.ErrUnauthorized) || apiclient.IsTransient(err) || strings.Contains(err.Error(), otherKey) {
			t.Errorf("err = %v", err)
		}
		_, err = other.Status(ctx, "anything")
		mustFail(t, err, &ue, 401)

		srv.SetKey(otherKey) // the key was rotated
		if _, err := other.Invalidate(ctx, urls[:1]); err != nil {
			t.Errorf("after SetKey: %v", err)
		}
		_, err = c.Invalidate(ctx, urls[:1])
		mustFail(t, err, &ue, 401)
		srv.SetKey(testKey)
	})

	t.Run("400 for a wrong request", func(t *testing.T) {
		var re *apiclient.RejectedError
		_, err := c.Invalidate(ctx, []string{"https://img.domain.com/image2.jpg?w=600"})
		mustFail(t, err, &re, 400)
		if !strings.Contains(re.Body, "query string") || apiclient.IsTransient(err) {
			t.Errorf("err = %v", err)
		}

		srv.RejectURL("https://img.domain.com/bad.jpg")
		_, err = c.Invalidate(ctx, []string{urls[0], "https://img.domain.com/bad.jpg"})
		mustFail(t, err, &re, 400)
		if !strings.Contains(err.Error(), "https://img.domain.com/bad.jpg") {
			t.Errorf("the error does not name the URL: %v", err)
		}

		// What the client refuses to send, sent by hand.
		sixteen := make([]string, 16)
		for i := range sixteen {
			sixteen[i] = fmt.Sprintf(`"/img/%d.jpg"`, i)
		}
		for name, body := range map[string]string{
			"16 urls":        `{"scope":"original","urls":[` + strings.Join(sixteen, ",") + `]}`,
			"unknown scope":  `{"scope":"urls","urls":["/img/a.jpg?w=1"]}`,
			"missing scope":  `{"urls":["/img/a.jpg"]}`,
			"malformed JSON": `{"scope":"original","urls":["/img/a.jpg"`,
		} {
			if code := rawPost(t, base, body); code != 400 {
				t.Errorf("%s: %d, want 400", name, code)
			}
		}

		_, err = c.Status(ctx, "00000000-0000-4000-8000-000000000000")
		mustFail(t, err, &re, 404)
	})

	t.Run("faults", func(t *testing.T) {
		var rl *apiclient.RateLimitError
		srv.RateLimitFor(time.Minute, "7")
		_, err := c.Invalidate(ctx, urls)
		mustFail(t, err, &rl, 429)
		if rl.RetryAfter != 7*time.Second || !apiclient.IsTransient(err) {
			t.Errorf("err = %v", err)
		}
		srv.RateLimitFor(time.Minute, clk.Now().Add(90*time.Second).Format(http.TimeFormat))
		_, err = c.Invalidate(ctx, urls)
		mustFail(t, err, &rl, 429)
		if rl.RetryAfter != 90*time.Second {
			t.Errorf("HTTP-date Retry-After = %v, want 1m30s", rl.RetryAfter)
		}
		srv.RateLimitFor(time.Minute, "")
		_, err = c.Invalidate(ctx, urls)
		mustFail(t, err, &rl, 429)
		if rl.RetryAfter != 0 {
			t.Errorf("absent Retry-After = %v, want 0", rl.RetryAfter)
		}
		clk.Advance(time.Minute)
		if _, err := c.Invalidate(ctx, urls); err != nil {
			t.Fatalf("after the rate limit: %v", err)
		}

		var se *apiclient.ServerError
		srv.FailFor(30*time.Second, http.StatusServiceUnavailable)
		_, err = c.Invalidate(ctx, urls)
		mustFail(t, err, &se, 503)
		if !apiclient.IsTransient(err) {
			t.Errorf("503 is not transient")
		}
		clk.Advance(30 * time.Second)
		srv.FailNext(2, http.StatusBadGateway)
		for range 2 {
			_, err = c.Invalidate(ctx, urls)
			mustFail(t, err, &se, 502)
		}
		if _, err := c.Invalidate(ctx, urls); err != nil {
			t.Fatalf("after the failures: %v", err)
		}

		inv, err := c.Invalidate(ctx, urls)
		if err != nil {
			t.Fatal(err)
		}
		srv.FailStatusNext(1, http.StatusInternalServerError)
		_, err = c.Status(ctx, inv.UUID)
		mustFail(t, err, &se, 500)

		srv.ErrorNext(1)
		srv.FailURLInStatus(urls[1])
		errored, err := c.Invalidate(ctx, urls)
		if err != nil {
			t.Fatal(err)
		}
		partial, err := c.Invalidate(ctx, urls)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := c.Status(ctx, errored.UUID); err != nil || st.Status != apiclient.StatusError || !st.Final() ||
			len(st.Failed) != len(urls) {
			t.Errorf("ErrorNext: %+v, %v", st, err)
		}
		if st, err := c.Status(ctx, partial.UUID); err != nil || st.Status != apiclient.StatusDone ||
			fmt.Sprint(st.Failed) != fmt.Sprint(urls[1:2]) || fmt.Sprint(st.Invalidated) != fmt.Sprint([]string{urls[0], urls[2]}) {
			t.Errorf("FailURLInStatus: %+v, %v", st, err)
		}
		srv.ClearFaults()

		// Latency past the client's timeout.
		srv.SetLatency(time.Hour)
		slow := newClient(t, base, apiclient.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
		_, err = slow.Invalidate(ctx, urls)
		var te *apiclient.TransportError
		if !errors.As(err, &te) || !te.Timeout() || !apiclient.IsTransient(err) {
			t.Fatalf("err = %v, want a timeout", err)
		}
		srv.SetLatency(0)
	})

	t.Run("records", func(t *testing.T) {
		st := srv.Stats()
		acc := srv.Accepted()
		if st.Accepted != len(acc) || st.Requests != len(srv.Requests()) {
			t.Errorf("Stats = %+v, %d accepted, %d requests kept", st, len(acc), len(srv.Requests()))
		}
		// URLCounts agrees with the accepted records.
		want := 0
		for _, r := range acc {
			for _, u := range r.URLs {
				if u == urls[0] {
					want++
				}
			}
		}
		if got := srv.URLCounts()[urls[0]]; got != want || want < 5 {
			t.Errorf("URLCounts[%s] = %d, want %d", urls[0], got, want)
		}
		for _, r := range srv.Requests() {
			if r.Code == 201 && (r.UUID == "" || r.Reason != "") || r.Code != 201 && r.UUID != "" {
				t.Errorf("inconsistent record %+v", r)
			}
		}
	})
}

// rawPost sends body to POST {base}/invalidate with the test key and returns the status.
func rawPost(t *testing.T, base, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/invalidate", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Client-Key", testKey)
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestDefaultTimeoutWithFakeTime runs the default 30 s timeout against a sandbox that takes a
// minute to answer, in a synctest bubble (no network, no real waiting).
func TestDefaultTimeoutWithFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := sandbox.New(sandbox.Options{Key: testKey, Latency: time.Minute})
		hc := &http.Client{Transport: srv.RoundTripper(), Timeout: apiclient.DefaultTimeout}
		c, err := apiclient.New(testKey, apiclient.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.Invalidate(context.Background(), []string{"a.jpg"})
		var te *apiclient.TransportError
		if !errors.As(err, &te) || !te.Timeout() || !errors.Is(err, context.DeadlineExceeded) || !apiclient.IsTransient(err) {
			t.Fatalf("err = %v, want a transient timeout", err)
		}
		if waited := time.Since(start); waited != apiclient.DefaultTimeout {
			t.Errorf("gave up after %v, want %v", waited, apiclient.DefaultTimeout)
		}
		if reqs := srv.Requests(); len(reqs) != 1 || reqs[0].Code != 499 {
			t.Errorf("sandbox records %+v, want one abandoned request", reqs)
		}

		// The status life cycle on the bubble's clock.
		srv.SetLatency(0)
		srv.SetStatusDelay(2 * time.Minute)
		inv, err := c.Invalidate(context.Background(), []string{"a.jpg"})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for {
			st, err := c.Status(context.Background(), inv.UUID)
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) == 0 || seen[len(seen)-1] != st.Status {
				seen = append(seen, st.Status)
			}
			if st.Final() {
				break
			}
			time.Sleep(10 * time.Second)
		}
		if got := strings.Join(seen, " "); got != "RECEIVED PREPARING FLUSHINGCLOUDIMAGESERVER FLUSHINGCDNSERVERS DONE" {
			t.Errorf("statuses: %s", got)
		}
		if time.Since(start) != apiclient.DefaultTimeout+2*time.Minute {
			t.Errorf("DONE after %v", time.Since(start)-apiclient.DefaultTimeout)
		}
	})
}

// BenchmarkInvalidateThroughSandbox measures a 15-URL invalidation through the client and a
// real loopback sandbox, the product benchmark's path.
func BenchmarkInvalidateThroughSandbox(b *testing.B) {
	srv, base, stop, err := sandbox.Start(sandbox.Options{Key: testKey})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	c, err := apiclient.New(testKey, apiclient.WithBaseURL(base))
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseIdleConnections()
	var mu sync.Mutex
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		urls := make([]string, apiclient.MaxURLsPerRequest)
		for pb.Next() {
			mu.Lock()
			n := next
			next++
			mu.Unlock()
			for i := range urls {
				urls[i] = fmt.Sprintf("https://img.example.com/%d/%d.jpg", n, i)
			}
			if _, err := c.Invalidate(context.Background(), urls); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if got := srv.Stats().URLs; got != next*apiclient.MaxURLsPerRequest {
		b.Errorf("sandbox counted %d URLs, want %d", got, next*apiclient.MaxURLsPerRequest)
	}
}
