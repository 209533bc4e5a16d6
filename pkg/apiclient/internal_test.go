package apiclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	const max = 10 * time.Minute
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"   ", 0},
		{"0", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"600", max},
		{"601", max},
		{"18446744073709551616", max},
		{"-1", 0},
		{"+5", 0},
		{"1e3", 0},
		{"1.5", 0},
		{"soon", 0},
		{"Wed, 01 May 2024 12:01:30 GMT", 90 * time.Second},     // IMF-fixdate
		{"Wednesday, 01-May-24 12:00:10 GMT", 10 * time.Second}, // RFC 850
		{"Wed May  1 12:00:05 2024", 5 * time.Second},           // asctime
		{"Wed, 01 May 2024 11:59:59 GMT", 0},
		{"Wed, 01 May 2024 12:00:00 GMT", 0},
		{"Thu, 02 May 2024 12:00:00 GMT", max},
		{"Wed, 01 May 2024 12:01:30 +0200", 0}, // not an HTTP-date
	} {
		if got := parseRetryAfter(tc.in, now, max); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "99999999999999999999", http.TimeFormat, "Wed, 01 May 2024 12:01:30 GMT"} {
		f.Add(s)
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now, time.Minute); d < 0 || d > time.Minute {
			t.Fatalf("parseRetryAfter(%q) = %v, outside [0, 1m]", s, d)
		}
	})
}

const key = "ck_TEST_0123456789abcdefSECRET"

func TestReadErrorBody(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "bad url", "bad url"},
		{"echoed key", "key " + key + " rejected", "key [redacted] rejected"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
		{"control characters", "a\x00b\x1bc\td\ne", "a b c\td\ne"},
	} {
		if got := readErrorBody(strings.NewReader(tc.in), key); got != tc.want {
			t.Errorf("%s: readErrorBody = %q, want %q", tc.name, got, tc.want)
		}
	}
	// The read stops inside a copy of the key; redaction then shortens the text, which must
	// not pull the cut copy's first half in under the limit.
	if got := readErrorBody(strings.NewReader(strings.Repeat(key, 1000)), key); strings.Contains(got, key[:len(key)/2]) {
		t.Errorf("a cut key shows in the body: ...%s", got[len(got)-40:])
	}
	long := readErrorBody(strings.NewReader(strings.Repeat("é", 10000)), key)
	if len(long) > maxErrorBody || !utf8.ValidString(long) || len(long) < maxErrorBody-1 {
		t.Errorf("long body: %d bytes, valid %v", len(long), utf8.ValidString(long))
	}
}

func FuzzReadErrorBody(f *testing.F) {
	f.Add(strings.Repeat(key, 200), 0)
	f.Add("x"+key, maxErrorBody-3)
	f.Add(key[:10], maxErrorBody+len(key)-10)
	f.Fuzz(func(t *testing.T, s string, pad int) {
		if pad < 0 || pad > 3*maxErrorBody {
			return
		}
		in := strings.Repeat("p", pad) + s
		got := readErrorBody(strings.NewReader(in), key)
		if len(got) > maxErrorBody || !utf8.ValidString(got) {
			t.Fatalf("%d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
		}
		if strings.Contains(got, key) {
			t.Fatalf("the key shows in %q", got)
		}
	})
}

func TestDrainCloseIsBounded(t *testing.T) {
	body := &countingBody{r: bytes.NewReader(make([]byte, 1<<20))}
	drainClose(body)
	if !body.closed || body.n > maxDrain {
		t.Errorf("drained %d bytes, closed %v; want at most %d and closed", body.n, body.closed, maxDrain)
	}
}

type countingBody struct {
	r      io.Reader
	n      int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

func (b *countingBody) Close() error { b.closed = true; return nil }

// TestNotActedOn: only an answer with a status, or a request never written, proves the API did not
// act; a timeout, a torn 2xx and a connection cut after the request leave the outcome unknown.
func TestNotActedOn(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for name, c := range map[string]struct {
		err  error
		want bool
	}{
		"429":               {&RateLimitError{StatusCode: 429}, true},
		"401":               {&UnauthorizedError{StatusCode: 401}, true},
		"404":               {&RejectedError{StatusCode: 404}, true},
		"408":               {&RejectedError{StatusCode: 408}, true},
		"503":               {&ServerError{StatusCode: 503}, true},
		"refused":           {&TransportError{Op: "send", Err: &url.Error{Op: "Post", URL: "x", Err: refused}}, true},
		"dns":               {&TransportError{Op: "send", Err: &net.DNSError{Err: "no such host"}}, true},
		"build":             {&TransportError{Op: "build request", Err: errors.New("bad")}, true},
		"timeout":           {&TransportError{Op: "send", Err: context.DeadlineExceeded}, false},
		"cancelled":         {&TransportError{Op: "send", Err: context.Canceled}, false},
		"reset after write": {&TransportError{Op: "send", Err: reset}, false},
		"torn 201":          {&TransportError{Op: "read response", StatusCode: 201, Err: io.ErrUnexpectedEOF}, false},
		"nil":               {nil, false},
	} {
		if got := NotActedOn(c.err); got != c.want {
			t.Errorf("%s: NotActedOn = %v, want %v", name, got, c.want)
		}
	}
}
