package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// A request is what one producer call asked for: its URLs, counted per state (RequestState), in
// one small hash that does not grow with the request. It keeps the first RequestSampleSize URLs
// by name, so that a reader can say which of those are not done yet; the others are counts only.

// NewRequestID returns a fresh request ID: rq_ and 16 base32 characters (80 random bits).
func NewRequestID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "rq_" + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// ValidRequestID says whether id has the form NewRequestID makes. Readers check it before they
// build a key from a caller's input.
func ValidRequestID(id string) bool {
	rest, ok := strings.CutPrefix(id, "rq_")
	if !ok || len(rest) != 16 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// MaxIdempotencyKey bounds an idempotency key's length.
const MaxIdempotencyKey = 200

// NewRequestOptions describe a request being made.
type NewRequestOptions struct {
	IdempotencyKey string        // "" for none; at most MaxIdempotencyKey bytes
	Callback       string        // the request's webhook URL, "" for none
	Confirm        bool          // true: done means confirmed; false: done means sent
	TTL            time.Duration // the history TTL; 0: the history's, as the workers wrote it
	// Account is the account that makes the request. "" and tasks.DefaultAccount record nothing:
	// a record without it is the account default's, as every record of an earlier version is.
	Account string
	// Link links each URL to the request in KeyRequestLinks, for the pending set. A bulk request
	// is not linked: its tasks carry its ID.
	Link bool
	// ID, when set, is the ID of the request: another account's part of a request whose URLs
	// span accounts. Each part is recorded in its account's keys under the one ID.
	// "" makes a fresh ID.
	ID string
}

// OpenRequest records a request with no URL yet and returns its ID. It is not done before
// AddToRequest ends it. With an idempotency key that already made a request, it returns that
// request's ID and made=false: the caller then queues nothing. Call it before the URLs are
// queued, so that every move of theirs finds the record.
func (s *Store) OpenRequest(ctx context.Context, o NewRequestOptions) (id string, made bool, err error) {
	if len(o.IdempotencyKey) > MaxIdempotencyKey {
		return "", false, fmt.Errorf("the idempotency key is %d bytes long: use at most %d", len(o.IdempotencyKey), MaxIdempotencyKey)
	}
	id = o.ID
	if id == "" {
		id = NewRequestID()
	}
	keys := []string{s.k.Request(id), s.k.Requests}
	if o.IdempotencyKey != "" {
		keys = append(keys, s.k.RequestIdem(o.IdempotencyKey))
	}
	res, err := requestNewScript.Run(ctx, s.rdb, keys, id, bit(o.Confirm), o.Callback, s.requestTTL(ctx, o).Milliseconds(),
		recordedAccount(o.Account)).Slice()
	if err != nil {
		return "", false, fmt.Errorf("store: recording a request: %w", err)
	}
	if len(res) != 2 {
		return "", false, fmt.Errorf("store: recording a request: unexpected answer %v", res)
	}
	got, _ := res[0].(string)
	n, _ := res[1].(int64)
	return got, n == 1, nil
}

// recordedAccount is what a request record keeps of account: nothing for the account default.
func recordedAccount(account string) string {
	if account == tasks.DefaultAccount {
		return ""
	}
	return account
}

// requestTTL is o.TTL, or the history's TTL when o has none.
func (s *Store) requestTTL(ctx context.Context, o NewRequestOptions) time.Duration {
	if o.TTL > 0 {
		return o.TTL
	}
	return time.Duration(s.layout(ctx).ttl) * time.Millisecond
}

// AddToRequest adds the canonical keys urls (deduplicated by the caller) to the open request id,
// and ends it when end is set: from then on it is done once nothing of it is open. With o.Link,
// each URL is linked to the request; unlinked holds the indexes of the urls that already count
// for RequestsPerURL requests: they count for none of this one. Only o.Link and o.TTL are used.
func (s *Store) AddToRequest(ctx context.Context, id string, urls []string, o NewRequestOptions, end bool) (done bool, unlinked []int, err error) {
	args := []any{id, bit(end), bit(o.Link), s.requestTTL(ctx, o).Milliseconds()}
	for _, u := range urls {
		args = append(args, u)
	}
	res, err := requestGrowScript.Run(ctx, s.rdb, []string{s.k.Request(id), s.k.RequestLinks, s.k.Outbox, s.k.OutboxEvents}, args...).Int64Slice()
	if err != nil {
		return false, nil, fmt.Errorf("store: adding %d URLs to request %s: %w", len(urls), id, err)
	}
	for _, i := range res[1:] {
		unlinked = append(unlinked, int(i)-1)
	}
	return res[0] == 1, unlinked, nil
}

// NewRequest is OpenRequest, then AddToRequest of urls that ends the request.
func (s *Store) NewRequest(ctx context.Context, urls []string, o NewRequestOptions) (id string, made bool, unlinked []int, err error) {
	id, made, err = s.OpenRequest(ctx, o)
	if err != nil || !made {
		return id, made, nil, err
	}
	_, unlinked, err = s.AddToRequest(ctx, id, urls, o, true)
	return id, made, unlinked, err
}

// MoveRequests moves one URL of each of the requests ids from state from ("" for none) to state
// to, and counts a resend when resent is set. Its cost is constant per request: a few hash
// commands on one key. A request that expired, or has no URL left in from, is left alone. It
// returns the requests that became done by this move, each once ever.
//
// The counts cannot tell a repeated move from another URL's. So a caller moves a URL only in
// the step that changed the URL's own state, once per change.
func (s *Store) MoveRequests(ctx context.Context, ids []string, from, to RequestState, resent bool) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.k.Request(id)
	}
	idx, err := requestMoveScript.Run(ctx, s.rdb, keys, string(from), string(to), bit(resent)).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("store: moving a URL of %d requests from %q to %q: %w", len(ids), from, to, err)
	}
	done := make([]string, 0, len(idx))
	for _, i := range idx {
		done = append(done, ids[i-1])
	}
	return done, nil
}

// Request is a request's record as read.
type Request struct {
	ID       string
	At       time.Time              // when it was made
	Total    int64                  // its URLs
	Counts   map[RequestState]int64 // per state; Resent is a running count
	Confirm  bool                   // true: done means confirmed; false: done means sent
	Callback string
	Sample   []string  // up to RequestSampleSize of its URLs (canonical keys), in the order given
	Done     time.Time // when it became done; zero while not done
	Open     bool      // a bulk run still adds URLs to it
	Account  string    // the account that made it: tasks.DefaultAccount when the record names none
}

// ErrNoRequest is what Request returns for an unknown or expired request ID.
var ErrNoRequest = errors.New("no such request (unknown, or older than the history TTL)")

// Request reads request id.
func (s *Store) Request(ctx context.Context, id string) (Request, error) {
	if !ValidRequestID(id) {
		return Request{}, fmt.Errorf("%q is not a request ID (rq_ and 16 letters or digits): %w", id, ErrNoRequest)
	}
	m, err := s.rdb.HGetAll(ctx, s.k.Request(id)).Result()
	if err != nil {
		return Request{}, fmt.Errorf("store: reading request %s: %w", id, err)
	}
	if len(m) == 0 {
		return Request{}, fmt.Errorf("%s: %w", id, ErrNoRequest)
	}
	return parseRequest(id, m), nil
}

// parseRequest reads request id's hash fields m.
func parseRequest(id string, m map[string]string) Request {
	num := func(f string) int64 { n, _ := strconv.ParseInt(m[f], 10, 64); return n }
	r := Request{ID: id, At: time.UnixMilli(num(FieldReqAt)), Total: num(FieldReqTotal), Confirm: m[FieldReqConfirm] == "1",
		Callback: m[FieldReqCallback], Counts: map[RequestState]int64{}}
	for _, st := range requestCounts {
		r.Counts[st] = num(string(st))
	}
	if v := m[FieldReqSample]; v != "" {
		r.Sample = strings.Split(v, "\n")
	}
	r.Open = m[FieldReqOpen] == "1"
	r.Account = m[FieldReqAccount]
	if r.Account == "" {
		r.Account = tasks.DefaultAccount
	}
	if d := num(FieldReqDone); d > 0 {
		r.Done = time.UnixMilli(d)
	}
	return r
}

// RecentRequests returns the IDs of the n newest requests, newest first.
func (s *Store) RecentRequests(ctx context.Context, n int) ([]string, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.k.Requests, 0, int64(n)-1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: reading the recent requests: %w", err)
	}
	return ids, nil
}

// requestCounts are the counts of a request's hash.
var requestCounts = []RequestState{ReqWaiting, ReqSent, ReqConfirmed, ReqDead, ReqFlushed, ReqResent}

// requestCountFields are the fields of a request's hash that LastRequests reads: all but the
// sample, which can be RequestSampleSize URLs long.
var requestCountFields = func() []string {
	f := []string{FieldReqTotal, FieldReqAt, FieldReqConfirm, FieldReqCallback, FieldReqDone, FieldReqOpen}
	for _, st := range requestCounts {
		f = append(f, string(st))
	}
	return f
}()

// LastRequests reads the n newest requests, newest first, without their samples. It costs two
// round trips whatever the number of requests: a ZREVRANGE of n on KeyRequests (at most
// RequestsKept entries), then one pipeline of n HMGETs of 12 fields. A request whose record
// expired is left out.
func (s *Store) LastRequests(ctx context.Context, n int) ([]Request, error) {
	if n <= 0 {
		return nil, nil // ZREVRANGE 0 -1 would read them all
	}
	ids, err := s.RecentRequests(ctx, n)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, s.k.Request(id), requestCountFields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: reading the recent requests: %w", err)
	}
	out := make([]Request, 0, len(ids))
	for i, id := range ids {
		m := map[string]string{}
		for j, v := range cmds[i].Val() {
			if str, ok := v.(string); ok {
				m[requestCountFields[j]] = str
			}
		}
		if m[FieldReqAt] == "" {
			continue // expired
		}
		out = append(out, parseRequest(id, m))
	}
	return out, nil
}

// Move is one step of URLs through the states of the requests they count for.
type Move struct {
	From RequestState // ReqWaiting or ReqSent; "" for either (a flush-all)
	To   RequestState
	// Resent counts a resend: Cloudimage failed the URLs and they wait to be sent again.
	Resent bool
	// Keep keeps the links, with To's code: To is ReqWaiting or ReqSent. Without it, the URLs
	// reached an end state for their requests and the links go.
	Keep bool
	// Adopt makes the task's requests links of each URL, with To's code (Keep is set). A task
	// whose URLs an earlier send covers uses it: that send's end moves them.
	Adopt bool
	// SentDone says done means sent for the requests moved, when nothing is confirmed.
	SentDone bool
	// Events says which requests' events the move appends to the webhook outbox (KeyOutbox).
	Events Events
	// Covers, when not 0, is the request time (ms) a send of the URLs covered: their queued
	// records (KeyQueued) of a request no later go, in the same script. A later request, queued
	// in another task since, keeps its record.
	Covers int64
}

// Moved is what a Move did.
type Moved struct {
	Done []string    // requests that became done
	Dead [][2]string // with To ReqDead: request ID and canonical key of each URL dead for a request
	// Dropped counts the oldest outbox events the move's appends pushed out (OutboxMax).
	Dropped int64
}

// moveTries bounds how often MoveURLs moves again the URLs whose links named a request it did
// not pass.
const moveTries = 5

// MoveURLs moves urls, a task's URLs, one step for every request they count for: the requests
// of the task (a bulk task's, in reqs) and the requests linked to each URL. Its cost is a few
// hash commands per URL and request. Each event it appends to the outbox (m.Events) costs an RPUSH,
// and for EventsCallback an HGET, in the same script.
//
// It reads no link before the script: it passes the keys of the requests the links named last
// (linkedReqs). The script leaves alone a URL whose links name another request and returns that
// request's ID. A second call moves those URLs with its key. So a drain of one request's URLs
// costs one call a task, and a task whose URLs each belong to a new request two.
func (s *Store) MoveURLs(ctx context.Context, reqs, urls []string, m Move) (Moved, error) {
	var out Moved
	if len(urls) == 0 {
		return out, nil
	}
	ids := s.linked.get()
	for try := 0; len(urls) > 0; try++ {
		if try == moveTries {
			return out, fmt.Errorf("store: the links of %d URLs kept naming requests not passed", len(urls))
		}
		keys := make([]string, 0, 3+len(reqs)+len(ids))
		keys = append(keys, s.k.RequestLinks, s.k.Outbox, s.k.Queued)
		for _, id := range reqs {
			keys = append(keys, s.k.Request(id))
		}
		args := make([]any, 0, 11+len(reqs)+len(urls)+len(ids))
		args = append(args, string(m.From), string(m.To), bit(m.Resent), bit(m.Keep), bit(m.Adopt), bit(m.SentDone), len(reqs), len(urls), len(ids), int(m.Events), m.Covers)
		for _, id := range reqs {
			args = append(args, id)
		}
		for _, u := range urls {
			args = append(args, u)
		}
		m.Covers = 0 // a try after the first drops no more records: its URLs are a subset
		for _, id := range ids {
			keys = append(keys, s.k.Request(id))
			args = append(args, id)
		}
		res, err := linkMoveScript.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return out, fmt.Errorf("store: moving %d URLs from %q to %q: %w", len(urls), m.From, m.To, err)
		}
		if len(res) != 5 {
			return out, fmt.Errorf("store: moving URLs: unexpected answer %v", res)
		}
		for _, v := range res[0].([]any) {
			out.Done = append(out.Done, v.(string))
		}
		dead := res[1].([]any)
		for i := 0; i+1 < len(dead); i += 2 {
			out.Dead = append(out.Dead, [2]string{dead[i].(string), dead[i+1].(string)})
		}
		var again []string
		for _, v := range res[2].([]any) {
			again = append(again, urls[v.(int64)-1])
		}
		dropped, _ := res[3].(int64)
		out.Dropped += dropped
		var unknown []string
		for _, v := range res[4].([]any) {
			unknown = append(unknown, v.(string))
		}
		ids = append(ids, unknown...)
		s.linked.saw(unknown)
		urls = again
	}
	return out, nil
}

// linkedCap bounds the request IDs a Store passes to MoveURLs before it reads any link.
const linkedCap = 8

// linkedReqs are the request IDs the links MoveURLs moved last named, newest first.
type linkedReqs struct {
	mu  sync.Mutex
	ids []string
}

// get returns a copy of the IDs.
func (l *linkedReqs) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

// saw puts ids first, and keeps at most linkedCap.
func (l *linkedReqs) saw(ids []string) {
	if len(ids) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := slices.DeleteFunc(slices.Clone(l.ids), func(id string) bool { return slices.Contains(ids, id) })
	l.ids = append(slices.Clone(ids), keep...)
	if len(l.ids) > linkedCap {
		l.ids = l.ids[:linkedCap]
	}
}

// FlushLinks moves every linked URL to ReqFlushed: a flush-all was sent after their requests.
// It returns what MoveURLs did; ev says which events go to the outbox.
func (s *Store) FlushLinks(ctx context.Context, ev Events) (Moved, error) {
	var out Moved
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, s.k.RequestLinks, cursor, "", 200).Result()
		if err != nil {
			return out, fmt.Errorf("store: reading the request links: %w", err)
		}
		urls := make([]string, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			urls = append(urls, kv[i])
		}
		m, err := s.MoveURLs(ctx, nil, urls, Move{To: ReqFlushed, Events: ev})
		out.Done = append(out.Done, m.Done...)
		out.Dropped += m.Dropped
		if err != nil {
			return out, err
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// bit is a flag as the scripts take it: "1" or "0".
func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// OpenURLs returns which of urls, a sample of request id's URLs, are not done for it: those still
// linked to it. A bulk request's URLs are not linked: use the history for them.
func (s *Store) OpenURLs(ctx context.Context, id string, urls []string) ([]string, error) {
	if len(urls) == 0 {
		return nil, nil
	}
	links, err := s.rdb.HMGet(ctx, s.k.RequestLinks, urls...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: reading the links of request %s: %w", id, err)
	}
	var open []string
	for i, v := range links {
		w, _ := v.(string)
		for _, word := range strings.Fields(w) {
			if strings.HasPrefix(word, id+":") {
				open = append(open, urls[i])
				break
			}
		}
	}
	return open, nil
}
