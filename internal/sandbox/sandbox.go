package sandbox

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/pkg/tasks"
)

const (
	// MaxURLs is the most URLs an "original" request may carry (the API's cap).
	MaxURLs = tasks.MaxURLsPerTask
	// DefaultMaxRecords is how many requests a Server keeps when Options.MaxRecords is 0.
	DefaultMaxRecords = 1 << 18
	// maxBody bounds a request body.
	maxBody = 256 << 10
	// codeClientGone records a request whose client went away during the injected latency.
	codeClientGone = 499
	// addedAtLayout is the API's "added_at" format: microseconds, no zone.
	addedAtLayout = "2006-01-02 15:04:05.000000"
	// receivedMsg is the API's message for an accepted request.
	receivedMsg = "Your invalidation request has been received"
)

// Status values, as the API sends them.
const (
	StatusReceived           = "RECEIVED"                 // first quarter of the status delay
	StatusPreparing          = "PREPARING"                // second quarter
	StatusFlushingCloudimage = "FLUSHINGCLOUDIMAGESERVER" // third quarter
	StatusFlushingCDN        = "FLUSHINGCDNSERVERS"       // last quarter
	StatusDone               = "DONE"                     // after the delay
	StatusError              = "ERROR"                    // after the delay, for ErrorNext requests
)

// Options configure a Server. The zero value is usable: any non-empty key, DONE at once, no
// latency, no logging, the real clock.
type Options struct {
	// Key is the accepted X-Client-Key; empty accepts any non-empty key.
	Key string
	// StatusDelay is the time from RECEIVED to DONE, split evenly over the four stages
	// before DONE; 0 means DONE at once.
	StatusDelay time.Duration
	// Latency is added to every POST /invalidate and GET /invalidate/{uuid} (a real timer,
	// not the Now clock; fake time under testing/synctest).
	Latency time.Duration
	// Logger receives a debug line per request and, from Start, one info line; nil logs
	// nothing.
	Logger *zap.Logger
	// Now is the clock for fault windows, status stages and added_at; nil means time.Now.
	// It must be safe for concurrent use.
	Now func() time.Time
	// MaxRecords is how many requests are kept for Requests, Accepted and status lookups;
	// 0 means DefaultMaxRecords. When full, the oldest quarter is dropped.
	MaxRecords int
	// Addr is where Start listens; empty means "127.0.0.1:0" (a free loopback port).
	Addr string
	// Keeper keeps accepted requests beyond this process; nil keeps them in memory only.
	Keeper Keeper
}

// Request is one invalidation request the sandbox received.
type Request struct {
	At     time.Time // when it was received, on the server's clock
	Scope  string    // the scope as sent ("" when missing or unreadable)
	URLs   []string  // the URLs as sent (nil when none or unreadable)
	Code   int       // the HTTP status answered; 499 if the client left during the latency
	UUID   string    // the invalidation's uuid when accepted, else ""
	Reason string    // why it was refused ("" when accepted)
}

// Stats are cumulative counts since New or the last Reset.
type Stats struct {
	Requests       int // POST /invalidate requests received
	Accepted       int // of those, answered 2xx
	URLs           int // URLs in accepted requests, repeats included
	StatusRequests int // GET /invalidate/{uuid} requests received
}

// Server is the sandbox API. It implements http.Handler; every method is safe for
// concurrent use.
type Server struct {
	log        *zap.Logger
	now        func() time.Time
	maxRecords int
	latency    atomic.Int64 // time.Duration
	inflight   atomic.Int64 // requests being served
	idPrefix   string       // "xxxxxxxx-": the uuid's first group, random per server
	idMiddle   string       // "-4xxx-8xxx-": the uuid's third and fourth groups
	keeper     Keeper

	mu          sync.Mutex
	key         string
	statusDelay time.Duration
	epoch       uint16 // bumped by Reset, so old uuids are unknown

	// faults
	failNext, failNextCode         int
	failUntil                      time.Time
	failCode                       int
	rateUntil                      time.Time
	retryAfter                     string
	statusFailNext, statusFailCode int
	errorNext                      int
	rejectURLs, failURLs           map[string]struct{}
	rejectGlobs, failGlobs         []*regexp.Regexp // ApplyFaults: URL patterns
	statusFaults                   []statusFault    // ApplyFaults: statuses reported instead of DONE
	planned                        []*Window        // ApplyFaults: windows that start at the first request
	rateFrom, failFrom             time.Time        // a planned window's start (zero: now)

	// records
	recs     []record
	dropped  int // records dropped from the front: the uuid index offset
	urlIndex map[string]uint32
	urls     []string // interned URLs, by index
	counts   []int32  // accepted requests naming each URL, by index
	stats    Stats
}

// record is one received request, kept compactly.
type record struct {
	at     int64    // unix nanoseconds
	urls   []uint32 // indices into Server.urls
	scope  string   // a constant for known scopes
	code   uint16
	reason string // a constant, or a short message naming a rejected URL
	failed uint16 // bit i set: urls[i] ends under "failed"
	error  bool   // ends in ERROR
	status uint8  // 1 + the index of the status fault that applies; 0: none
}

// New returns a Server configured by opts.
func New(opts Options) *Server {
	s := &Server{
		log:         opts.Logger,
		now:         opts.Now,
		maxRecords:  opts.MaxRecords,
		key:         opts.Key,
		keeper:      opts.Keeper,
		statusDelay: max(opts.StatusDelay, 0),
		rejectURLs:  map[string]struct{}{},
		failURLs:    map[string]struct{}{},
		urlIndex:    map[string]uint32{},
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxRecords <= 0 {
		s.maxRecords = DefaultMaxRecords
	}
	s.latency.Store(int64(max(opts.Latency, 0)))
	s.idPrefix = fmt.Sprintf("%08x-", rand.Uint32())
	s.idMiddle = fmt.Sprintf("-4%03x-%04x-", rand.Uint32()&0xfff, 0x8000|rand.Uint32()&0x3fff)
	return s
}

// ServeHTTP serves POST /invalidate and GET /invalidate/{uuid}.
//
// A request whose context ends during the injected latency (the client went away, or Start's
// stop was called) is recorded with code 499 and its response is aborted with
// http.ErrAbortHandler, so that no client mistakes it for an answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	p := r.URL.Path
	switch {
	case p == "/invalidate":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		s.serveInvalidate(w, r)
	case strings.HasPrefix(p, "/invalidate/") && len(p) > len("/invalidate/"):
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		s.serveStatus(w, r, p[len("/invalidate/"):])
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// wireRequest is the body of POST /invalidate.
type wireRequest struct {
	Scope string   `json:"scope"`
	URLs  []string `json:"urls"`
}

// Refusal reasons, as recorded and (for most) as sent in "msg".
const (
	reasonNoKey       = "missing X-Client-Key"
	reasonBadKey      = "invalid X-Client-Key"
	reasonInjected    = "injected fault"
	reasonRateLimited = "rate limited"
	reasonTooLarge    = "request body too large"
	reasonRead        = "could not read the request body"
	reasonContentType = "Content-Type must be application/json"
	reasonMalformed   = "malformed JSON"
	reasonNoScope     = "missing scope"
	reasonBadScope    = "unknown scope"
	reasonNoURLs      = "no urls"
	reasonEmptyURL    = "empty url"
	reasonAllURLs     = "scope all takes no urls"
	reasonClientGone  = "client went away during the latency"
	reasonUnknownUUID = "invalidation not found"
)

// reasonTooMany is the answer to a request of more URLs than the API's cap.
func reasonTooMany() string { return fmt.Sprintf("more than %d urls", MaxURLs) }

func (s *Server) serveInvalidate(w http.ResponseWriter, r *http.Request) {
	// A request is received when it arrives, before the latency: the times Requests reports are
	// the ones a rate limit counts, not the sandbox's timers waking after the latency.
	arrived := s.now()
	body, readErr := readBody(r)
	q := incoming{readErr: readErr, tooLarge: len(body) > maxBody, clientGone: !s.wait(r.Context()),
		ctOK: isJSON(r.Header.Get("Content-Type")), key: r.Header.Get("X-Client-Key")}
	var in wireRequest
	q.parseErr = readErr
	if q.parseErr == nil && !q.tooLarge && !q.clientGone {
		q.parseErr = json.Unmarshal(body, &in)
	}

	now := s.now()
	var (
		rec        = record{at: arrived.UnixNano()}
		retryAfter string
		uuid       string
		keep       *kept
	)
	s.mu.Lock()
	if s.stats.Requests == 0 && len(s.planned) > 0 {
		s.armPlanned(now)
	}
	s.stats.Requests++
	rec.code, rec.reason, retryAfter = s.verdict(now, q, &in)
	rec.scope = internScope(in.Scope)
	if len(in.URLs) > 0 {
		rec.urls = make([]uint32, len(in.URLs))
		for i, u := range in.URLs {
			rec.urls[i] = s.intern(u)
		}
	}
	if rec.code == http.StatusCreated {
		s.accept(&rec)
	}
	idx := s.appendRecord(rec)
	if rec.code == http.StatusCreated {
		uuid = s.uuid(s.epoch, idx)
		if s.keeper != nil {
			keep = s.keptOf(&rec)
		}
	}
	s.mu.Unlock()
	s.keep(uuid, keep)

	if ce := s.log.Check(zap.DebugLevel, "sandbox: invalidate"); ce != nil {
		ce.Write(zap.Int("code", int(rec.code)), zap.String("scope", rec.scope),
			zap.Int("urls", len(in.URLs)), zap.String("uuid", uuid), zap.String("reason", rec.reason))
	}
	answerInvalidate(w, rec, retryAfter, uuid, now)
}

// incoming is what the sandbox learnt of a request before judging it.
type incoming struct {
	readErr, parseErr    error
	tooLarge, clientGone bool
	ctOK                 bool // the Content-Type is JSON
	key                  string
}

// verdict judges request q, parsed as in, at now: the code, the reason and a Retry-After.
// The faults come first, in the real API's order. s.mu is held.
func (s *Server) verdict(now time.Time, q incoming, in *wireRequest) (code uint16, reason, retryAfter string) {
	switch {
	case q.clientGone:
		return codeClientGone, reasonClientGone, ""
	case q.key == "":
		return http.StatusUnauthorized, reasonNoKey, ""
	case s.key != "" && subtle.ConstantTimeCompare([]byte(q.key), []byte(s.key)) != 1:
		return http.StatusUnauthorized, reasonBadKey, ""
	case s.failNext > 0:
		s.failNext--
		return uint16(s.failNextCode), reasonInjected, ""
	case now.Before(s.failUntil) && !now.Before(s.failFrom):
		return uint16(s.failCode), reasonInjected, ""
	case now.Before(s.rateUntil) && !now.Before(s.rateFrom):
		return http.StatusTooManyRequests, reasonRateLimited, s.retryAfter
	case q.tooLarge:
		return http.StatusRequestEntityTooLarge, reasonTooLarge, ""
	case q.readErr != nil:
		return http.StatusBadRequest, reasonRead, ""
	case !q.ctOK:
		return http.StatusUnsupportedMediaType, reasonContentType, ""
	case q.parseErr != nil:
		return http.StatusBadRequest, reasonMalformed, ""
	}
	code, reason = s.validate(in)
	return code, reason, ""
}

// answerInvalidate writes the answer to a request recorded as rec.
// A client that went away gets none: the connection is dropped.
func answerInvalidate(w http.ResponseWriter, rec record, retryAfter, uuid string, now time.Time) {
	switch {
	case rec.code == codeClientGone:
		panic(http.ErrAbortHandler)
	case rec.code != http.StatusCreated:
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeError(w, int(rec.code), rec.reason)
		return
	}
	buf := make([]byte, 0, 192)
	buf = append(buf, `{"status":"success","msg":"`+receivedMsg+`","invalidation":{"status":"RECEIVED","uuid":"`...)
	buf = append(buf, uuid...)
	buf = append(buf, `","added_at":"`...)
	buf = now.UTC().AppendFormat(buf, addedAtLayout)
	buf = append(buf, `"}}`...)
	writeJSON(w, http.StatusCreated, buf)
}

// readBody reads at most maxBody+1 bytes of the request body, in one allocation when the
// length is declared.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= maxBody {
		buf := make([]byte, n)
		_, err := io.ReadFull(r.Body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(r.Body, maxBody+1))
}

// validate checks a well-formed body; s.mu is held.
func (s *Server) validate(in *wireRequest) (uint16, string) {
	switch in.Scope {
	case "":
		return http.StatusBadRequest, reasonNoScope
	case "all":
		if len(in.URLs) > 0 {
			return http.StatusBadRequest, reasonAllURLs
		}
		return http.StatusCreated, ""
	case "original":
	default:
		return http.StatusBadRequest, reasonBadScope
	}
	switch {
	case len(in.URLs) == 0:
		return http.StatusBadRequest, reasonNoURLs
	case len(in.URLs) > MaxURLs:
		return http.StatusBadRequest, reasonTooMany()
	}
	for _, u := range in.URLs {
		switch {
		case u == "":
			return http.StatusBadRequest, reasonEmptyURL
		case strings.ContainsRune(u, '?'):
			return http.StatusBadRequest, "query string in url: " + u
		}
	}
	if len(s.rejectURLs) > 0 || len(s.rejectGlobs) > 0 {
		for _, u := range in.URLs {
			if _, ok := s.rejectURLs[u]; ok || matchAny(s.rejectGlobs, u) {
				return http.StatusBadRequest, "url rejected: " + u
			}
		}
	}
	return http.StatusCreated, ""
}

// accept counts an accepted request's URLs and fixes how its status will end; s.mu is held.
func (s *Server) accept(rec *record) {
	s.stats.Accepted++
	s.stats.URLs += len(rec.urls)
	for i, ix := range rec.urls {
		s.counts[ix]++
		if len(s.failURLs) > 0 || len(s.failGlobs) > 0 {
			if _, ok := s.failURLs[s.urls[ix]]; ok || matchAny(s.failGlobs, s.urls[ix]) {
				rec.failed |= 1 << i
			}
		}
	}
	if s.errorNext > 0 {
		s.errorNext--
		rec.error = true
	}
	for i, f := range s.statusFaults {
		if slices.ContainsFunc(rec.urls, func(ix uint32) bool { return f.match.MatchString(s.urls[ix]) }) {
			rec.status = uint8(i + 1)
			break
		}
	}
}

// intern returns the index of u in the URL table, adding it; s.mu is held.
func (s *Server) intern(u string) uint32 {
	if ix, ok := s.urlIndex[u]; ok {
		return ix
	}
	ix := uint32(len(s.urls))
	s.urls = append(s.urls, u)
	s.counts = append(s.counts, 0)
	s.urlIndex[u] = ix
	return ix
}

func internScope(sc string) string {
	switch sc {
	case "original":
		return "original"
	case "all":
		return "all"
	}
	return sc
}

// appendRecord keeps rec, dropping the oldest quarter when full, and returns its uuid
// index; s.mu is held.
func (s *Server) appendRecord(rec record) int {
	if len(s.recs) >= s.maxRecords {
		n := max(s.maxRecords/4, 1)
		m := copy(s.recs, s.recs[n:])
		clear(s.recs[m:])
		s.recs = s.recs[:m]
		s.dropped += n
	}
	s.recs = append(s.recs, rec)
	return s.dropped + len(s.recs) - 1
}

// uuid formats the uuid of record index idx in epoch: a version-4-shaped uuid whose first,
// third and fourth groups are random per server.
func (s *Server) uuid(epoch uint16, idx int) string {
	var b [36]byte
	buf := append(b[:0], s.idPrefix...)
	buf = appendHex(buf, uint64(epoch), 4)
	buf = append(buf, s.idMiddle...)
	buf = appendHex(buf, uint64(idx), 12)
	return string(buf)
}

func appendHex(buf []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		buf = append(buf, hex[(v>>(4*i))&0xf])
	}
	return buf
}

// lookup returns the accepted record a uuid names, or nil; s.mu is held.
func (s *Server) lookup(uuid string) *record {
	if len(uuid) != 36 || !strings.HasPrefix(uuid, s.idPrefix) || uuid[13:24] != s.idMiddle {
		return nil
	}
	epoch, err1 := strconv.ParseUint(uuid[9:13], 16, 16)
	idx, err2 := strconv.ParseUint(uuid[24:], 16, 64)
	if err1 != nil || err2 != nil || uint16(epoch) != s.epoch {
		return nil
	}
	i := int(idx) - s.dropped
	if idx > uint64(len(s.recs)+s.dropped) || i < 0 || i >= len(s.recs) || s.recs[i].code/100 != 2 {
		return nil
	}
	return &s.recs[i]
}

// statusBody is the body of GET /invalidate/{uuid}.
type statusBody struct {
	Status       string `json:"status"`
	Invalidation struct {
		Status string `json:"status"`
		UUID   string `json:"uuid"`
		URLs   struct {
			Received    []string `json:"received"`
			Invalidated []string `json:"invalidated"`
			Failed      []string `json:"failed"`
		} `json:"urls"`
		Scope string `json:"scope"`
	} `json:"invalidation"`
}

var stages = [...]string{StatusReceived, StatusPreparing, StatusFlushingCloudimage, StatusFlushingCDN}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, uuid string) {
	if !s.wait(r.Context()) {
		panic(http.ErrAbortHandler) // no answer: the connection is dropped
	}
	key := r.Header.Get("X-Client-Key")
	now := s.now()
	var (
		code   = http.StatusOK
		reason string
		out    statusBody
		recall bool
	)
	s.mu.Lock()
	s.stats.StatusRequests++
	switch {
	case key == "":
		code, reason = http.StatusUnauthorized, reasonNoKey
	case s.key != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.key)) != 1:
		code, reason = http.StatusUnauthorized, reasonBadKey
	case s.statusFailNext > 0:
		s.statusFailNext--
		code, reason = s.statusFailCode, reasonInjected
	default:
		rec := s.lookup(uuid)
		if rec == nil {
			code, reason, recall = http.StatusNotFound, reasonUnknownUUID, s.keeper != nil
			break
		}
		s.keptOf(rec).fill(&out, now.Sub(time.Unix(0, rec.at)), s.statusDelay)
		out.Invalidation.UUID = uuid
	}
	delay := s.statusDelay
	s.mu.Unlock()
	if recall {
		if k := s.recall(uuid); k != nil {
			code, reason = http.StatusOK, ""
			k.fill(&out, now.Sub(time.Unix(0, k.At)), delay)
			out.Invalidation.UUID = uuid
		}
	}

	if ce := s.log.Check(zap.DebugLevel, "sandbox: status"); ce != nil {
		ce.Write(zap.Int("code", code), zap.String("uuid", uuid), zap.String("status", out.Invalidation.Status),
			zap.String("reason", reason))
	}
	if code != http.StatusOK {
		writeError(w, code, reason)
		return
	}
	out.Status = "success"
	buf, err := json.Marshal(&out)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode status")
		return
	}
	writeJSON(w, http.StatusOK, buf)
}

// wait sleeps the injected latency; false if the request's context ended first.
func (s *Server) wait(ctx context.Context) bool {
	d := time.Duration(s.latency.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func isJSON(ct string) bool {
	if ct == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	body, _ := json.Marshal(struct {
		Status string `json:"status"`
		Msg    string `json:"msg"`
	}{"error", msg})
	writeJSON(w, code, body)
}

// Requests returns a copy of every invalidation request kept (see Options.MaxRecords),
// accepted or not, oldest first.
func (s *Server) Requests() []Request {
	return s.copyRecords(false)
}

// Accepted returns a copy of the kept invalidation requests that were answered 2xx.
func (s *Server) Accepted() []Request {
	return s.copyRecords(true)
}

func (s *Server) copyRecords(acceptedOnly bool) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, 0, len(s.recs))
	for i := range s.recs {
		rec := &s.recs[i]
		ok := rec.code/100 == 2
		if acceptedOnly && !ok {
			continue
		}
		req := Request{At: time.Unix(0, rec.at), Scope: rec.scope, Code: int(rec.code), Reason: rec.reason}
		if len(rec.urls) > 0 {
			req.URLs = make([]string, len(rec.urls))
			for j, ix := range rec.urls {
				req.URLs[j] = s.urls[ix]
			}
		}
		if ok {
			req.UUID = s.uuid(s.epoch, s.dropped+i)
		}
		out = append(out, req)
	}
	return out
}

// URLCounts returns, for every URL named by an accepted request since the last Reset, how
// many accepted requests named it.
func (s *Server) URLCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.urls))
	for i, n := range s.counts {
		if n > 0 {
			out[s.urls[i]] = int(n)
		}
	}
	return out
}

// URLCount returns how many accepted requests named u since the last Reset.
func (s *Server) URLCount(u string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix, ok := s.urlIndex[u]; ok {
		return int(s.counts[ix])
	}
	return 0
}

// Stats returns the cumulative counts since New or the last Reset.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Reset forgets every request, URL count and stat, clears every fault (ClearFaults), and
// makes every uuid given so far unknown. The key, latency and status delay stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clearFaults()
	s.recs = nil
	s.dropped = 0
	s.urlIndex = map[string]uint32{}
	s.urls = nil
	s.counts = nil
	s.stats = Stats{}
	s.epoch++
}

// ClearFaults removes every injected fault: FailNext, FailFor, RateLimitFor, FailStatusNext,
// RejectURL, FailURLInStatus, ErrorNext and those of ApplyFaults. Latency, the key and the status delay stay.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clearFaults()
}

func (s *Server) clearFaults() {
	s.failNext, s.failNextCode = 0, 0
	s.failUntil, s.failCode = time.Time{}, 0
	s.rateUntil, s.retryAfter = time.Time{}, ""
	s.statusFailNext, s.statusFailCode = 0, 0
	s.errorNext = 0
	s.rejectURLs = map[string]struct{}{}
	s.failURLs = map[string]struct{}{}
	s.rejectGlobs, s.failGlobs, s.planned, s.statusFaults = nil, nil, nil, nil
	s.rateFrom, s.failFrom = time.Time{}, time.Time{}
}

// SetLatency sets the delay added to every response from now on.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(max(d, 0))) }

// SetStatusDelay sets the time from RECEIVED to DONE, for every invalidation including
// those already received; 0 means DONE at once.
func (s *Server) SetStatusDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusDelay = max(d, 0)
}

// SetKey changes the accepted X-Client-Key (empty accepts any non-empty key), for example to
// test a 401 and then the recovery.
func (s *Server) SetKey(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = k
}

// RateLimitFor answers POST /invalidate with 429 Too Many Requests until d has passed on the
// server's clock, with retryAfter as the Retry-After header ("" sends none).
func (s *Server) RateLimitFor(d time.Duration, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateFrom, s.rateUntil = time.Time{}, s.now().Add(d)
	s.retryAfter = retryAfter
}

// FailFor answers POST /invalidate with code (meant for 5xx; a code outside 400..599 becomes
// 500) until d has passed on the server's clock.
func (s *Server) FailFor(d time.Duration, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFrom, s.failUntil = time.Time{}, s.now().Add(d)
	s.failCode = errorCode(code)
}

// FailNext answers the next n POST /invalidate requests with code (a code outside 400..599
// becomes 500). It replaces any earlier FailNext.
func (s *Server) FailNext(n int, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failNextCode = max(n, 0), errorCode(code)
}

// FailStatusNext answers the next n GET /invalidate/{uuid} requests with code (a code
// outside 400..599 becomes 500). It replaces any earlier FailStatusNext.
func (s *Server) FailStatusNext(n int, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusFailNext, s.statusFailCode = max(n, 0), errorCode(code)
}

// RejectURL makes every later "original" request that contains u get 400 with a message
// naming u.
func (s *Server) RejectURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectURLs[u] = struct{}{}
}

// FailURLInStatus makes every later accepted request that contains u end DONE with u under
// "failed" instead of "invalidated".
func (s *Server) FailURLInStatus(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failURLs[u] = struct{}{}
}

// ErrorNext makes the next n accepted requests end in status ERROR. It replaces any earlier
// ErrorNext.
func (s *Server) ErrorNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errorNext = max(n, 0)
}

func errorCode(code int) int {
	if code < 400 || code > 599 {
		return http.StatusInternalServerError
	}
	return code
}
