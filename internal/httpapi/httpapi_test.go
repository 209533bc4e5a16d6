package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge/internal/store"
)

func TestSecret(t *testing.T) {
	s := NewSecret("s3cret")
	if !s.IsSet() || !s.Matches("s3cret") {
		t.Error("the secret does not match itself")
	}
	for _, bad := range []string{"", "s3cre", "s3cret ", "S3CRET"} {
		if s.Matches(bad) {
			t.Errorf("%q matches", bad)
		}
	}
	var zero Secret
	if zero.IsSet() || zero.Matches("") || NewSecret("").Matches("") {
		t.Error("an unset secret matches the empty string")
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "abc": "", "": ""} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Authorization", h)
		got, ok := Bearer(r)
		if got != want || ok != (want != "") {
			t.Errorf("%q: got %q %v, want %q", h, got, ok, want)
		}
	}
}

func TestLimit(t *testing.T) {
	l := Limit{Max: 8, Setting: "X_MAX_BYTES", Fix: "send less"}
	read := func(body string, chunked bool) ([]byte, *Problem) {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length: ContentLength stays -1
		}
		r := httptest.NewRequest(http.MethodPost, "/", rd)
		if chunked {
			r.ContentLength = -1
		}
		l.Wrap(httptest.NewRecorder(), r)
		return l.Read(r)
	}
	for _, chunked := range []bool{false, true} {
		if b, p := read("12345678", chunked); p != nil || string(b) != "12345678" {
			t.Errorf("chunked=%v: 8 bytes: %q %+v", chunked, b, p)
		}
		_, p := read("123456789", chunked)
		if p == nil || p.Status != http.StatusRequestEntityTooLarge || p.Body.Setting != "X_MAX_BYTES" || p.Body.Limit != 8 ||
			!strings.Contains(p.Body.Message, "X_MAX_BYTES=8 bytes: send less") {
			t.Errorf("chunked=%v: 9 bytes: %+v", chunked, p)
		}
	}
}

func TestMalformed(t *testing.T) {
	p := Malformed([]byte("{\n  \"é\": x}"), 9, "malformed_json", "bad")
	if p.Status != http.StatusBadRequest || p.Body.Line != 2 || p.Body.Column != 7 || p.Body.Offset != 9 ||
		p.Body.Message != "bad (line 2, column 7, byte offset 9)" {
		t.Errorf("%+v", p)
	}
	if p := Malformed([]byte("ab"), 99, "c", "m"); p.Body.Offset != 2 || p.Body.Column != 3 {
		t.Errorf("past the end: %+v", p.Body)
	}
}

func TestUnavailable(t *testing.T) {
	w := httptest.NewRecorder()
	body := Unavailable(w, 1500*time.Millisecond, errors.New("dial tcp: connection refused"), "nothing was enqueued")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "2" || body.Code != "unavailable" ||
		body.Message != "nothing was enqueued (retry after 2 s)" {
		t.Errorf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	// The guard's refusals come first, with what to fix: retrying does not help until Redis is
	// configured.
	for err, want := range map[error][]string{
		fmt.Errorf("enqueue: %w", &store.EvictionError{Policy: "allkeys-lru"}):                       {"allkeys-lru", "CONFIG SET maxmemory-policy noeviction"},
		&store.PolicyUnknownError{Err: errors.New("LOADING Redis is loading the dataset in memory")}: {"maxmemory-policy", "LOADING"},
	} {
		w := httptest.NewRecorder()
		body := Unavailable(w, time.Second, err, "nothing was enqueued")
		if w.Code != http.StatusServiceUnavailable || !strings.HasSuffix(body.Message, ". nothing was enqueued (retry after 1 s)") {
			t.Errorf("%v: %d %q", err, w.Code, body.Message)
		}
		for _, part := range want {
			if !strings.Contains(body.Message, part) {
				t.Errorf("%v: %q does not name %q", err, body.Message, part)
			}
		}
	}
}

func TestEndpointDefaults(t *testing.T) {
	e := Endpoint{}.WithDefaults(123)
	if e.Limit.Max != 123 || e.RetryAfter != DefaultRetryAfter || e.Timeout != DefaultTimeout || e.Log == nil {
		t.Errorf("zero: %+v", e)
	}
	e = Endpoint{Limit: Limit{Max: -1}, RetryAfter: -time.Second, Timeout: -time.Second}.WithDefaults(123)
	if e.Limit.Max != 123 || e.RetryAfter != DefaultRetryAfter || e.Timeout != DefaultTimeout {
		t.Errorf("negative: %+v", e)
	}
	log := zap.NewExample()
	e = Endpoint{Limit: Limit{Max: 7, Setting: "X"}, RetryAfter: time.Second, Timeout: 2 * time.Second, Log: log}.WithDefaults(123)
	if e.Limit.Max != 7 || e.Limit.Setting != "X" || e.RetryAfter != time.Second || e.Timeout != 2*time.Second || e.Log != log {
		t.Errorf("set: %+v", e)
	}
}

func TestBegin(t *testing.T) {
	e := Endpoint{Limit: Limit{Max: 4}}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("12345"))
	var logged []int
	var took time.Duration
	w, end := e.Begin(rec, r, time.Now().Add(-time.Hour), func(status int, d time.Duration) { logged, took = append(logged, status), d })
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
	if _, err := io.ReadAll(r.Body); err == nil {
		t.Error("the body is not limited")
	}
	if len(logged) != 0 {
		t.Error("logged before the end")
	}
	w.WriteHeader(http.StatusTeapot)
	w.WriteHeader(http.StatusOK) // ignored by the recorder; the first status counts
	end()
	if rec.Code != http.StatusTeapot || len(logged) != 1 || logged[0] != http.StatusTeapot || took < time.Hour {
		t.Errorf("status %d, logged %v after %s", rec.Code, logged, took)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	w := httptest.NewRecorder()
	p := MethodNotAllowed(w, httptest.NewRequest(http.MethodGet, "/v1/x?token=t", nil), "POST, OPTIONS")
	if p.Status != http.StatusMethodNotAllowed || p.Body.Code != "method_not_allowed" || p.Body.Message != "GET /v1/x is not allowed: use POST" ||
		w.Header().Get("Allow") != "POST, OPTIONS" {
		t.Errorf("%+v, Allow %q", p, w.Header().Get("Allow"))
	}
}

func TestRequestFields(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	r := httptest.NewRequest(http.MethodPost, "/v1/x?token=secret", nil)
	zap.New(core).Info("request", RequestFields(r, 202, time.Second)...)
	got := logs.All()[0].ContextMap()
	if got["method"] != "POST" || got["path"] != "/v1/x" || got["status"] != int64(202) || got["client"] != r.RemoteAddr || got["took"] != time.Second {
		t.Errorf("%v", got)
	}
}

type failingBody struct{ err error }

func (f failingBody) Read([]byte) (int, error) { return 0, f.err }
func (f failingBody) Close() error             { return nil }

// TestReadErrorHidesSockets: a body that fails to arrive is a 400 that names neither end of the
// socket.
func TestReadErrorHidesSockets(t *testing.T) {
	for _, timeout := range []bool{true, false} {
		op := &net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8080},
			Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 51234}, Err: os.ErrDeadlineExceeded}
		if !timeout {
			op.Err = syscall.ECONNRESET
		}
		r := httptest.NewRequest(http.MethodPost, "/v1/invalidations", failingBody{op})
		_, p := Limit{Max: 1 << 20}.Read(r)
		if p == nil || p.Status != http.StatusBadRequest {
			t.Fatalf("timeout %v: %+v, want 400", timeout, p)
		}
		if strings.Contains(p.Body.Message, "10.1.2.3") || strings.Contains(p.Body.Message, "192.0.2.7") || strings.Contains(p.Body.Message, "8080") {
			t.Errorf("timeout %v: the message names a socket: %q", timeout, p.Body.Message)
		}
		if timeout != strings.Contains(p.Body.Message, "in time") {
			t.Errorf("timeout %v: %q", timeout, p.Body.Message)
		}
	}
}
