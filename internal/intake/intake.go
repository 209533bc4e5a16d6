// Package intake is the worker's HTTP API for producers that are not written in Go:
// POST /v1/invalidations and POST /v1/invalidations/all, with the same normalisation, dedupe and
// queueing as pkg/tasks. It is off unless INTAKE_TOKEN is set.
//
// Every request needs "Authorization: Bearer <INTAKE_TOKEN>"; without it the answer is 401 with
// no detail, whatever the path. Then, in this order: an unknown path is 404, a method other than
// POST is 405 (with Allow), a Content-Type other than application/json is 415, a body larger than
// INTAKE_MAX_BYTES is 413, JSON that does not parse (or has unknown fields, or trailing data) is
// 400 with the line and column of the error, more than INTAKE_MAX_URLS URLs is 413, and Redis
// not answering is 503 with Retry-After. Every error body is a JSON object (see Error).
//
// POST /v1/invalidations answers 202 with a tasks.Report (one result per input URL, in order)
// when at least one URL was enqueued or was already pending, and 422 with the same report when
// every URL was rejected. POST /v1/invalidations/all answers 202 when a flush-all was enqueued,
// 403 when the confirmation is missing or wrong (the intake token was right; the request is
// refused), and 409 when another flush-all is pending or the cooldown has not passed.
package intake

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// Paths the intake API serves (under the worker's HTTP_ADDR).
const (
	PathInvalidations = "/v1/invalidations"
	PathFlushAll      = "/v1/invalidations/all"
)

// Defaults for the Options fields left zero.
const (
	DefaultMaxBytes   int64 = 1 << 20          // INTAKE_MAX_BYTES
	DefaultMaxURLs          = 1000             // INTAKE_MAX_URLS
	DefaultRetryAfter       = 5 * time.Second  // Retry-After when Redis cannot be written
	DefaultTimeout          = 10 * time.Second // bound on one request's Redis work

	// MaxTextBytes bounds "source" and "reason". The source is stored with every key a request
	// adds, so without a bound one request of INTAKE_MAX_BYTES could write its size times
	// INTAKE_MAX_URLS into Redis.
	MaxTextBytes = 512
)

// Options configure the intake API.
type Options struct {
	Producer    *tasks.Producer // required: where requests go
	Token       string          // INTAKE_TOKEN: every request needs "Authorization: Bearer <Token>"; empty refuses every request
	MaxBytes    int64           // INTAKE_MAX_BYTES; zero means DefaultMaxBytes
	MaxURLs     int             // INTAKE_MAX_URLS; zero means DefaultMaxURLs
	FlushToken  string          // CLOUDIMAGE_TOKEN: what a flush-all must be confirmed with; empty refuses flush-all
	AllCooldown time.Duration   // PURGE_ALL_COOLDOWN
	Log         *zap.Logger     // one info line per request; nil means no logging
	RetryAfter  time.Duration   // Retry-After sent with a 503; zero means DefaultRetryAfter
	Timeout     time.Duration   // bound on the Redis work of one request; zero means DefaultTimeout
}

// Error is the body of every error answer.
type Error struct {
	Code    string `json:"code"`              // machine-readable: unauthorized, not_found, method_not_allowed, ...
	Message string `json:"error"`             // what went wrong and how to fix it
	Setting string `json:"setting,omitempty"` // the worker setting behind a limit (INTAKE_MAX_BYTES, INTAKE_MAX_URLS)
	Limit   int64  `json:"limit,omitempty"`   // that setting's value
	Line    int    `json:"line,omitempty"`    // where malformed JSON went wrong (1-based)
	Column  int    `json:"column,omitempty"`  // in characters, 1-based
	Offset  int64  `json:"offset,omitempty"`  // in bytes from the start of the body, 0-based
}

// FlushAccepted is the answer to a flush-all request that was enqueued.
type FlushAccepted struct {
	Status  string `json:"status"` // "accepted"
	TaskID  string `json:"task_id"`
	Queue   string `json:"queue"`
	Message string `json:"message"`
}

// New returns the intake handler, to be mounted at /v1/. It panics when o.Producer is nil (a
// programming error, found at start).
func New(o Options) http.Handler {
	if o.Producer == nil {
		panic("intake: Options.Producer is nil")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxURLs <= 0 {
		o.MaxURLs = DefaultMaxURLs
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	h := &handler{o: o, tokenSum: sha256.Sum256([]byte(o.Token)), flushSum: sha256.Sum256([]byte(o.FlushToken))}
	if o.Token == "" {
		o.Log.Warn("intake: INTAKE_TOKEN is empty, every request is refused with 401")
	}
	return h
}

type handler struct {
	o        Options
	tokenSum [sha256.Size]byte
	flushSum [sha256.Size]byte
}

// entry collects what the request's log line says.
type entry struct {
	code   string
	urls   int
	report *tasks.Report
	err    error
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	var e entry
	defer func() { h.logRequest(r, sw.status, &e, time.Since(start)) }()
	// The server's own writer, so that a body over the limit also closes the connection.
	r.Body = http.MaxBytesReader(w, r.Body, h.o.MaxBytes)
	w = sw
	w.Header().Set("Cache-Control", "no-store")

	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cipurge"`)
		h.fail(w, &e, http.StatusUnauthorized, Error{Code: "unauthorized", Message: "unauthorized"})
		return
	}
	var serve func(http.ResponseWriter, *http.Request, *entry)
	switch r.URL.Path {
	case PathInvalidations:
		serve = h.invalidations
	case PathFlushAll:
		serve = h.flushAll
	default:
		h.fail(w, &e, http.StatusNotFound, Error{Code: "not_found",
			Message: fmt.Sprintf("no such endpoint %q: use POST %s or POST %s", r.URL.Path, PathInvalidations, PathFlushAll)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, &e, http.StatusMethodNotAllowed, Error{Code: "method_not_allowed",
			Message: fmt.Sprintf("%s %s is not allowed: use POST", r.Method, r.URL.Path)})
		return
	}
	serve(w, r, &e)
}

// authorized compares the bearer token with INTAKE_TOKEN in constant time, also constant in the
// tokens' lengths (their SHA-256 sums are compared).
func (h *handler) authorized(r *http.Request) bool {
	if h.o.Token == "" {
		return false
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

// invalidationsRequest is the body of POST /v1/invalidations.
type invalidationsRequest struct {
	URLs   []string `json:"urls"`
	Source string   `json:"source"`
}

func (h *handler) invalidations(w http.ResponseWriter, r *http.Request, e *entry) {
	var req invalidationsRequest
	if bad := h.decode(r, &req); bad != nil {
		h.fail(w, e, bad.status, bad.body)
		return
	}
	e.urls = len(req.URLs)
	if bad := checkText("source", req.Source); bad != nil {
		h.fail(w, e, bad.status, bad.body)
		return
	}
	if len(req.URLs) == 0 {
		h.fail(w, e, http.StatusBadRequest, Error{Code: "no_urls",
			Message: `"urls" is missing or empty: send {"urls": ["https://img.example.com/a.jpg", ...]}`})
		return
	}
	if len(req.URLs) > h.o.MaxURLs {
		h.fail(w, e, http.StatusRequestEntityTooLarge, Error{Code: "too_many_urls", Setting: "INTAKE_MAX_URLS", Limit: int64(h.o.MaxURLs),
			Message: fmt.Sprintf("%d URLs in one request, more than INTAKE_MAX_URLS=%d: split them into requests of at most %d URLs",
				len(req.URLs), h.o.MaxURLs, h.o.MaxURLs)})
		return
	}
	// The client leaving does not cancel the write: a request that reached Redis is finished.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.o.Timeout)
	defer cancel()
	rep, err := h.o.Producer.EnqueueURLsFrom(ctx, req.Source, req.URLs...)
	if err != nil {
		e.err = err
		h.unavailable(w, e, "the queue (Redis) cannot be written: no URL of this request is reported enqueued. "+
			"Send the same request again later; URLs that did reach the queue will then report \"already pending\"")
		return
	}
	e.report = rep
	status := http.StatusAccepted
	if rep.Enqueued+rep.AlreadyPending == 0 {
		status = http.StatusUnprocessableEntity // every URL was rejected: nothing will be invalidated
	}
	writeJSON(w, status, rep)
}

// flushRequest is the body of POST /v1/invalidations/all.
type flushRequest struct {
	Confirm string `json:"confirm"`
	Reason  string `json:"reason"`
}

func (h *handler) flushAll(w http.ResponseWriter, r *http.Request, e *entry) {
	var req flushRequest
	if bad := h.decode(r, &req); bad != nil {
		h.fail(w, e, bad.status, bad.body)
		return
	}
	if bad := checkText("reason", req.Reason); bad != nil {
		h.fail(w, e, bad.status, bad.body)
		return
	}
	confirmSum := sha256.Sum256([]byte(req.Confirm))
	switch {
	case h.o.FlushToken == "":
		h.fail(w, e, http.StatusForbidden, Error{Code: "flush_all_unavailable",
			Message: "flush-all refused: CLOUDIMAGE_TOKEN is not set on the worker, so there is nothing to confirm against. Nothing was requested."})
		return
	case req.Confirm == "":
		h.fail(w, e, http.StatusForbidden, Error{Code: "confirmation_required",
			Message: "flush-all refused: " + tasks.FlushAllCost + `. Nothing was requested. If you really mean it, send {"confirm": "<your CLOUDIMAGE_TOKEN value>", "reason": "why"}`})
		return
	case subtle.ConstantTimeCompare(confirmSum[:], h.flushSum[:]) != 1:
		h.fail(w, e, http.StatusForbidden, Error{Code: "confirmation_mismatch",
			Message: `flush-all refused: "confirm" does not match the worker's CLOUDIMAGE_TOKEN. Nothing was requested. ` + tasks.FlushAllCost})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.o.Timeout)
	defer cancel()
	err := h.o.Producer.RequestFlushAll(ctx, h.o.FlushToken, req.Confirm, h.o.AllCooldown, "intake "+clientIP(r), req.Reason)
	var refused *tasks.FlushRefusedError
	switch {
	case errors.As(err, &refused):
		h.fail(w, e, http.StatusConflict, Error{Code: "flush_all_refused", Message: refused.Error() + ". Nothing was requested."})
	case err != nil:
		e.err = err
		h.unavailable(w, e, "the queue (Redis) cannot be written: the flush-all was not requested. Send the same request again later")
	default:
		writeJSON(w, http.StatusAccepted, FlushAccepted{Status: "accepted", TaskID: tasks.TaskIDAll, Queue: tasks.QueueAll,
			Message: "flush-all requested: a worker will send it once. Every pending URL request made before it is covered by it."})
	}
}

// checkText refuses a free-text field longer than MaxTextBytes.
func checkText(field, v string) *badRequest {
	if len(v) <= MaxTextBytes {
		return nil
	}
	return &badRequest{http.StatusBadRequest, Error{Code: "text_too_long", Limit: MaxTextBytes,
		Message: fmt.Sprintf("%q is %d bytes long, over the %d-byte limit: shorten it (it is a label, such as \"cms: image 42 replaced\")", field, len(v), MaxTextBytes)}}
}

// unavailable answers 503 with Retry-After.
func (h *handler) unavailable(w http.ResponseWriter, e *entry, msg string) {
	secs := int64((h.o.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	h.fail(w, e, http.StatusServiceUnavailable, Error{Code: "unavailable", Message: fmt.Sprintf("%s (retry after %d s)", msg, secs)})
}

func (h *handler) fail(w http.ResponseWriter, e *entry, status int, body Error) {
	e.code = body.Code
	writeJSON(w, status, body)
}

func (h *handler) logRequest(r *http.Request, status int, e *entry, took time.Duration) {
	fields := []zap.Field{
		zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status),
		zap.String("client", r.RemoteAddr), zap.Duration("took", took),
	}
	if e.code != "" {
		fields = append(fields, zap.String("error_code", e.code))
	}
	if e.urls > 0 {
		fields = append(fields, zap.Int("urls", e.urls))
	}
	if rep := e.report; rep != nil {
		fields = append(fields, zap.Int("enqueued", rep.Enqueued), zap.Int("already_pending", rep.AlreadyPending),
			zap.Int("duplicates", rep.Duplicates), zap.Int("rejected", rep.Rejected))
	}
	if e.err != nil {
		fields = append(fields, zap.Error(e.err))
	}
	h.o.Log.Info("intake request", fields...)
}

// clientIP is the peer's address without the port (X-Forwarded-For is not trusted).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<your CLOUDIMAGE_TOKEN value>" stays readable
	_ = enc.Encode(v)
}

// statusWriter remembers the status written, for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
