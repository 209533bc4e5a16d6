package cipurge

import (
	"context"
	"errors"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
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
}

// What RequestStatus.DoneMeans says.
const (
	DoneMeansConfirmed = "confirmed" // the workers follow each invalidation to DONE
	DoneMeansSent      = "sent"      // the workers do not follow invalidations: sent is done
)

// RequestSample is how many of a request's URLs it keeps by name.
const RequestSample = store.RequestSampleSize

// ErrNoRequest is what Request returns for an unknown or expired request ID.
var ErrNoRequest = store.ErrNoRequest

// Failed says whether a done request has URLs that finally failed (dead-lettered).
func (r *RequestStatus) Failed() bool { return r.Dead > 0 }

// Request reads the progress of request id.
// An unknown or expired ID is an error that matches ErrNoRequest; a failed read is a *RedisError.
func (i *Inspector) Request(ctx context.Context, id string) (*RequestStatus, error) {
	return readRequest(ctx, i.st, id)
}

func readRequest(ctx context.Context, st *store.Store, id string) (*RequestStatus, error) {
	r, err := st.Request(ctx, id)
	if errors.Is(err, store.ErrNoRequest) {
		return nil, err
	}
	if err != nil {
		return nil, apiError("read the request", err)
	}
	s := statusOf(r)
	if s.Done {
		return s, nil
	}
	open, err := st.OpenURLs(ctx, id, r.Sample)
	if err != nil {
		return nil, apiError("read the request", err)
	}
	if len(open) == 0 {
		open = notSentSince(ctx, st, r)
	}
	s.NotDone = open
	return s, nil
}

// statusOf is the status of the request record r, without NotDone.
func statusOf(r store.Request) *RequestStatus {
	s := &RequestStatus{ID: r.ID, Account: r.Account, MadeAt: r.At.UTC(), URLs: r.Total, Waiting: r.Counts[store.ReqWaiting], Sent: r.Counts[store.ReqSent],
		Confirmed: r.Counts[store.ReqConfirmed], Resent: r.Counts[store.ReqResent], Dead: r.Counts[store.ReqDead],
		Flushed: r.Counts[store.ReqFlushed], DoneMeans: DoneMeansSent, Done: !r.Done.IsZero(), Open: r.Open}
	if r.Confirm {
		s.DoneMeans = DoneMeansConfirmed
	}
	if r.Callback != "" {
		s.Callback = webhook.Redact(r.Callback)
	}
	if s.Done {
		t := r.Done.UTC()
		s.DoneAt = &t
	}
	return s
}

// MaxRecentRequests bounds how many requests RecentRequests returns.
const MaxRecentRequests = 100

// RecentRequests returns the n newest requests (at most MaxRecentRequests), newest first, with
// their counts but no NotDone. Its cost is constant: two Redis round trips, whatever the
// number or size of the requests. A failed read is a *RedisError.
func (i *Inspector) RecentRequests(ctx context.Context, n int) ([]*RequestStatus, error) {
	recs, err := i.st.LastRequests(ctx, min(max(n, 0), MaxRecentRequests))
	if err != nil {
		return nil, apiError("read the recent requests", err)
	}
	out := make([]*RequestStatus, len(recs))
	for k, r := range recs {
		out[k] = statusOf(r)
	}
	return out, nil
}

// notSentSince returns the URLs of r's sample whose history shows no end since r was made: the
// URLs of a bulk request, which carries its own ID, not a link per URL.
func notSentSince(ctx context.Context, st *store.Store, r store.Request) []string {
	var out []string
	for _, u := range r.Sample {
		rec, found, err := st.History(ctx, u)
		ended := found && err == nil && rec.SentAt >= r.At.UnixMilli() && (rec.State != store.StateSent || !r.Confirm)
		if !ended {
			out = append(out, u)
		}
	}
	return out
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
