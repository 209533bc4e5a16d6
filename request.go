package cipurge

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
)

// RequestStatus is the progress of one request: what a producer call asked for, counted per state.
// Waiting, Sent, Confirmed, Dead and Flushed add up to URLs.
type RequestStatus struct {
	ID        string     `json:"id"`
	Account   string     `json:"account"` // the account that made it; DefaultAccount for a deployment of none
	MadeAt    time.Time  `json:"made_at"`
	URLs      int64      `json:"urls"`      // URLs it counts, after dedupe within the call
	Waiting   int64      `json:"waiting"`   // not sent yet
	Sent      int64      `json:"sent"`      // accepted by the API, not confirmed yet
	Confirmed int64      `json:"confirmed"` // Cloudimage reported them done (or sent, when done means sent)
	Resent    int64      `json:"resent"`    // times Cloudimage failed one of them and it was sent again
	Dead      int64      `json:"dead"`      // dead-lettered, or not known to be done: finally failed
	Flushed   int64      `json:"flushed"`   // covered by a flush-all sent after the request
	DoneMeans string     `json:"done_means"`
	Done      bool       `json:"done"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
	Open      bool       `json:"open,omitempty"`     // a bulk run still adds URLs to it
	Callback  string     `json:"callback,omitempty"` // its webhook URL, without query or user info
	// NotDone lists URLs (canonical keys) of the request not done yet, among its first
	// RequestSample URLs: a large request keeps counts, not a list per URL.
	NotDone []string `json:"not_done,omitempty"`
	// Accounts lists the accounts of a request whose URLs span several, in declared order.
	// Each has a part of the request; the counts add them up, and it is done when every part
	// is. Account is then the first. A request of one account leaves it empty.
	Accounts []string `json:"accounts,omitempty"`
}

// What RequestStatus.DoneMeans says.
const (
	DoneMeansConfirmed = inspect.DoneMeansConfirmed // the workers follow each invalidation to DONE
	DoneMeansSent      = inspect.DoneMeansSent      // the workers do not follow invalidations: sent is done
)

// RequestSample is how many of a request's URLs it keeps by name.
const RequestSample = store.RequestSampleSize

// ErrNoRequest is what Request returns for an unknown or expired request ID.
var ErrNoRequest = store.ErrNoRequest

// Failed says whether a done request has URLs that finally failed (dead-lettered).
func (r *RequestStatus) Failed() bool { return r.Dead > 0 }

// Request reads the progress of request id.
// With InspectAccounts it adds up the parts of a request whose URLs span accounts.
// An unknown or expired ID is an error that matches ErrNoRequest; a failed read is a *RedisError.
func (i *Inspector) Request(ctx context.Context, id string) (*RequestStatus, error) {
	return readRequest(ctx, i.stores(), id)
}

func readRequest(ctx context.Context, stores []*store.Store, id string) (*RequestStatus, error) {
	s, err := inspect.ReadRequest(ctx, stores, id)
	if errors.Is(err, store.ErrNoRequest) {
		return nil, err
	}
	if err != nil {
		return nil, apiError("read the request", err)
	}
	out := RequestStatus(*s)
	return &out, nil
}

// MaxRecentRequests bounds how many requests RecentRequests returns.
const MaxRecentRequests = 100

// RecentRequests returns the n newest requests (at most MaxRecentRequests), newest first, with
// their counts but no NotDone. Its cost is constant: two Redis round trips, whatever the
// number or size of the requests (two per account with InspectAccounts). A part of a request
// whose URLs span accounts is listed with its own account's counts.
// A failed read is a *RedisError.
func (i *Inspector) RecentRequests(ctx context.Context, n int) ([]*RequestStatus, error) {
	n = min(max(n, 0), MaxRecentRequests)
	var out []*RequestStatus
	for _, st := range i.stores() {
		recs, err := st.LastRequests(ctx, n)
		if err != nil {
			return nil, apiError("read the recent requests", err)
		}
		for _, r := range recs {
			s := RequestStatus(*inspect.StatusOf(r))
			out = append(out, &s)
		}
	}
	if len(i.parts) > 1 {
		slices.SortStableFunc(out, func(a, b *RequestStatus) int { return b.MadeAt.Compare(a.MadeAt) })
		out = out[:min(len(out), n)]
	}
	return out, nil
}

// DefaultWaitEvery is how often WaitRequest reads the request again.
const DefaultWaitEvery = 500 * time.Millisecond

// WaitRequest reads request id every `every` (DefaultWaitEvery when 0 or less) until it is done,
// and returns its last status. When ctx ends first, it returns the last status read and ctx's
// error. progress, when not nil, gets each status read.
func (i *Inspector) WaitRequest(ctx context.Context, id string, every time.Duration, progress func(*RequestStatus)) (*RequestStatus, error) {
	if every <= 0 {
		every = DefaultWaitEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last *RequestStatus
	for {
		s, err := i.Request(ctx, id)
		if err != nil {
			if ctx.Err() != nil && last != nil {
				return last, ctx.Err()
			}
			return last, err
		}
		last = s
		if progress != nil {
			progress(s)
		}
		if s.Done {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
	}
}
