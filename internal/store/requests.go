package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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
	Confirm        bool          // true: done means confirmed (PURGE_CONFIRM); false: done means sent
	TTL            time.Duration // PURGE_HISTORY_TTL
}

// NewRequest records a request of the canonical keys urls (deduplicated by the caller) and
// returns its ID. With an idempotency key that already made a request, it returns that request's
// ID and made=false: the caller then queues nothing. Call it before the URLs are queued, so that
// every move of theirs finds the record.
func (s *Store) NewRequest(ctx context.Context, urls []string, o NewRequestOptions) (id string, made bool, err error) {
	if o.TTL <= 0 {
		return "", false, errors.New("store: a request needs a TTL (PURGE_HISTORY_TTL)")
	}
	if len(o.IdempotencyKey) > MaxIdempotencyKey {
		return "", false, fmt.Errorf("the idempotency key is %d bytes long: use at most %d", len(o.IdempotencyKey), MaxIdempotencyKey)
	}
	id = NewRequestID()
	keys := []string{RequestKey(id), KeyRequests}
	if o.IdempotencyKey != "" {
		keys = append(keys, RequestIdemKey(o.IdempotencyKey))
	}
	confirm := "0"
	if o.Confirm {
		confirm = "1"
	}
	sample := strings.Join(urls[:min(len(urls), RequestSampleSize)], "\n")
	res, err := requestNewScript.Run(ctx, s.rdb, keys, id, len(urls), confirm, o.Callback, sample, o.TTL.Milliseconds()).Slice()
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
		keys[i] = RequestKey(id)
	}
	flag := "0"
	if resent {
		flag = "1"
	}
	idx, err := requestMoveScript.Run(ctx, s.rdb, keys, string(from), string(to), flag).Int64Slice()
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
}

// ErrNoRequest is what Request returns for an unknown or expired request ID.
var ErrNoRequest = errors.New("no such request (unknown, or older than PURGE_HISTORY_TTL)")

// Request reads request id.
func (s *Store) Request(ctx context.Context, id string) (Request, error) {
	if !ValidRequestID(id) {
		return Request{}, fmt.Errorf("%q is not a request ID (rq_ and 16 letters or digits): %w", id, ErrNoRequest)
	}
	m, err := s.rdb.HGetAll(ctx, RequestKey(id)).Result()
	if err != nil {
		return Request{}, fmt.Errorf("store: reading request %s: %w", id, err)
	}
	if len(m) == 0 {
		return Request{}, fmt.Errorf("%s: %w", id, ErrNoRequest)
	}
	num := func(f string) int64 { n, _ := strconv.ParseInt(m[f], 10, 64); return n }
	r := Request{ID: id, At: time.UnixMilli(num(FieldReqAt)), Total: num(FieldReqTotal), Confirm: m[FieldReqConfirm] == "1",
		Callback: m[FieldReqCallback], Counts: map[RequestState]int64{}}
	for _, st := range []RequestState{ReqWaiting, ReqSent, ReqConfirmed, ReqDead, ReqFlushed, ReqResent} {
		r.Counts[st] = num(string(st))
	}
	if v := m[FieldReqSample]; v != "" {
		r.Sample = strings.Split(v, "\n")
	}
	if d := num(FieldReqDone); d > 0 {
		r.Done = time.UnixMilli(d)
	}
	return r, nil
}

// RecentRequests returns the IDs of the n newest requests, newest first.
func (s *Store) RecentRequests(ctx context.Context, n int) ([]string, error) {
	ids, err := s.rdb.ZRevRange(ctx, KeyRequests, 0, int64(n)-1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: reading the recent requests: %w", err)
	}
	return ids, nil
}
