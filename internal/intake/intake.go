// Package intake is the worker's HTTP API for producers not written in Go.
//
// It serves POST /v1/invalidations and POST /v1/invalidations/all.
// It normalises, dedupes and queues like the Client of package cipurge.
// It is off unless INTAKE_TOKEN or INTAKE_FLUSH_TOKEN is set.
//
// # Authorization
//
// Every request needs "Authorization: Bearer <INTAKE_TOKEN>".
// Without it the answer is 401 with no detail, whatever the path.
// POST /v1/invalidations/all is the one exception, since it flushes every cached image.
// It needs its own secret, "Authorization: Bearer <INTAKE_FLUSH_TOKEN>".
// So a producer's token cannot flush everything.
// A worker without INTAKE_FLUSH_TOKEN answers that path with 404.
// That 404 goes to a caller with INTAKE_TOKEN and says how to turn the path on.
//
// A scoped token of the accounts file (Options.Accounts) is taken on every path.
// It reaches some accounts, and may do some things, only: 403 otherwise, and nothing is queued.
// See scope.go and docs/accounts.md.
//
// # Errors
//
// After authorization the checks run in a fixed order.
// An unknown path is 404.
// A method other than POST is 405, with Allow.
// A Content-Type other than application/json is 415.
// A body larger than INTAKE_MAX_BYTES is 413.
// JSON that does not parse is 400, with the line and column of the error.
// Unknown fields and trailing data count as JSON that does not parse.
// More than INTAKE_MAX_URLS URLs is 413.
// Redis not answering is 503, with Retry-After.
// Every error body is a JSON object, an [Error].
// See docs/intake.md for the full table.
//
// # Answers
//
// POST /v1/invalidations answers 202 when a URL was enqueued or was already pending.
// The body is a cipurge.Report with the request ID and one result per input URL, in order.
// A Location header names the request.
// The answer is 422, with the same report, when every URL was rejected.
// An Idempotency-Key header makes a retry answer the first call's request.
// That retry queues nothing again.
//
// POST /v1/invalidations/all answers 202 when a flush-all was enqueued.
// It answers 403 when the confirmation is missing or wrong.
// The intake token was right then, but the request is refused.
// It answers 409 when another flush-all is pending or the cooldown has not passed.
package intake

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/httpapi"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Paths the intake API serves (under the worker's HTTP_ADDR).
const (
	PathInvalidations = "/v1/invalidations"
	PathFlushAll      = "/v1/invalidations/all"
	PathRequests      = "/v1/requests/" // GET PathRequests + request ID: the request's progress
	PathHistory       = "/v1/history"   // GET PathHistory?url=U: what is known of URL U (a cipurge.History)
)

// HeaderIdempotencyKey makes a retried POST /v1/invalidations safe: a key an earlier call used
// answers that call's request and queues nothing.
const HeaderIdempotencyKey = "Idempotency-Key"

// Defaults for the Options fields left zero.
const (
	DefaultMaxBytes   int64 = defaults.IntakeMaxBytes   // INTAKE_MAX_BYTES
	DefaultMaxURLs          = defaults.IntakeMaxURLs    // INTAKE_MAX_URLS
	DefaultRetryAfter       = httpapi.DefaultRetryAfter // Retry-After when Redis cannot be written
	DefaultTimeout          = httpapi.DefaultTimeout    // bound on one request's Redis work

	// MaxTextBytes bounds "source" and "reason" (httpapi.MaxTextBytes).
	MaxTextBytes = httpapi.MaxTextBytes
)

// Options configure the intake API.
type Options struct {
	Client      *cipurge.Client    // required: where requests go; flush-all needs its WithFlushAll
	Token       string             // INTAKE_TOKEN: every request needs "Authorization: Bearer <Token>"; empty refuses every request
	MaxBytes    int64              // INTAKE_MAX_BYTES; zero means DefaultMaxBytes
	MaxURLs     int                // INTAKE_MAX_URLS; zero means DefaultMaxURLs
	FlushBearer string             // INTAKE_FLUSH_TOKEN: the bearer token of POST /v1/invalidations/all; empty turns that path off (404)
	Log         *zap.Logger        // one info line per request; nil means no logging
	RetryAfter  time.Duration      // Retry-After sent with a 503; zero means DefaultRetryAfter
	Timeout     time.Duration      // bound on the Redis work of one request; zero means DefaultTimeout
	Inflight    *httpapi.Gate      // INTAKE_MAX_INFLIGHT, shared with the event receivers; nil caps nothing
	Inspector   *cipurge.Inspector // reads requests for GET /v1/requests/{id}; nil answers that path 404
	// NoCallback, when set, refuses a request's callback with this reason and a 400.
	// The worker sets it when it has no webhook secret, so no event would ever be sent.
	NoCallback string
	// Accounts are the deployment's accounts: they route the URLs of a request made with a
	// scoped token, and hold those tokens (Set.Tokens). nil: no scoped token.
	Accounts *accounts.Set
	// Clients are the Clients of the accounts, by name. An account without one uses Client.
	Clients map[string]*cipurge.Client
}

// Error is the body of every error answer (the worker's JSON endpoints share it).
type Error = httpapi.Error

// FlushAccepted is the answer to a flush-all request that was enqueued.
type FlushAccepted struct {
	Status  string `json:"status"` // "accepted"
	TaskID  string `json:"task_id"`
	Queue   string `json:"queue"`
	Message string `json:"message"`
}

// New returns the intake handler, to be mounted at /v1/. It panics when o.Client is nil (a
// programming error, found at start).
func New(o Options) http.Handler {
	if o.Client == nil {
		panic("intake: Options.Client is nil")
	}
	if o.MaxURLs <= 0 {
		o.MaxURLs = DefaultMaxURLs
	}
	h := &handler{o: o, token: httpapi.NewSecret(o.Token), bearer: httpapi.NewSecret(o.FlushBearer), scopedToks: scopedTokens(o.Accounts),
		Endpoint: httpapi.Endpoint{RetryAfter: o.RetryAfter, Timeout: o.Timeout, Log: o.Log,
			Limit: httpapi.Limit{Max: o.MaxBytes, Setting: "INTAKE_MAX_BYTES", Fix: "send fewer URLs per request"},
		}.WithDefaults(DefaultMaxBytes)}
	h.routes = httpapi.NewRoutes(map[string]route{
		"POST " + PathInvalidations: {serve: h.invalidations},
		PathInvalidations:           {}, // any other method: 405
		"POST " + PathFlushAll:      {serve: h.flushAll, flush: true},
		PathFlushAll:                {flush: true},
	})
	if o.Token == "" && len(h.scopedToks) == 0 {
		h.Log.Warn("intake: INTAKE_TOKEN is empty, every request to " + PathInvalidations + " is refused with 401")
	}
	return h
}

type handler struct {
	o Options // RetryAfter, Timeout, MaxBytes and Log as given: use the Endpoint's
	httpapi.Endpoint
	token  httpapi.Secret // INTAKE_TOKEN
	bearer httpapi.Secret // INTAKE_FLUSH_TOKEN, the bearer token of flush-all
	// scopedToks are the accounts file's tokens, each limited to some accounts
	scopedToks []scopedToken
	routes     httpapi.Routes[route]
}

// route is where a pattern of the intake leads.
type route struct {
	serve func(http.ResponseWriter, *http.Request, *entry) // nil: the method is not allowed
	flush bool                                             // the flush-all path
}

// entry collects what the request's log line says.
type entry struct {
	token  *accounts.Token // the scoped token of the request; nil for an unscoped one
	code   string
	urls   int
	report *cipurge.Report
	err    error
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var e entry
	w, end := h.Begin(w, r, time.Now(), func(status int, took time.Duration) { h.logRequest(r, status, &e, took) })
	defer end()

	rt, known := h.routes.Find(r)
	var ok bool
	e.token, ok = h.authorized(r, rt.flush && h.o.FlushBearer != "")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cipurge"`)
		h.fail(w, &e, http.StatusUnauthorized, Error{Code: "unauthorized", Message: "unauthorized"})
		return
	}
	if rt.flush && h.o.FlushBearer == "" && e.token == nil {
		h.fail(w, &e, http.StatusNotFound, Error{Code: "flush_all_off", Setting: "INTAKE_FLUSH_TOKEN",
			Message: "flush-all over HTTP is off: it needs its own secret, separate from INTAKE_TOKEN. To turn it on, set INTAKE_FLUSH_TOKEN " +
				"on the worker and send it as \"Authorization: Bearer <INTAKE_FLUSH_TOKEN>\" to POST " + PathFlushAll + " (or use enqueue --all)"})
		return
	}
	if strings.HasPrefix(r.URL.Path, PathRequests) {
		h.request(w, r, &e) // a read: it takes no slot of INTAKE_MAX_INFLIGHT, whose writes it would hold up
		return
	}
	if r.URL.Path == PathHistory {
		h.history(w, r, &e) // a read, as above
		return
	}
	if !known {
		h.fail(w, &e, http.StatusNotFound, Error{Code: "not_found",
			Message: fmt.Sprintf("no such endpoint %q: use POST %s or POST %s", r.URL.Path, PathInvalidations, PathFlushAll)})
		return
	}
	leave, ok := h.o.Inflight.Enter(w, h.RetryAfter)
	if !ok {
		e.code = "busy"
		return
	}
	defer leave()
	if rt.serve == nil {
		h.Limit.Drain(r)
		h.refused(w, &e, httpapi.MethodNotAllowed(w, r, http.MethodPost))
		return
	}
	rt.serve(w, r, &e)
}

// authorized compares the bearer token with INTAKE_TOKEN (INTAKE_FLUSH_TOKEN for flush-all) and
// with the scoped tokens, in constant time, also constant in the tokens' lengths.
// It returns the scoped token that matched, or nil for an unscoped one, and whether one matched.
func (h *handler) authorized(r *http.Request, flush bool) (*accounts.Token, bool) {
	tok, ok := httpapi.Bearer(r)
	if !ok {
		return nil, false
	}
	if scoped := h.scoped(tok); scoped != nil {
		return scoped, true
	}
	if flush {
		return nil, h.bearer.Matches(tok)
	}
	return nil, h.token.Matches(tok)
}

// invalidationsRequest is the body of POST /v1/invalidations.
type invalidationsRequest struct {
	URLs     []string `json:"urls"`
	Prefixes []string `json:"prefixes"` // folders, each a prefix: every image under it
	Source   string   `json:"source"`
	Callback string   `json:"callback"` // the request's webhook URL; "" for the worker's default
	Account  string   `json:"account"`  // the account of every URL, over what their form says; "" for their form
}

func (h *handler) invalidations(w http.ResponseWriter, r *http.Request, e *entry) {
	if h.refused(w, e, may(e.token, accounts.MayEnqueue, "enqueue")) {
		h.Limit.Drain(r)
		return
	}
	var req invalidationsRequest
	if h.refused(w, e, h.decode(r, &req)) {
		return
	}
	n := len(req.URLs) + len(req.Prefixes)
	e.urls = n
	if h.refused(w, e, checkText("source", req.Source)) {
		return
	}
	if n == 0 {
		h.fail(w, e, http.StatusBadRequest, Error{Code: "no_urls",
			Message: `"urls" and "prefixes" are missing or empty: send {"urls": ["https://img.example.com/a.jpg", ...]} or {"prefixes": ["https://img.example.com/avatars/"]}`})
		return
	}
	if n > h.o.MaxURLs {
		h.fail(w, e, http.StatusRequestEntityTooLarge, Error{Code: "too_many_urls", Setting: "INTAKE_MAX_URLS", Limit: int64(h.o.MaxURLs),
			Message: fmt.Sprintf("%d URLs and prefixes in one request, more than INTAKE_MAX_URLS=%d: split them into requests of at most %d",
				n, h.o.MaxURLs, h.o.MaxURLs)})
		return
	}
	if req.Callback != "" && h.o.NoCallback != "" {
		h.fail(w, e, http.StatusBadRequest, Error{Code: "bad_option", Message: `"callback": ` + h.o.NoCallback + ": nothing was enqueued"})
		return
	}
	client := h.o.Client
	if e.token != nil {
		account, bad := h.requestAccount(e.token, &req)
		if h.refused(w, e, bad) {
			return
		}
		client, req.Account = h.clientFor(account), account
	}
	ctx, cancel := httpapi.Durable(r, h.Timeout)
	defer cancel()
	rep, err := client.Enqueue(ctx, req.URLs, cipurge.WithSource(req.Source), cipurge.WithCallback(req.Callback), cipurge.WithPrefixes(req.Prefixes...),
		cipurge.WithIdempotencyKey(r.Header.Get(HeaderIdempotencyKey)), cipurge.WithAccount(req.Account))
	var bad *cipurge.OptionError
	if errors.As(err, &bad) {
		e.err = err
		h.fail(w, e, http.StatusBadRequest, Error{Code: "bad_option", Message: bad.Reason + ": nothing was enqueued"})
		return
	}
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
	w.Header().Set("Location", PathRequests+rep.RequestID)
	httpapi.WriteJSON(w, status, rep)
}

// MaxWait bounds the wait of GET /v1/requests/{id}?wait=D.
const MaxWait = time.Minute

// request answers GET /v1/requests/{id}: the request's progress (a cipurge.RequestStatus), 404
// for an unknown or expired ID. With ?wait=D (a Go duration, at most MaxWait) it answers once the
// request is done or D has passed, whichever is first.
func (h *handler) request(w http.ResponseWriter, r *http.Request, e *entry) {
	if !h.readable(w, r, e, "look requests up") {
		return
	}
	id := strings.TrimPrefix(r.URL.Path, PathRequests)
	if h.o.Inspector == nil {
		h.fail(w, e, http.StatusNotFound, Error{Code: "not_found", Message: "this worker does not serve requests"})
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxWait {
			h.fail(w, e, http.StatusBadRequest, Error{Code: "bad_wait",
				Message: fmt.Sprintf("wait=%q: give a duration from 0s to %s, such as wait=30s", v, MaxWait)})
			return
		}
		wait = d
	}
	st, err := h.o.Inspector.Request(r.Context(), id)
	if err == nil && h.refused(w, e, h.reachRequest(e.token, st)) {
		return
	}
	if err == nil && !st.Done && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		if got, _ := h.o.Inspector.WaitRequest(ctx, id, 0, nil); got != nil {
			st = got
		}
	}
	switch {
	case errors.Is(err, cipurge.ErrNoRequest):
		h.fail(w, e, http.StatusNotFound, Error{Code: "no_request", Message: err.Error()})
		return
	case st == nil && err != nil:
		e.err = err
		h.unavailable(w, e, "the queue (Redis) cannot be read: ask again later")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
}

// flushRequest is the body of POST /v1/invalidations/all.
type flushRequest struct {
	Confirm string `json:"confirm"`
	Reason  string `json:"reason"`
	Prefix  string `json:"prefix"`  // a root prefix (a whole host, alias or token) to send in place of scope all
	Account string `json:"account"` // the account to flush; "" for a scoped token's only account, or the deployment's
}

func (h *handler) flushAll(w http.ResponseWriter, r *http.Request, e *entry) {
	if h.refused(w, e, may(e.token, accounts.MayFlush, "request a flush-all")) {
		h.Limit.Drain(r)
		return
	}
	var req flushRequest
	if h.refused(w, e, h.decode(r, &req)) || h.refused(w, e, checkText("reason", req.Reason)) {
		return
	}
	client, account, refusal := h.flushClient(e.token, req.Account)
	if h.refused(w, e, refusal) {
		return
	}
	queue := tasks.QueueAll
	if len(client.Accounts()) > 1 {
		queue = tasks.QueuesOf(h.o.Accounts.KeyName(account)).All
	} else {
		account = "" // the client's one account
	}
	ctx, cancel := httpapi.Durable(r, h.Timeout)
	defer cancel()
	// The Client checks the confirmation before it touches Redis, and the rest of the rule.
	// The intake words each refusal for an HTTP client.
	by := "intake " + httpapi.ClientIP(r)
	if e.token != nil {
		by += " token " + e.token.Name // its name, for whoever reads the queue: never its value
	}
	err := client.RequestFlushAll(ctx, cipurge.FlushAllRequest{Confirm: req.Confirm, RequestedBy: by,
		Reason: req.Reason, Prefix: req.Prefix, Account: account})
	var (
		refused *cipurge.FlushRefusedError
		bad     *cipurge.InvalidURLError
		opt     *cipurge.OptionError
	)
	switch {
	case errors.As(err, &opt):
		h.fail(w, e, http.StatusBadRequest, Error{Code: "no_account",
			Message: `this worker sends for several accounts: name the one to flush in the field "account" (` + opt.Reason + "). Nothing was requested"})
	case err == nil && req.Prefix != "":
		httpapi.WriteJSON(w, http.StatusAccepted, FlushAccepted{Status: "accepted", TaskID: tasks.TaskIDAll, Queue: queue,
			Message: "root prefix requested as a flush-all is: a worker will send it once. Every image under it is fetched again from the origin."})
	case errors.As(err, &bad):
		h.fail(w, e, http.StatusBadRequest, Error{Code: "bad_prefix", Message: `"prefix": ` + bad.Error() + ". Nothing was requested."})
	case err == nil:
		httpapi.WriteJSON(w, http.StatusAccepted, FlushAccepted{Status: "accepted", TaskID: tasks.TaskIDAll, Queue: queue,
			Message: "flush-all requested: a worker will send it once. Every pending URL request made before it is covered by it."})
	case !errors.As(err, &refused):
		e.err = err
		h.unavailable(w, e, "the queue (Redis) cannot be written: the flush-all was not requested. Send the same request again later")
	case refused.Cause == cipurge.ErrFlushAllNoToken:
		h.fail(w, e, http.StatusForbidden, Error{Code: "flush_all_unavailable",
			Message: "flush-all refused: CLOUDIMAGE_TOKEN is not set on the worker, so there is nothing to confirm against. Nothing was requested."})
	case refused.Cause == cipurge.ErrFlushAllNotConfirmed:
		h.fail(w, e, http.StatusForbidden, Error{Code: "confirmation_required",
			Message: "flush-all refused: " + cipurge.FlushAllCost + `. Nothing was requested. If you really mean it, send {"confirm": "<your CLOUDIMAGE_TOKEN value>", "reason": "why"}`})
	case refused.Cause == cipurge.ErrFlushAllMismatch:
		h.fail(w, e, http.StatusForbidden, Error{Code: "confirmation_mismatch",
			Message: `flush-all refused: "confirm" does not match the worker's CLOUDIMAGE_TOKEN. Nothing was requested. ` + cipurge.FlushAllCost})
	case refused.Cause == cipurge.ErrFlushAllPending:
		h.fail(w, e, http.StatusConflict, Error{Code: "flush_all_refused",
			Message: refused.Error() + ". Nothing was requested: a flush-all is sent at most once per confirmed request, and one is waiting. " +
				"Wait until the worker has sent it, or ask the operator to remove it first"})
	default:
		h.fail(w, e, http.StatusConflict, Error{Code: "flush_all_refused", Message: config.Explain(refused).Error() + ". Nothing was requested."})
	}
}

// checkText refuses a free-text field longer than MaxTextBytes.
func checkText(field, v string) *httpapi.Problem {
	if len(v) <= MaxTextBytes {
		return nil
	}
	return &httpapi.Problem{Status: http.StatusBadRequest, Body: Error{Code: "text_too_long", Limit: MaxTextBytes,
		Message: fmt.Sprintf("%q is %d bytes long, over the %d-byte limit: shorten it (it is a label, such as \"cms: image 42 replaced\")", field, len(v), MaxTextBytes)}}
}

// unavailable answers 503 with Retry-After (httpapi.Unavailable names a Redis that may evict).
func (h *handler) unavailable(w http.ResponseWriter, e *entry, msg string) {
	e.code = httpapi.Unavailable(w, h.RetryAfter, e.err, msg).Code
}

// refused answers bad, when there is one, and reports whether there was.
func (h *handler) refused(w http.ResponseWriter, e *entry, bad *httpapi.Problem) bool {
	if bad == nil {
		return false
	}
	h.fail(w, e, bad.Status, bad.Body)
	return true
}

func (h *handler) fail(w http.ResponseWriter, e *entry, status int, body Error) {
	e.code = body.Code
	httpapi.WriteJSON(w, status, body)
}

func (h *handler) logRequest(r *http.Request, status int, e *entry, took time.Duration) {
	fields := httpapi.RequestFields(r, status, took)
	if e.code != "" {
		fields = append(fields, zap.String("error_code", e.code))
	}
	if e.token != nil {
		fields = append(fields, zap.String("token", e.token.Name)) // its name: the value is a secret
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
	h.Log.Info("intake request", fields...)
}

// Routes names the paths the intake serves (httpserver.Router).
func (h *handler) Routes() []string {
	return []string{http.MethodPost + " " + PathInvalidations, http.MethodPost + " " + PathFlushAll, http.MethodGet + " " + PathHistory}
}
