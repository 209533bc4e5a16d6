package inspect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
)

// RequestStatus is the progress of one request, counted per state.
// package cipurge has the same type for its callers; the worker posts this one in webhooks.
// A request whose URLs span accounts has a part in each account's keys, under one ID: its
// status adds them up.
type RequestStatus struct {
	ID        string     `json:"id"`
	Account   string     `json:"account"`
	MadeAt    time.Time  `json:"made_at"`
	URLs      int64      `json:"urls"`
	Waiting   int64      `json:"waiting"`
	Sent      int64      `json:"sent"`
	Confirmed int64      `json:"confirmed"`
	Resent    int64      `json:"resent"`
	Dead      int64      `json:"dead"`
	Flushed   int64      `json:"flushed"`
	DoneMeans string     `json:"done_means"`
	Done      bool       `json:"done"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
	Open      bool       `json:"open,omitempty"`
	Callback  string     `json:"callback,omitempty"`
	NotDone   []string   `json:"not_done,omitempty"`
	Accounts  []string   `json:"accounts,omitempty"`
}

// What RequestStatus.DoneMeans says.
const (
	DoneMeansConfirmed = "confirmed"
	DoneMeansSent      = "sent"
)

// WebhookData is the body of a webhook event about a request: its status, and for a dead URL
// the URL.
type WebhookData struct {
	RequestStatus
	URL string `json:"url,omitempty"`
}

// ReadRequest reads request id from the stores of every account it may have a part in, and adds
// the parts up. An unknown or expired ID matches store.ErrNoRequest.
// One store costs what a deployment of one account always did: one read of the record, and
// one of its open URLs while it is not done.
func ReadRequest(ctx context.Context, stores []*store.Store, id string) (*RequestStatus, error) {
	var out *RequestStatus
	for _, st := range stores {
		s, err := readPart(ctx, st, id)
		if errors.Is(err, store.ErrNoRequest) {
			if len(stores) == 1 {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out = addPart(out, s)
	}
	if out == nil {
		return nil, fmt.Errorf("%s: %w", id, store.ErrNoRequest)
	}
	return out, nil
}

// readPart reads the part of request id in st.
func readPart(ctx context.Context, st *store.Store, id string) (*RequestStatus, error) {
	r, err := st.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	s := StatusOf(r)
	if s.Done {
		return s, nil
	}
	open, err := st.OpenURLs(ctx, id, r.Sample)
	if err != nil {
		return nil, fmt.Errorf("store: reading request %s: %w", id, err)
	}
	if len(open) == 0 {
		open = notSentSince(ctx, st, r)
	}
	s.NotDone = open
	return s, nil
}

// addPart adds part p to the status s (nil for none yet) and returns it.
func addPart(s, p *RequestStatus) *RequestStatus {
	if s == nil {
		return p
	}
	if len(s.Accounts) == 0 {
		s.Accounts = []string{s.Account}
	}
	s.Accounts = append(s.Accounts, p.Account)
	s.URLs += p.URLs
	s.Waiting += p.Waiting
	s.Sent += p.Sent
	s.Confirmed += p.Confirmed
	s.Resent += p.Resent
	s.Dead += p.Dead
	s.Flushed += p.Flushed
	if p.MadeAt.Before(s.MadeAt) {
		s.MadeAt = p.MadeAt
	}
	if p.DoneMeans == DoneMeansConfirmed {
		s.DoneMeans = DoneMeansConfirmed
	}
	s.Open = s.Open || p.Open
	if s.Callback == "" {
		s.Callback = p.Callback
	}
	s.NotDone = append(s.NotDone, p.NotDone...)
	if len(s.NotDone) > store.RequestSampleSize {
		s.NotDone = s.NotDone[:store.RequestSampleSize]
	}
	switch {
	case !s.Done || !p.Done:
		s.Done, s.DoneAt = false, nil
	case p.DoneAt.After(*s.DoneAt):
		s.DoneAt = p.DoneAt
	}
	return s
}

// StatusOf is the status of the request record r, without NotDone.
func StatusOf(r store.Request) *RequestStatus {
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
