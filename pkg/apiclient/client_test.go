package apiclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge/pkg/apiclient"
)

// testKey is long (longer than "[redacted]") so that redaction shortens a body, which is
// the harder case for bounded reads.
const testKey = "ck_TEST_0123456789abcdefSECRET"

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer starts an httptest server with h, closed at the end of the test.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a client for base with testKey; its idle connections are closed at the
// end of the test (before the server, cleanups run last-in first-out).
func newClient(t *testing.T, base string, opts ...apiclient.Option) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(testKey, append([]apiclient.Option{apiclient.WithBaseURL(base)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// reply returns a handler answering code with body and the given header pairs.
func reply(code int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

const createdBody = `{"status":"success","msg":"Your invalidation request has been received",` +
	`"invalidation":{"status":"RECEIVED","uuid":"4fc96d31-1111-4222-8333-444455556666","added_at":"2023-08-08 13:39:52.636426"}}`

func TestNew(t *testing.T) {
	c, err := apiclient.New(testKey)
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	if got := c.BaseURL(); got != apiclient.DefaultBaseURL {
		t.Errorf("BaseURL = %q, want %q", got, apiclient.DefaultBaseURL)
	}
	c, err = apiclient.New(testKey, apiclient.WithBaseURL("http://127.0.0.1:8080/api/"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := c.BaseURL(); got != "http://127.0.0.1:8080/api" {
		t.Errorf("BaseURL = %q, want the trailing slash trimmed", got)
	}

	bad := []struct {
		name string
		key  string
		opts []apiclient.Option
	}{
		{"empty key", "", nil},
		{"key with a space", testKey + " ", nil},
		{"key with a newline", testKey + "\nX-Evil: 1", nil},
		{"non-ASCII key", testKey + "é", nil},
		{"unparsable base", testKey, []apiclient.Option{apiclient.WithBaseURL("http://[::1")}},
		{"relative base", testKey, []apiclient.Option{apiclient.WithBaseURL("/invalidate")}},
		{"ftp base", testKey, []apiclient.Option{apiclient.WithBaseURL("ftp://api.cloudimage.com")}},
		{"no host", testKey, []apiclient.Option{apiclient.WithBaseURL("https://")}},
		{"user info", testKey, []apiclient.Option{apiclient.WithBaseURL("https://u:" + testKey + "@api.cloudimage.com")}},
		{"query", testKey, []apiclient.Option{apiclient.WithBaseURL("https://api.cloudimage.com/?x=1")}},
		{"zero Retry-After cap", testKey, []apiclient.Option{apiclient.WithMaxRetryAfter(0)}},
		{"TLS not verified", testKey, []apiclient.Option{apiclient.WithHTTPClient(&http.Client{
			Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}})}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c, err := apiclient.New(tc.key, tc.opts...)
			if err == nil {
				t.Fatalf("New = %v, want an error", c)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
}

func TestDefaultUserAgent(t *testing.T) {
	if ua := apiclient.DefaultUserAgent(); !strings.HasPrefix(ua, "cipurge/") || len(ua) == len("cipurge/") {
		t.Errorf("DefaultUserAgent = %q, want cipurge/<version>", ua)
	}
}

// captured is what a test server saw of one request.
type captured struct {
	method, path, key, contentType, userAgent, body string
}

func capture(t *testing.T, code int, respBody string) (*httptest.Server, <-chan captured) {
	t.Helper()
	ch := make(chan captured, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- captured{r.Method, r.URL.RequestURI(), r.Header.Get("X-Client-Key"),
			r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, respBody)
	})
	return srv, ch
}

func TestInvalidateSendsTheDocumentedRequest(t *testing.T) {
	srv, seen := capture(t, http.StatusCreated, createdBody)
	c := newClient(t, srv.URL, apiclient.WithUserAgent("cipurge/test"))

	urls := []string{"/sample.li/birds.jpg", "https://img.domain.com/a&b<c>.jpg", "_alias_/images/image1.jpg"}
	inv, err := c.Invalidate(context.Background(), urls)
	if err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	got := <-seen
	want := captured{
		method:      http.MethodPost,
		path:        "/invalidate",
		key:         testKey,
		contentType: "application/json",
		userAgent:   "cipurge/test",
		body:        `{"scope":"original","urls":["/sample.li/birds.jpg","https://img.domain.com/a&b<c>.jpg","_alias_/images/image1.jpg"]}`,
	}
	if got != want {
		t.Errorf("request =\n%+v\nwant\n%+v", got, want)
	}
	wantInv := apiclient.Invalidation{
		StatusCode: 201,
		Status:     apiclient.StatusReceived,
		UUID:       "4fc96d31-1111-4222-8333-444455556666",
		AddedAt:    "2023-08-08 13:39:52.636426",
		Msg:        "Your invalidation request has been received",
	}
	if *inv != wantInv {
		t.Errorf("Invalidation = %+v, want %+v", *inv, wantInv)
	}
}

func TestInvalidateAllSendsScopeAll(t *testing.T) {
	srv, seen := capture(t, http.StatusCreated, createdBody)
	c := newClient(t, srv.URL+"/prefix/")
	if _, err := c.InvalidateAll(context.Background()); err != nil {
		t.Fatalf("InvalidateAll: %v", err)
	}
	got := <-seen
	if got.method != http.MethodPost || got.path != "/prefix/invalidate" || got.body != `{"scope":"all"}` ||
		got.key != testKey || got.contentType != "application/json" {
		t.Errorf("request = %+v", got)
	}
	if !strings.HasPrefix(got.userAgent, "cipurge/") {
		t.Errorf("User-Agent = %q, want the default cipurge/<version>", got.userAgent)
	}
}

func TestAny2xxIsAccepted(t *testing.T) {
	for _, tc := range []struct {
		code     int
		body     string
		wantUUID string
	}{
		{http.StatusOK, createdBody, "4fc96d31-1111-4222-8333-444455556666"},
		{http.StatusAccepted, createdBody, "4fc96d31-1111-4222-8333-444455556666"},
		{http.StatusNoContent, "", ""},
		{http.StatusOK, "  \n", ""},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			srv := newServer(t, reply(tc.code, tc.body))
			inv, err := newClient(t, srv.URL).Invalidate(context.Background(), []string{"a.jpg"})
			if err != nil {
				t.Fatalf("Invalidate: %v", err)
			}
			if inv.StatusCode != tc.code || inv.UUID != tc.wantUUID {
				t.Errorf("Invalidation = %+v, want code %d uuid %q", inv, tc.code, tc.wantUUID)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	const body = `{"status":"success","invalidation":{"status":"DONE","uuid":"u-1","urls":{"received":null,` +
		`"invalidated":["a.jpg"],"failed":["b.jpg"]},"scope":"original"}}`
	srv, seen := capture(t, http.StatusOK, body)
	c := newClient(t, srv.URL)
	st, err := c.Status(context.Background(), "u-1")
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	got := <-seen
	if got.method != http.MethodGet || got.path != "/invalidate/u-1" || got.key != testKey || got.body != "" {
		t.Errorf("request = %+v", got)
	}
	if st.Status != apiclient.StatusDone || st.UUID != "u-1" || st.Scope != "original" || st.Received != nil ||
		fmt.Sprint(st.Invalidated) != "[a.jpg]" || fmt.Sprint(st.Failed) != "[b.jpg]" || !st.Final() {
		t.Errorf("Status = %+v", st)
	}

	if _, err := c.Status(context.Background(), ""); !errors.Is(err, apiclient.ErrEmptyUUID) {
		t.Errorf("Status(\"\") = %v, want ErrEmptyUUID", err)
	}
}

func TestFinal(t *testing.T) {
	type want struct{ final, failed, known bool }
	for status, w := range map[string]want{
		apiclient.StatusReceived: {false, false, true}, apiclient.StatusPreparing: {false, false, true},
		apiclient.StatusFlushingCloudimage: {false, false, true}, apiclient.StatusFlushingCDN: {false, false, true},
		apiclient.StatusDone: {true, false, true}, apiclient.StatusError: {true, true, true},
		apiclient.StatusErrorCDNNode: {true, true, true}, "ERROR_SOMETHING_NEW": {true, true, true},
		"QUEUED": {false, false, false}, "": {false, false, false}, "error": {false, false, false}, "DONE_BUT": {false, false, false},
	} {
		st := &apiclient.InvalidationStatus{Status: status}
		if got := (want{st.Final(), apiclient.StatusFailed(status), apiclient.StatusKnown(status)}); got != w {
			t.Errorf("%q: final, failed, known = %v, want %v", status, got, w)
		}
	}
	var nilStatus *apiclient.InvalidationStatus
	if nilStatus.Final() {
		t.Error("nil status is final")
	}
}

func TestStatusWithoutInvalidationIsADecodeError(t *testing.T) {
	srv := newServer(t, reply(http.StatusOK, `{"status":"success"}`))
	_, err := newClient(t, srv.URL).Status(context.Background(), "u-1")
	var te *apiclient.TransportError
	if !errors.As(err, &te) || te.Op != "decode response" {
		t.Fatalf("Status = %v, want a decode *TransportError", err)
	}
}

// statusAs finds the typed HTTP error of target's type in err's chain (errors.As into target: a
// **RejectedError, **UnauthorizedError, **RateLimitError or **ServerError) and returns its
// StatusCode, and whether there was one.
func statusAs(err error, target any) (int, bool) {
	if !errors.As(err, target) {
		return 0, false
	}
	switch e := target.(type) {
	case **apiclient.RejectedError:
		return (*e).StatusCode, true
	case **apiclient.UnauthorizedError:
		return (*e).StatusCode, true
	case **apiclient.RateLimitError:
		return (*e).StatusCode, true
	case **apiclient.ServerError:
		return (*e).StatusCode, true
	}
	panic(fmt.Sprintf("statusAs: %T is not a typed HTTP error", target))
}

// TestStatusClasses maps every status class to its error type, sentinel and transience.
// It runs over 80 lines on purpose: most of it is two tables of cases.
func TestStatusClasses(t *testing.T) {
	type kind int
	const (
		rejected kind = iota
		unauthorized
		rateLimited
		server
	)
	cases := []struct {
		code      int
		kind      kind
		transient bool
	}{
		{400, rejected, false},
		{404, rejected, false},
		{405, rejected, false},
		{408, rejected, true},
		{409, rejected, false},
		{425, rejected, true},
		{413, rejected, false},
		{415, rejected, false},
		{422, rejected, false},
		{401, unauthorized, false},
		{403, unauthorized, false},
		{429, rateLimited, true},
		{500, server, true},
		{501, server, true},
		{502, server, true},
		{503, server, true},
		{504, server, true},
		{599, server, true},
		{302, rejected, false},
		{308, rejected, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			srv := newServer(t, reply(tc.code, `{"status":"error","msg":"boom"}`, "Location", "https://elsewhere.example/"))
			c := newClient(t, srv.URL)
			_, err := c.Invalidate(context.Background(), []string{"a.jpg"})
			if err == nil {
				t.Fatal("Invalidate = nil error")
			}
			want := map[kind]struct {
				target   any // for errors.As
				sentinel error
			}{
				rejected:     {new(*apiclient.RejectedError), apiclient.ErrRejected},
				unauthorized: {new(*apiclient.UnauthorizedError), apiclient.ErrUnauthorized},
				rateLimited:  {new(*apiclient.RateLimitError), apiclient.ErrRateLimited},
				server:       {new(*apiclient.ServerError), apiclient.ErrServer},
			}[tc.kind]
			code, ok := statusAs(err, want.target)
			sentinel := want.sentinel
			if !ok {
				t.Fatalf("error %T (%v) is not the expected type", err, err)
			}
			if code != tc.code {
				t.Errorf("StatusCode = %d, want %d", code, tc.code)
			}
			if !errors.Is(err, sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, sentinel)
			}
			for _, other := range []error{apiclient.ErrRejected, apiclient.ErrUnauthorized, apiclient.ErrRateLimited,
				apiclient.ErrServer, apiclient.ErrTransport} {
				if other != sentinel && errors.Is(err, other) {
					t.Errorf("errors.Is(%v, %v) = true", err, other)
				}
			}
			if got := apiclient.IsTransient(err); got != tc.transient {
				t.Errorf("IsTransient = %v, want %v", got, tc.transient)
			}
			// Wrapping keeps the classification.
			if got := apiclient.IsTransient(fmt.Errorf("batch 7: %w", err)); got != tc.transient {
				t.Errorf("IsTransient(wrapped) = %v, want %v", got, tc.transient)
			}
			wantPrefix := strings.TrimSpace(fmt.Sprintf("cloudimage: POST /invalidate: %d %s", tc.code, http.StatusText(tc.code)))
			if msg := err.Error(); !strings.HasPrefix(msg, wantPrefix) || !strings.HasSuffix(msg, `{"status":"error","msg":"boom"}`) {
				t.Errorf("error = %q, want %q...boom", msg, wantPrefix)
			}
		})
	}
}

func TestErrorStrings(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&apiclient.ServerError{Method: "POST", Path: "/invalidate", StatusCode: 503, Body: "upstream\n\n  down"},
			"cloudimage: POST /invalidate: 503 Service Unavailable: upstream down"},
		{&apiclient.ServerError{Method: "POST", Path: "/invalidate", StatusCode: 503, RetryAfter: 30 * time.Second},
			"cloudimage: POST /invalidate: 503 Service Unavailable, retry after 30s"},
		{&apiclient.RateLimitError{Method: "POST", Path: "/invalidate", StatusCode: 429, RetryAfter: 2 * time.Minute, Body: "slow down"},
			"cloudimage: POST /invalidate: 429 Too Many Requests, retry after 2m0s: slow down"},
		{&apiclient.UnauthorizedError{Method: "GET", Path: "/invalidate/u-1", StatusCode: 401},
			"cloudimage: GET /invalidate/u-1: 401 Unauthorized, check the API key (X-Client-Key)"},
		{&apiclient.RejectedError{StatusCode: 400, Body: "bad"}, "cloudimage: 400 Bad Request: bad"},
		{&apiclient.RejectedError{StatusCode: 499}, "cloudimage: 499"},
		{&apiclient.TransportError{Method: "POST", Path: "/invalidate", Op: "send", Err: context.DeadlineExceeded},
			"cloudimage: POST /invalidate: send: context deadline exceeded"},
		{&apiclient.TransportError{Method: "POST", Path: "/invalidate", Op: "decode response", StatusCode: 201, Err: errors.New("EOF")},
			"cloudimage: POST /invalidate: decode response: 201 Created: EOF"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	long := &apiclient.RejectedError{StatusCode: 400, Body: strings.Repeat("é", 1000)}
	if msg := long.Error(); len(msg) > len("cloudimage: 400 Bad Request: ")+200 {
		t.Errorf("error string is %d bytes long, want the body cut to 200", len(msg))
	}
}

func TestIsTransient(t *testing.T) {
	transport := func(err error) error {
		return &apiclient.TransportError{Method: "POST", Path: "/invalidate", Op: "send", Err: err}
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("x"), false},
		{"no urls", apiclient.ErrNoURLs, false},
		{"too many urls", fmt.Errorf("%w: 16", apiclient.ErrTooManyURLs), false},
		{"rate limited", &apiclient.RateLimitError{StatusCode: 429}, true},
		{"unauthorized", &apiclient.UnauthorizedError{StatusCode: 401}, false},
		{"rejected", &apiclient.RejectedError{StatusCode: 400}, false},
		{"request timeout", &apiclient.RejectedError{StatusCode: 408}, true},
		{"server", &apiclient.ServerError{StatusCode: 502}, true},
		{"not implemented", &apiclient.ServerError{StatusCode: 501}, true},
		{"too early", &apiclient.RejectedError{StatusCode: 425}, true},
		{"network", transport(&net.OpError{Op: "dial", Err: errors.New("connection refused")}), true},
		{"deadline", transport(context.DeadlineExceeded), true},
		{"cancelled by the caller", transport(context.Canceled), false},
		{"bare context.Canceled", context.Canceled, false},
		{"bad certificate", transport(fmt.Errorf("tls: %w", &tlsCertError)), false},
	} {
		if got := apiclient.IsTransient(tc.err); got != tc.want {
			t.Errorf("IsTransient(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTooManyOrNoURLsSendsNothing(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		reply(http.StatusCreated, createdBody)(w, r)
	})
	c := newClient(t, srv.URL)

	urls := make([]string, apiclient.MaxURLsPerRequest+1)
	for i := range urls {
		urls[i] = fmt.Sprintf("/img/%d.jpg", i)
	}
	_, err := c.Invalidate(context.Background(), urls)
	if !errors.Is(err, apiclient.ErrTooManyURLs) {
		t.Errorf("16 URLs: %v, want ErrTooManyURLs", err)
	}
	if apiclient.IsTransient(err) {
		t.Error("ErrTooManyURLs is transient")
	}
	for _, empty := range [][]string{nil, {}} {
		if _, err := c.Invalidate(context.Background(), empty); !errors.Is(err, apiclient.ErrNoURLs) {
			t.Errorf("%#v: %v, want ErrNoURLs", empty, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("server saw %d requests, want 0", n)
	}
	if _, err := c.Invalidate(context.Background(), urls[:apiclient.MaxURLsPerRequest]); err != nil {
		t.Errorf("15 URLs: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Int32
	target := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
		reply(http.StatusCreated, createdBody)(w, r)
	})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/invalidate", http.StatusTemporaryRedirect)
	})
	// Even a caller's client that would follow redirects does not.
	follows := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []*apiclient.Client{newClient(t, srv.URL), newClient(t, srv.URL, apiclient.WithHTTPClient(follows))} {
		_, err := c.Invalidate(context.Background(), []string{"a.jpg"})
		var re *apiclient.RejectedError
		if !errors.As(err, &re) || re.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("Invalidate = %v, want a 307 *RejectedError", err)
		}
	}
	follows.CloseIdleConnections()
	if follows.CheckRedirect != nil {
		t.Error("WithHTTPClient changed the caller's client")
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests (with the key)", n)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		name   string
		code   int
		header string // "" = no header
		opts   []apiclient.Option
		want   time.Duration
	}{
		{"seconds", 429, "120", nil, 2 * time.Minute},
		{"zero", 429, "0", nil, 0},
		{"HTTP-date", 429, now.Add(90 * time.Second).Format(http.TimeFormat), nil, 90 * time.Second},
		{"HTTP-date in the past", 429, now.Add(-time.Hour).Format(http.TimeFormat), nil, 0},
		{"absent", 429, "", nil, 0},
		{"garbage", 429, "soon", nil, 0},
		{"negative", 429, "-5", nil, 0},
		{"fraction", 429, "1.5", nil, 0},
		{"capped by default", 429, "86400", nil, apiclient.DefaultMaxRetryAfter},
		{"huge", 429, "99999999999999999999999", nil, apiclient.DefaultMaxRetryAfter},
		{"HTTP-date capped", 429, now.Add(48 * time.Hour).Format(http.TimeFormat), nil, apiclient.DefaultMaxRetryAfter},
		{"capped by option", 429, "120", []apiclient.Option{apiclient.WithMaxRetryAfter(30 * time.Second)}, 30 * time.Second},
		{"on a 503", 503, "7", nil, 7 * time.Second},
		{"on a 502: read, not honoured", 502, "7", nil, 0},
		{"on a 500: read, not honoured", 500, "7", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.header != "" {
				h = []string{"Retry-After", tc.header}
			}
			srv := newServer(t, reply(tc.code, "slow down", h...))
			c := newClient(t, srv.URL, append([]apiclient.Option{apiclient.WithClock(clock)}, tc.opts...)...)
			_, err := c.Invalidate(context.Background(), []string{"a.jpg"})
			if tc.code == 429 {
				var rl *apiclient.RateLimitError
				if !errors.As(err, &rl) {
					t.Fatalf("Invalidate = %v, want *RateLimitError", err)
				}
				if rl.RetryAfter != tc.want {
					t.Errorf("RetryAfter = %v, want %v", rl.RetryAfter, tc.want)
				}
			}
			if got := apiclient.RetryAfter(err); got != tc.want {
				t.Errorf("apiclient.RetryAfter = %v, want %v", got, tc.want)
			}
			var se *apiclient.ServerError
			if errors.As(err, &se) && se.RetryAfter != 7*time.Second {
				t.Errorf("ServerError.RetryAfter = %v, want the header's 7s whatever the 5xx", se.RetryAfter)
			}
			if !apiclient.IsTransient(err) {
				t.Errorf("IsTransient(%v) = false", err)
			}
		})
	}
	if got := apiclient.RetryAfter(&apiclient.RejectedError{StatusCode: 400}); got != 0 {
		t.Errorf("RetryAfter(rejected) = %v", got)
	}
}

// blockingServer answers nothing until the request's context ends (the client went away) or
// the test ends. arrived receives one value per request as it comes in.
func blockingServer(t *testing.T) (srv *httptest.Server, arrived <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	ch := make(chan struct{}, 16)
	srv = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		ch <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv, ch
}

func TestCancelledContext(t *testing.T) {
	srv, arrived := blockingServer(t)
	c := newClient(t, srv.URL)

	check := func(t *testing.T, err error) {
		t.Helper()
		var te *apiclient.TransportError
		if !errors.As(err, &te) || !errors.Is(err, context.Canceled) || !errors.Is(err, apiclient.ErrTransport) {
			t.Fatalf("err = %v, want a *TransportError wrapping context.Canceled", err)
		}
		if apiclient.IsTransient(err) {
			t.Error("a call cancelled by the caller is transient")
		}
	}

	t.Run("before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Invalidate(ctx, []string{"a.jpg"})
		check(t, err)
	})
	t.Run("in flight", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := c.Status(ctx, "u-1")
			errc <- err
		}()
		waitFor(t, arrived)
		cancel()
		check(t, waitFor(t, errc))
	})
}

func TestSlowServerHitsTheTimeout(t *testing.T) {
	srv, _ := blockingServer(t)

	check := func(t *testing.T, err error) {
		t.Helper()
		var te *apiclient.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("err = %v, want *TransportError", err)
		}
		if !te.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v: Timeout() = %v, errors.Is(DeadlineExceeded) = %v", err, te.Timeout(),
				errors.Is(err, context.DeadlineExceeded))
		}
		if !apiclient.IsTransient(err) {
			t.Error("a timeout is not transient")
		}
		if strings.Contains(err.Error(), testKey) {
			t.Error("the key leaked")
		}
	}

	t.Run("client timeout", func(t *testing.T) {
		c := newClient(t, srv.URL, apiclient.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
		_, err := c.Invalidate(context.Background(), []string{"a.jpg"})
		check(t, err)
	})
	t.Run("context deadline", func(t *testing.T) {
		c := newClient(t, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.InvalidateAll(ctx)
		check(t, err)
	})
}

func TestTransportErrorOnConnectionFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	_, err = newClient(t, "http://"+addr).Invalidate(context.Background(), []string{"a.jpg"})
	var te *apiclient.TransportError
	if !errors.As(err, &te) || te.Op != "send" || !apiclient.IsTransient(err) {
		t.Fatalf("err = %v, want a transient send *TransportError", err)
	}
	if want := "cloudimage: POST /invalidate: send: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want prefix %q", err, want)
	}
}

func TestUndecodable2xxIsATransportError(t *testing.T) {
	srv := newServer(t, reply(http.StatusOK, "<html>maintenance</html>", "Content-Type", "text/html"))
	_, err := newClient(t, srv.URL).Invalidate(context.Background(), []string{"a.jpg"})
	var te *apiclient.TransportError
	if !errors.As(err, &te) || te.Op != "decode response" || te.StatusCode != 200 {
		t.Fatalf("err = %v, want a decode *TransportError", err)
	}
	if !apiclient.IsTransient(err) || !strings.Contains(err.Error(), "text/html") {
		t.Errorf("err = %v (transient %v), want transient and naming the content type", err, apiclient.IsTransient(err))
	}
}

func TestOversizedBodiesAreBounded(t *testing.T) {
	const total = 64 << 20
	var written atomic.Int64
	done := make(chan struct{}, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		code := http.StatusBadRequest
		if r.Method == http.MethodGet {
			code = http.StatusOK
		}
		w.WriteHeader(code)
		chunk := []byte(strings.Repeat("0123456789abcdef", 2048)) // 32 KiB
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	c := newClient(t, srv.URL)

	_, err := c.Invalidate(context.Background(), []string{"a.jpg"})
	var re *apiclient.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RejectedError", err)
	}
	if len(re.Body) != 4<<10 || !strings.HasPrefix(re.Body, "0123456789abcdef") {
		t.Errorf("Body is %d bytes, want the first 4 KiB", len(re.Body))
	}
	if len(err.Error()) > 300 {
		t.Errorf("error string is %d bytes long", len(err.Error()))
	}
	waitFor(t, done)
	if n := written.Load(); n >= total {
		t.Errorf("the server wrote all %d bytes: the client read the whole body", n)
	}

	// A 2xx body past the JSON limit is not read whole either.
	written.Store(0)
	_, err = c.Status(context.Background(), "u-1")
	var te *apiclient.TransportError
	if !errors.As(err, &te) || te.Op != "decode response" {
		t.Fatalf("err = %v, want a decode *TransportError", err)
	}
	waitFor(t, done)
	if n := written.Load(); n >= total {
		t.Errorf("the server wrote all %d bytes: the client read the whole body", n)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int32
	var calls atomic.Int32
	answers := []http.HandlerFunc{
		reply(http.StatusCreated, createdBody),
		reply(http.StatusBadRequest, strings.Repeat("x", 10<<10)),
		reply(http.StatusServiceUnavailable, "down"),
		reply(http.StatusTooManyRequests, "", "Retry-After", "1"),
		reply(http.StatusUnauthorized, `{"msg":"bad key"}`),
		reply(http.StatusOK, `{"status":"success","invalidation":{"status":"DONE","uuid":"u"}}`),
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answers[int(calls.Add(1)-1)%len(answers)](w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	for range 2 * len(answers) {
		_, _ = c.Invalidate(context.Background(), []string{"a.jpg"})
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for %d calls, want 1: bodies not drained", n, calls.Load())
	}
}

func TestDebugLogLine(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	srv := newServer(t, reply(http.StatusCreated, createdBody))
	c := newClient(t, srv.URL, apiclient.WithLogger(zap.New(core)))
	if _, err := c.Invalidate(context.Background(), []string{"a.jpg", "b.jpg"}); err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log entries, want 1", len(entries))
	}
	e := entries[0]
	f := e.ContextMap()
	if e.Level != zapcore.DebugLevel || f["method"] != "POST" || f["path"] != "/invalidate" || f["status"] != int64(201) ||
		f["urls"] != int64(2) || f["uuid"] != "4fc96d31-1111-4222-8333-444455556666" {
		t.Errorf("log entry = %s %v", e.Message, f)
	}
	if _, ok := f["duration"]; !ok {
		t.Error("no duration in the log entry")
	}
}

// TestTheKeyNeverLeaks runs every failure path, including servers that echo the key back,
// and checks every error string, every observed log line and the printed client.
func TestTheKeyNeverLeaks(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	echo := func(code int, prefix string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, prefix+r.Header.Get("X-Client-Key")+" was not accepted")
		}
	}
	handlers := map[string]http.HandlerFunc{
		"401 echo":          echo(401, "key "),
		"403 echo":          echo(403, ""),
		"400 echo":          echo(400, "bad request for "),
		"429 echo":          echo(429, ""),
		"500 echo":          echo(500, "panic: "),
		"key across 4 KiB":  echo(400, strings.Repeat("p", 4<<10-5)),
		"key at the end":    echo(400, strings.Repeat("p", 4<<10+len(testKey)-7)),
		"key repeated":      reply(400, strings.Repeat(testKey, 1000)),
		"200 echo not JSON": echo(200, "<html>"),
		"201 echo":          reply(201, strings.Replace(createdBody, "RECEIVED", testKey, 1)),
	}
	var errs []error
	for name, h := range handlers {
		srv := newServer(t, h)
		c := newClient(t, srv.URL, apiclient.WithLogger(log.With(zap.String("case", name))))
		if _, err := c.Invalidate(context.Background(), []string{"a.jpg"}); err != nil {
			errs = append(errs, err)
		}
		if _, err := c.Status(context.Background(), "u"); err != nil {
			errs = append(errs, err)
		}
	}
	// Transport failures: a timeout and a refused connection.
	slow, _ := blockingServer(t)
	c := newClient(t, slow.URL, apiclient.WithLogger(log),
		apiclient.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	_, err := c.Invalidate(context.Background(), []string{"a.jpg"})
	errs = append(errs, err)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = newClient(t, closed.URL, apiclient.WithLogger(log)).InvalidateAll(context.Background())
	errs = append(errs, err)
	_, err = apiclient.New(testKey+"\n", apiclient.WithBaseURL("::"))
	errs = append(errs, err)

	if len(errs) < len(handlers)+3 {
		t.Fatalf("only %d errors", len(errs))
	}
	partial := testKey[:len(testKey)/2]
	for _, err := range errs {
		if err == nil {
			t.Error("a failure path returned no error")
			continue
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, partial) {
				t.Errorf("error shows the key: %s", s)
			}
		}
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, partial) {
			t.Errorf("log line shows the key: %s", line)
		}
	}
	printed := fmt.Sprintf("%v %+v %#v %s %v", c, c, c, c, *c)
	if strings.Contains(printed, partial) {
		t.Errorf("printing the client shows the key: %s", printed)
	}
}

// waitFor receives from ch, failing the test after 5 s.
func waitFor[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

// tlsCertError is what a failed certificate check looks like.
var tlsCertError = tls.CertificateVerificationError{Err: errors.New("x509: certificate signed by unknown authority")}
