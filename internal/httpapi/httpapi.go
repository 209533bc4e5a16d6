// Package httpapi holds the conventions that the worker's JSON endpoints (the intake and the
// storage event receivers) share, so that each is written once: the options every endpoint has
// and their defaults, the error body, the shared-secret check in constant time, the bounded
// request body with its 413, the 405 for a method other than POST, the context of a request's
// Redis work, the 503 with Retry-After that a caller gets while Redis cannot be written, and the
// fields of each request's log line.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
)

// DefaultRetryAfter is the Retry-After sent with a 503 while Redis cannot be written.
const DefaultRetryAfter = 5 * time.Second

// DefaultTimeout bounds the Redis work of one request.
const DefaultTimeout = 10 * time.Second

// Endpoint is what every JSON endpoint of the worker is configured with, in the form its handler
// uses (the handler embeds it): the bounded body, the Retry-After of a 503, the bound on one
// request's Redis work, and the logger of its request lines.
type Endpoint struct {
	Limit      Limit
	RetryAfter time.Duration
	Timeout    time.Duration
	Log        *zap.Logger
}

// WithDefaults returns e with the fields left zero (or negative) set: Limit.Max to maxBytes (each
// endpoint has its own setting), RetryAfter to DefaultRetryAfter, Timeout to DefaultTimeout, and
// Log, when nil, to a logger that drops everything.
func (e Endpoint) WithDefaults(maxBytes int64) Endpoint {
	if e.Limit.Max <= 0 {
		e.Limit.Max = maxBytes
	}
	if e.RetryAfter <= 0 {
		e.RetryAfter = DefaultRetryAfter
	}
	if e.Timeout <= 0 {
		e.Timeout = DefaultTimeout
	}
	if e.Log == nil {
		e.Log = zap.NewNop()
	}
	return e
}

// Begin starts the answer to r, received at start: it limits r's body (Limit.Wrap), marks the
// answer not to be cached, and returns w wrapped to record the status, with end, to be deferred:
// once the answer is written, end calls logLine with its status and the time since start.
func (e Endpoint) Begin(w http.ResponseWriter, r *http.Request, start time.Time, logLine func(status int, took time.Duration)) (http.ResponseWriter, func()) {
	e.Limit.Wrap(w, r)
	sw := &StatusWriter{ResponseWriter: w}
	sw.Header().Set("Cache-Control", "no-store")
	return sw, func() { logLine(sw.Status, time.Since(start)) }
}

// RequestFields are the fields a request's log line starts with. The path is logged without the
// query string, which may hold a token.
func RequestFields(r *http.Request, status int, took time.Duration) []zap.Field {
	return []zap.Field{
		zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status),
		zap.String("client", r.RemoteAddr), zap.Duration("took", took),
	}
}

// MaxTextBytes bounds a free-text label stored with every key a request adds (the intake's
// "source" and "reason", an event's source text): without a bound one request could write its
// size times its number of URLs into Redis.
const MaxTextBytes = 512

// Truncate shortens s to at most MaxTextBytes, on a character boundary, ending it with "..."
// when it was cut.
func Truncate(s string) string {
	if len(s) <= MaxTextBytes {
		return s
	}
	cut := MaxTextBytes - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Error is the body of every error answer.
type Error struct {
	Code    string `json:"code"`              // machine-readable: unauthorized, not_found, method_not_allowed, ...
	Message string `json:"error"`             // what went wrong and how to fix it
	Setting string `json:"setting,omitempty"` // the worker setting behind a limit (INTAKE_MAX_BYTES, INTAKE_MAX_URLS, ...)
	Limit   int64  `json:"limit,omitempty"`   // that setting's value
	Line    int    `json:"line,omitempty"`    // where malformed JSON went wrong (1-based)
	Column  int    `json:"column,omitempty"`  // in characters, 1-based
	Offset  int64  `json:"offset,omitempty"`  // in bytes from the start of the body, 0-based
}

// Problem is a request refused before it reached Redis: the status and the error body to answer.
type Problem struct {
	Status int
	Body   Error
}

// WriteJSON writes v as the JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<your CLOUDIMAGE_TOKEN value>" stays readable
	_ = enc.Encode(v)
}

// Secret is a shared secret (a token) that requests must present. The zero value (or one built
// from "") matches nothing.
type Secret struct {
	set bool
	sum [sha256.Size]byte
}

// NewSecret returns the Secret s.
func NewSecret(s string) Secret { return Secret{set: s != "", sum: sha256.Sum256([]byte(s))} }

// IsSet reports whether the secret is not empty.
func (s Secret) IsSet() bool { return s.set }

// Matches compares presented with the secret in constant time, also constant in the two lengths
// (their SHA-256 sums are compared). An unset secret matches nothing.
func (s Secret) Matches(presented string) bool {
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], s.sum[:]) == 1 && s.set
}

// Bearer returns the token of an "Authorization: Bearer <token>" header (the scheme is
// case-insensitive, spaces around the token are ignored) and whether there was one.
func Bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// Limit bounds a request body: Max bytes, named by Setting (the worker setting) in the 413's body.
type Limit struct {
	Max     int64  // the limit in bytes
	Setting string // the setting behind it, e.g. INTAKE_MAX_BYTES
	Fix     string // what a client should do instead, e.g. "send fewer URLs per request"
}

// Wrap limits r's body to l.Max with the server's own reader, so that a body over the limit also
// closes the connection. Call it before anything reads the body.
func (l Limit) Wrap(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, l.Max)
}

// TooLarge is the 413 for a body over the limit.
func (l Limit) TooLarge() *Problem {
	return &Problem{http.StatusRequestEntityTooLarge, Error{Code: "body_too_large", Setting: l.Setting, Limit: l.Max,
		Message: fmt.Sprintf("the body is larger than %s=%d bytes: %s", l.Setting, l.Max, l.Fix)}}
}

// Read reads the whole body of r (wrapped by Wrap): a 413 when a declared Content-Length or the
// body itself passes the limit, a 400 when it cannot be read.
func (l Limit) Read(r *http.Request) ([]byte, *Problem) {
	if r.ContentLength > l.Max {
		return nil, l.TooLarge()
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, l.TooLarge()
		}
		// The error names both ends of the socket: it is not echoed.
		msg := "the body could not be read: the connection failed before its end"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			msg = "the body did not arrive in time (the server's read timeout): send it at once, not slowly"
		}
		return nil, &Problem{http.StatusBadRequest, Error{Code: "read_error", Message: msg}}
	}
	return data, nil
}

// MethodNotAllowed is the 405 for a method other than POST. It sets the Allow header to allow.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) *Problem {
	w.Header().Set("Allow", allow)
	return &Problem{http.StatusMethodNotAllowed, Error{Code: "method_not_allowed",
		Message: fmt.Sprintf("%s %s is not allowed: use POST", r.Method, r.URL.Path)}}
}

// Malformed is a 400 pointing at data[pos] (pos is clamped into the body) by line, column and
// byte offset.
func Malformed(data []byte, pos int, code, msg string) *Problem {
	pos = max(0, min(pos, len(data)))
	line, col := position(data, pos)
	return &Problem{http.StatusBadRequest, Error{Code: code, Line: line, Column: col, Offset: int64(pos),
		Message: fmt.Sprintf("%s (line %d, column %d, byte offset %d)", msg, line, col, pos)}}
}

// position returns the 1-based line and column (in characters) of byte pos of data.
func position(data []byte, pos int) (line, col int) {
	before := data[:pos]
	line = 1 + strings.Count(string(before), "\n")
	start := strings.LastIndexByte(string(before), '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

// Durable returns the context of a request's Redis work: bounded by timeout, and not cancelled
// when the client hangs up, because a request that reached Redis is finished.
func Durable(r *http.Request, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), timeout)
}

// Unavailable is the answer while Redis cannot be written: 503 with Retry-After (retryAfter
// rounded up to whole seconds), so that the caller sends the same request again later. msg says
// what was not done. When err is the guard's refusal (Redis's maxmemory-policy may evict, or cannot
// be read now), the answer says that first, with the policy and the fix, for the operator who
// reads it: retrying does not help until Redis is configured. So does a replica wait that fell short.
func Unavailable(w http.ResponseWriter, retryAfter time.Duration, err error, msg string) Error {
	var ev *store.EvictionError
	var unknown *store.PolicyUnknownError
	var replicas *store.ReplicaError
	if errors.As(err, &ev) || errors.As(err, &unknown) || errors.As(err, &replicas) {
		msg = strings.TrimSuffix(err.Error(), ".") + ". " + msg
	}
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	body := Error{Code: "unavailable", Message: fmt.Sprintf("%s (retry after %d s)", msg, secs)}
	WriteJSON(w, http.StatusServiceUnavailable, body)
	return body
}

// StatusWriter remembers the status written, for the request's log line.
type StatusWriter struct {
	http.ResponseWriter
	Status int
}

// WriteHeader records the first status.
func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records 200 when nothing was written before.
func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ClientIP is the peer's address without the port (X-Forwarded-For is not trusted).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
