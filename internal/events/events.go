package events

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/httpapi"
	"github.com/cipurge/cipurge/internal/outbound"
)

// Paths the receivers serve (under the worker's HTTP_ADDR).
const (
	PathPrefix      = "/v1/events/"            // everything below it belongs to this package
	PathS3          = "/v1/events/s3"          // S3 event messages: MinIO, Ceph RGW, AWS through SNS
	PathCloudEvents = "/v1/events/cloudevents" // CloudEvents 1.0: Azure Event Grid, GCS through Eventarc
)

// Defaults for the Options fields left zero.
const (
	DefaultMaxBytes   int64 = defaults.EventsMaxBytes // EVENTS_MAX_BYTES: SNS messages are at most 256 KiB, Event Grid batches 1 MiB
	DefaultRetryAfter       = httpapi.DefaultRetryAfter
	DefaultTimeout          = httpapi.DefaultTimeout // bound on one request's Redis work
	DefaultSNSMaxAge        = 65 * time.Minute       // SNS retries an HTTPS delivery for at most an hour
	warnEvery               = time.Minute            // an unmapped bucket is logged at most this often
)

// Enqueuer is what the receivers need from the producer: the enqueue path the HTTP intake uses
// (normalisation, dedupe against what is pending, the coalescing window, the source text).
// *cipurge.Client implements it.
type Enqueuer interface {
	Enqueue(ctx context.Context, urls []string, opts ...cipurge.EnqueueOption) (*cipurge.Report, error)
}

// Options configure the receivers.
type Options struct {
	Producer Enqueuer // required: where object URLs go
	Token    string   // EVENTS_TOKEN; required (New panics without it: use Disabled)
	Buckets  Buckets  // EVENTS_BUCKETS
	// Account names the account of an object's URL from its bucket and key (the accounts'
	// bucket mapping); "" or a nil Account lets the URL's form decide.
	Account func(bucket, key string) string
	// Scoped are the tokens limited to some accounts (the accounts file's tokens that may post
	// events). A delivery with one is refused (403) when an object is of another account.
	Scoped []Scope
	// Route names the account of a URL by its form, for the scoped tokens; an error when it names
	// none or two. nil: the bucket mapping, else the scope's only account, decides.
	Route      func(url string) (string, error)
	MaxBytes   int64         // EVENTS_MAX_BYTES; zero means DefaultMaxBytes
	Log        *zap.Logger   // one info line per request, warnings for unmapped buckets; nil logs nothing
	Metrics    *Metrics      // nil counts nothing
	RetryAfter time.Duration // Retry-After sent with a 503; zero means DefaultRetryAfter
	Timeout    time.Duration // bound on the Redis work of one request; zero means DefaultTimeout

	// SNSFetch configures the outbound client that fetches SNS signing certificates, their
	// issuers, and SubscribeURLs. The zero value is production's: public addresses only, the
	// system's roots for TLS. Only https URLs on SNS's own host names are fetched for SNS, and
	// plain http only from Amazon Trust Services' certificate host (PlainHTTP is set here).
	// Tests set RootCAs, AllowLoopback and DialAddr to answer SNS's names from loopback.
	SNSFetch outbound.Options
	// SNSRoots verifies SNS signing certificates; nil means the system's roots. Tests install
	// their own CA here.
	SNSRoots *x509.CertPool
	// SNSTopics are the topic ARNs whose messages are accepted (EVENTS_SNS_TOPICS); empty
	// means every topic, which New logs.
	SNSTopics []string
	// Inflight caps the bodies read at once (INTAKE_MAX_INFLIGHT, shared with the intake); nil
	// caps nothing.
	Inflight *httpapi.Gate
	// SNSMaxAge refuses SNS messages whose Timestamp is older (replays); zero means
	// DefaultSNSMaxAge.
	SNSMaxAge time.Duration
	// Now is the clock (SNS timestamps and certificate validity, the warning limiter); nil
	// means time.Now.
	Now func() time.Time
}

// New returns the receivers' handler, to be mounted at PathPrefix. It panics when o.Producer is
// nil or o.Token is empty (programming errors, found at start).
func New(o Options) http.Handler {
	if o.Producer == nil {
		panic("events: Options.Producer is nil")
	}
	if o.Token == "" && len(o.Scoped) == 0 {
		panic("events: Options.Token is empty: mount Disabled() instead")
	}
	if o.SNSMaxAge <= 0 {
		o.SNSMaxAge = DefaultSNSMaxAge
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.SNSTopics) == 0 && o.Log != nil {
		o.Log.Warn("EVENTS_SNS_TOPICS is unset: SNS messages of every topic are accepted (each must still be signed by SNS); " +
			"set it to the topic ARNs this worker subscribes to")
	}
	h := &handler{
		o: o,
		Endpoint: httpapi.Endpoint{RetryAfter: o.RetryAfter, Timeout: o.Timeout, Log: o.Log,
			Limit: httpapi.Limit{Max: o.MaxBytes, Setting: "EVENTS_MAX_BYTES",
				Fix: "raise EVENTS_MAX_BYTES, or have the sender deliver fewer events per request (Event Grid: max events per batch)"},
		}.WithDefaults(DefaultMaxBytes),
		token:  httpapi.NewSecret(o.Token),
		scoped: scopeSecrets(o.Scoped),
		sns:    newSNSVerifier(&o),
		warn:   &limiter{every: warnEvery, now: o.Now, last: map[string]time.Time{}},
	}
	h.routes = httpapi.NewRoutes(map[string]route{
		"POST " + PathS3:             {serve: h.serveS3},
		PathS3:                       {serve: h.notAllowed("POST")},
		"POST " + PathCloudEvents:    {serve: h.serveCloudEvents},
		"OPTIONS " + PathCloudEvents: {serve: h.serveCloudEvents, handshake: true},
		PathCloudEvents:              {serve: h.notAllowed("POST, OPTIONS")},
	})
	return h
}

// route is where a pattern of the receivers leads.
type route struct {
	serve     func(http.ResponseWriter, *http.Request, *entry)
	handshake bool // the CloudEvents abuse-protection handshake
}

// notAllowed answers a method a path does not take: 405 with Allow.
func (h *handler) notAllowed(allow string) func(http.ResponseWriter, *http.Request, *entry) {
	return func(w http.ResponseWriter, r *http.Request, e *entry) {
		h.Limit.Drain(r)
		h.refuse(w, r, e, httpapi.MethodNotAllowed(w, r, allow))
	}
}

// Disabled is the handler mounted while EVENTS_TOKEN is empty: every path answers 404 with the
// setting that turns the receivers on.
func Disabled() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		httpapi.WriteJSON(w, http.StatusNotFound, httpapi.Error{Code: "events_off",
			Message: "the storage event receivers are off: set EVENTS_TOKEN (and EVENTS_BUCKETS) on the worker to turn them on; see docs/events.md"})
	})
}

type handler struct {
	o Options // RetryAfter, Timeout, MaxBytes and Log as given: use the Endpoint's
	httpapi.Endpoint
	token  httpapi.Secret
	scoped []scopeSecret // Options.Scoped, ready to compare
	sns    *snsVerifier
	warn   *limiter
	routes httpapi.Routes[route]
}

// event is one object event, whatever its sender.
type event struct {
	source string // the sender: s3, minio, ceph, sns, azure, gcs
	typ    string // the sender's event type, e.g. ObjectCreated:Put, Microsoft.Storage.BlobDeleted
	bucket string // bucket or container
	key    string // the object key as stored (decoded)
	badKey string // why the sender's key could not be decoded (key is then the raw key)
	change bool   // created (any method) or removed: its CDN copy is stale
}

// Outcome of one event (the "outcome" label of cipurge_events_received_total).
const (
	OutcomeEnqueued       = "enqueued"        // its URL was queued
	OutcomeAlreadyPending = "already_pending" // its URL was already waiting (a burst coalesces)
	OutcomeIgnored        = "ignored"         // not a change of the object's content (access, tagging, ACL, restore, transition, a folder)
	OutcomeFiltered       = "filtered"        // its bucket is mapped, its key is outside every prefix configured for it
	OutcomeUnmapped       = "unmapped"        // its bucket is not in EVENTS_BUCKETS
	OutcomeRejected       = "rejected"        // its object key does not decode, or its URL does not normalise (the reason is logged)
	OutcomeUnavailable    = "unavailable"     // Redis could not be written: the sender will retry
)

// Summary is the answer to a delivery that was acknowledged: what became of its events.
type Summary struct {
	// RequestIDs name the requests of the events whose URL was enqueued or already pending, one
	// per event, in order: Inspector.Request and GET /v1/requests/{id} follow each.
	RequestIDs     []string `json:"request_ids,omitempty"`
	Events         int      `json:"events"`
	Enqueued       int      `json:"enqueued"`
	AlreadyPending int      `json:"already_pending"`
	Ignored        int      `json:"ignored"`
	Filtered       int      `json:"filtered"`
	Unmapped       int      `json:"unmapped"`
	Rejected       int      `json:"rejected"`
}

// entry collects what the request's log line says.
type entry struct {
	scope   *Scope // the scoped token of the request; nil for EVENTS_TOKEN
	code    string
	source  string
	summary *Summary
	detail  string // a refusal's reason, for the log (never a secret)
	err     error
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var e entry
	w, end := h.Begin(w, r, h.o.Now(), func(status int, took time.Duration) { h.logRequest(r, status, &e, took) })
	defer end()

	rt, known := h.routes.Find(r)
	ok, presented, scope := h.authorized(r)
	e.scope = scope
	// The CloudEvents abuse-protection handshake consents to deliveries and changes nothing; Event
	// Grid may send it without the headers it adds to deliveries. Credentials it does carry must
	// be right, so that a wrong token shows when the subscription is created.
	if !ok && !(rt.handshake && !presented) {
		w.Header().Add("WWW-Authenticate", `Bearer realm="cipurge"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="cipurge", charset="UTF-8"`)
		h.refuse(w, r, &e, &httpapi.Problem{Status: http.StatusUnauthorized, Body: httpapi.Error{Code: "unauthorized", Message: "unauthorized"}})
		return
	}
	if !known {
		h.refuse(w, r, &e, &httpapi.Problem{Status: http.StatusNotFound, Body: httpapi.Error{Code: "not_found",
			Message: fmt.Sprintf("no such endpoint %q: use POST %s (S3, MinIO, Ceph, SNS) or POST %s (CloudEvents: Azure Event Grid, GCS/Eventarc)", r.URL.Path, PathS3, PathCloudEvents)}})
		return
	}
	leave, ok := h.o.Inflight.Enter(w, h.RetryAfter)
	if !ok {
		e.code = "busy"
		h.o.Metrics.refused(r.URL.Path, "busy")
		return
	}
	defer leave()
	rt.serve(w, r, &e)
}

// authorized reports whether the request carries EVENTS_TOKEN.
// It also reports whether the request carries any credential at all.
// The token may come in three places:
//   - "Authorization: Bearer <token>", as MinIO's auth_token and Event Grid's delivery headers send it;
//   - the password of HTTP basic auth, as in an SNS subscription URL https://user:<token>@host/...;
//     the user name is not checked;
//   - the query parameter "token", for Ceph RGW push endpoints, Eventarc and senders that cannot
//     set headers.
//
// Each is compared in constant time. One right credential is enough.
// Eventarc may put its own OIDC token in Authorization.
func (h *handler) authorized(r *http.Request) (ok, presented bool, scope *Scope) {
	check := func(tok string) {
		presented = true
		ok = h.token.Matches(tok) || ok
		if s := h.scopeOf(tok); s != nil && scope == nil {
			scope = s
		}
	}
	if tok, has := httpapi.Bearer(r); has {
		check(tok)
	}
	if _, pass, has := r.BasicAuth(); has {
		check(pass)
	}
	if q := r.URL.Query(); q.Has("token") {
		check(q.Get("token"))
	}
	if ok {
		scope = nil // the unscoped token reaches every account, whatever else came with it
	}
	return ok || scope != nil, presented, scope
}

// post checks the method (POST) and reads the bounded body.
func (h *handler) post(w http.ResponseWriter, r *http.Request, e *entry, allow string) ([]byte, bool) {
	if r.Method != http.MethodPost {
		h.Limit.Drain(r)
		h.refuse(w, r, e, httpapi.MethodNotAllowed(w, r, allow))
		return nil, false
	}
	data, bad := h.Limit.Read(r)
	if bad != nil {
		h.refuse(w, r, e, bad)
		return nil, false
	}
	return data, true
}

// refuse answers a request refused before anything was enqueued, and counts it.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, e *entry, p *httpapi.Problem) {
	e.code = p.Body.Code
	if p.Status != http.StatusUnauthorized {
		e.detail = p.Body.Message
	}
	h.o.Metrics.refused(r.URL.Path, p.Body.Code)
	httpapi.WriteJSON(w, p.Status, p.Body)
}

// deliver enqueues the URLs of evs and answers: 200 with a Summary once Redis has every one of
// them, 503 with Retry-After (and nothing acknowledged) when Redis cannot be written. Events
// are enqueued one by one, each with its own source text ("event: s3 media/products/42.jpg"),
// through the intake's path; an event whose URL is already pending coalesces with it.
func (h *handler) deliver(w http.ResponseWriter, r *http.Request, e *entry, evs []event) {
	if p := h.checkScope(e.scope, evs); p != nil {
		h.refuse(w, r, e, p)
		return
	}
	sum := &Summary{Events: len(evs)}
	ctx, cancel := httpapi.Durable(r, h.Timeout)
	defer cancel()
	for i, ev := range evs {
		outcome, id, err := h.one(ctx, e.scope, ev)
		if err != nil {
			for _, rest := range evs[i:] {
				h.o.Metrics.received(rest.source, rest.typ, OutcomeUnavailable)
			}
			e.err = err
			e.code = httpapi.Unavailable(w, h.RetryAfter, err, "the queue (Redis) cannot be written: this delivery is not acknowledged. "+
				"The sender retries it; events that did reach the queue will then coalesce with what is pending").Code
			return
		}
		h.o.Metrics.received(ev.source, ev.typ, outcome)
		if id != "" {
			sum.RequestIDs = append(sum.RequestIDs, id)
		}
		switch outcome {
		case OutcomeEnqueued:
			sum.Enqueued++
		case OutcomeAlreadyPending:
			sum.AlreadyPending++
		case OutcomeIgnored:
			sum.Ignored++
		case OutcomeFiltered:
			sum.Filtered++
		case OutcomeUnmapped:
			sum.Unmapped++
		case OutcomeRejected:
			sum.Rejected++
		}
	}
	e.summary = sum
	httpapi.WriteJSON(w, http.StatusOK, sum)
}

// one maps an event to its URL and enqueues it. id names the request of a URL enqueued or already
// pending. The error is set only when Redis could not be written.
func (h *handler) one(ctx context.Context, scope *Scope, ev event) (outcome, id string, err error) {
	if !ev.change {
		return OutcomeIgnored, "", nil
	}
	if ev.badKey != "" {
		h.warnf("bad_key:"+ev.bucket, "storage event whose object key does not decode: acknowledged and ignored",
			zap.String("source", ev.source), zap.String("bucket", ev.bucket), zap.String("reason", httpapi.Truncate(ev.badKey)),
			zap.String("fix", "the sender must URL-encode object keys as S3 does (a '%' as %25); invalidate this object with enqueue and its URL"))
		return OutcomeRejected, "", nil
	}
	if ev.key == "" || strings.HasSuffix(ev.key, "/") {
		return OutcomeIgnored, "", nil // a "folder" placeholder object, not an image
	}
	u, m := h.o.Buckets.URL(ev.bucket, ev.key)
	switch m {
	case unmapped:
		h.warnf("unmapped:"+ev.bucket, "storage event for a bucket that EVENTS_BUCKETS does not map: acknowledged and ignored",
			zap.String("source", ev.source), zap.String("bucket", ev.bucket),
			zap.String("fix", "add "+ev.bucket+"=https://<the public base URL Cloudimage fetches this bucket from>/ to EVENTS_BUCKETS, or stop sending its events"))
		return OutcomeUnmapped, "", nil
	case filtered:
		return OutcomeFiltered, "", nil
	}
	acct := h.accountOf(scope, ev, u)
	if scope != nil && acct == "" {
		h.warnf("no_account:"+ev.bucket, "storage event whose URL names no account, with a token of several: acknowledged and ignored",
			zap.String("source", ev.source), zap.String("bucket", ev.bucket), zap.String("token", scope.Name),
			zap.String("fix", "map the bucket to its account (buckets: in the accounts file), or use a token of one account"))
		return OutcomeRejected, "", nil
	}
	rep, err := h.o.Producer.Enqueue(ctx, []string{u}, cipurge.WithSource(httpapi.Truncate("event: "+ev.source+" "+ev.bucket+"/"+ev.key)),
		cipurge.WithAccount(acct))
	var bad *cipurge.OptionError
	if errors.As(err, &bad) {
		// The mapping names an account the producer does not write for: retrying cannot help.
		h.warnf("account:"+ev.bucket, "storage event of a bucket mapped to an account this worker does not send for: acknowledged and ignored",
			zap.String("source", ev.source), zap.String("bucket", ev.bucket), zap.String("reason", bad.Reason),
			zap.String("fix", "map the bucket to a declared account in the accounts file"))
		return OutcomeRejected, "", nil
	}
	if err != nil {
		return "", "", err
	}
	res := rep.Results[0]
	switch res.Outcome {
	case cipurge.Enqueued:
		return OutcomeEnqueued, rep.RequestID, nil
	case cipurge.Rejected:
		h.warnf("rejected:"+ev.bucket, "storage event whose URL does not normalise: acknowledged and ignored",
			zap.String("source", ev.source), zap.String("bucket", ev.bucket), zap.String("reason", res.Reason),
			zap.String("fix", "check this bucket's base URL in EVENTS_BUCKETS against CLOUDIMAGE_TOKEN, CLOUDIMAGE_ORIGIN_PREFIX and CLOUDIMAGE_ALIASES"))
		return OutcomeRejected, "", nil
	}
	return OutcomeAlreadyPending, rep.RequestID, nil
}

// warnf logs msg at most once per key and minute.
func (h *handler) warnf(key, msg string, fields ...zap.Field) {
	if h.warn.allow(key) {
		h.Log.Warn(msg, fields...)
	}
}

func (h *handler) logRequest(r *http.Request, status int, e *entry, took time.Duration) {
	fields := httpapi.RequestFields(r, status, took) // the path only: a query string may hold the token
	if e.source != "" {
		fields = append(fields, zap.String("source", e.source))
	}
	if e.code != "" {
		fields = append(fields, zap.String("error_code", e.code))
	}
	if e.detail != "" {
		fields = append(fields, zap.String("detail", e.detail))
	}
	if e.scope != nil {
		fields = append(fields, zap.String("token", e.scope.Name)) // its name: the value is a secret
	}
	if s := e.summary; s != nil {
		fields = append(fields, zap.Int("events", s.Events), zap.Int("enqueued", s.Enqueued), zap.Int("already_pending", s.AlreadyPending),
			zap.Int("ignored", s.Ignored), zap.Int("filtered", s.Filtered), zap.Int("unmapped", s.Unmapped), zap.Int("rejected", s.Rejected))
	}
	if e.err != nil {
		fields = append(fields, zap.Error(e.err))
	}
	h.Log.Info("events request", fields...)
}

// limiter allows one thing per key per interval (the unmapped-bucket warning).
type limiter struct {
	mu    sync.Mutex
	every time.Duration
	now   func() time.Time
	last  map[string]time.Time
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		return false
	}
	if len(l.last) >= 1024 { // bounded: forget everything rather than grow with bucket names
		clear(l.last)
	}
	l.last[key] = now
	return true
}

// Routes names the paths the receivers serve (httpserver.Router).
func (h *handler) Routes() []string {
	return []string{http.MethodPost + " " + PathS3, http.MethodPost + " " + PathCloudEvents}
}
