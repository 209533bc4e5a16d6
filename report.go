package cipurge

import (
	"context"
	"fmt"
	"slices"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// Outcome is what happened to one input URL.
type Outcome int

// Outcomes of Enqueue.
const (
	Enqueued         Outcome = iota // a new request is waiting for its window
	AlreadyPending                  // an earlier request for the same key is still waiting and covers it
	DuplicateInInput                // the same key appeared earlier in the same call
	Rejected                        // the input is not a valid image URL for this configuration
)

func (o Outcome) String() string {
	switch o {
	case Enqueued:
		return "enqueued"
	case AlreadyPending:
		return "already pending"
	case DuplicateInInput:
		return "duplicate"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// MarshalText makes an Outcome print as its name in JSON.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Result is the outcome for one input URL.
type Result struct {
	Input   string  `json:"input"`
	Key     string  `json:"key,omitempty"`
	Prefix  bool    `json:"prefix,omitempty"` // the key is a prefix (a folder ending with /*): it covers every image under it
	Outcome Outcome `json:"outcome"`
	// Account is the account the URL was routed to, for a client of several accounts.
	Account string `json:"account,omitempty"`
	Err     error  `json:"-"`                // with Rejected: an *InvalidURLError
	Reason  string `json:"reason,omitempty"` // Err's text, for JSON
	// Untracked: the URL already counts for as many open requests as it may, so the request does
	// not count it. It is queued all the same.
	Untracked bool `json:"untracked,omitempty"`
}

// Report is the outcome of one Enqueue call: a Result per input, in input order, and counts.
type Report struct {
	// RequestID names the request: Inspector.Request reads its progress.
	RequestID string `json:"request_id"`
	// Replayed: the idempotency key made RequestID earlier, and this call queued nothing.
	// Its URLs then show as AlreadyPending.
	Replayed       bool     `json:"replayed,omitempty"`
	Results        []Result `json:"results"`
	Enqueued       int      `json:"enqueued"`
	AlreadyPending int      `json:"already_pending"`
	Duplicates     int      `json:"duplicates"`
	Rejected       int      `json:"rejected"`
}

// queueKeys adds keys to the open request id, ends it, and adds them to the pending set, all
// in the account of l. On an error nothing of this account is queued, and the idempotency key
// (o's) is forgotten, so that a retry queues.
func queueKeys(ctx context.Context, l *lane, o enqueueConfig, id string, keys []string, idx []int, r *Report) error {
	p := l.p
	ro := o.requestOptions(true, l)
	ro.IdempotencyKey = ""
	unlinked, err := p.AddToRequest(ctx, id, keys, ro, true)
	if err == nil && len(keys) > 0 {
		var added []bool
		added, err = p.AddKeys(ctx, o.source, keys)
		for j, i := range idx {
			if err == nil && !added[j] {
				r.Results[i].Outcome = AlreadyPending
			}
		}
	}
	if err != nil {
		p.ForgetIdempotencyKey(context.WithoutCancel(ctx), o.idemKey)
		return apiError("enqueue", err)
	}
	for _, j := range unlinked {
		r.Results[idx[j]].Untracked = true
	}
	return nil
}

// rejected is the Result of an input the normaliser refused with err.
func rejected(raw string, err error) Result {
	err = apiError("normalise", err)
	return Result{Input: raw, Outcome: Rejected, Err: err, Reason: err.Error()}
}

// enqueuePart is one account's share of an Enqueue: its new keys and their inputs' indexes.
type enqueuePart struct {
	l    *lane
	keys []string
	idx  []int
}

// enqueue normalises urls, drops repeats, and adds the new keys to the pending set of each URL's
// account. It is Client.Enqueue and the deprecated Producer's EnqueueURLsFrom.
// It first opens the request and links its keys, so that every move of theirs finds the record.
// A request whose URLs span accounts has a part in each, under one ID. The first account's part
// holds the idempotency key.
func (c *Client) enqueue(ctx context.Context, o enqueueConfig, urls []string) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	// The folders follow the URLs: each is read as a prefix, and its results follow theirs.
	folders := o.folders
	n := len(urls) + len(folders)
	r := &Report{Results: make([]Result, n)}
	var parts []*enqueuePart
	in := c.ingest(o.account)
	for i, raw := range append(urls[:len(urls):len(urls)], folders...) {
		if i == len(urls) {
			in.Folders()
		}
		key, dup, err := in.Add(raw)
		res := Result{Input: raw, Key: key, Prefix: normalize.IsPrefix(key), Outcome: Enqueued}
		switch {
		case err != nil:
			res = rejected(raw, err)
		case dup:
			res.Outcome = DuplicateInInput
		}
		if err == nil && c.several() {
			res.Account = in.Account()
		}
		r.Results[i] = res
		if err != nil || dup {
			continue
		}
		l, _ := c.lane(in.Account())
		k := slices.IndexFunc(parts, func(p *enqueuePart) bool { return p.l == l })
		if k < 0 {
			k, parts = len(parts), append(parts, &enqueuePart{l: l})
		}
		parts[k].keys, parts[k].idx = append(parts[k].keys, key), append(parts[k].idx, i)
	}
	if len(parts) == 0 {
		home, _ := c.lane(o.account)
		parts = []*enqueuePart{{l: home}}
	}
	id, made, err := parts[0].l.p.OpenRequest(ctx, o.requestOptions(true, parts[0].l))
	if err != nil {
		return nil, apiError("record the request", err)
	}
	r.RequestID, r.Replayed = id, !made
	if made {
		if err := c.queueParts(ctx, o, id, parts, r); err != nil {
			return nil, err
		}
	} else {
		for _, p := range parts {
			for _, i := range p.idx {
				r.Results[i].Outcome = AlreadyPending
			}
		}
	}
	r.count()
	return r, nil
}

// queueParts queues each part's keys under id. The first part's record is open already; each
// other part's opens in its account just before its keys are queued.
// A failure of the first part queued nothing: the error is returned.
// A failure of a later part leaves the earlier parts queued. Its URLs are then Rejected with
// the error, which says they were not queued.
func (c *Client) queueParts(ctx context.Context, o enqueueConfig, id string, parts []*enqueuePart, r *Report) error {
	for k, p := range parts {
		po := o
		if k > 0 {
			po.idemKey = ""
			ro := o.requestOptions(true, p.l)
			ro.IdempotencyKey, ro.ID = "", id
			if _, _, err := p.l.p.OpenRequest(ctx, ro); err != nil {
				failPart(p, apiError("record the request", err), r)
				continue
			}
		}
		err := queueKeys(ctx, p.l, po, id, p.keys, p.idx, r)
		switch {
		case err != nil && k == 0:
			return err
		case err != nil:
			failPart(p, err, r)
		}
	}
	return nil
}

// failPart marks the URLs of part p not queued: Rejected with err.
func failPart(p *enqueuePart, err error, r *Report) {
	for _, i := range p.idx {
		r.Results[i].Outcome, r.Results[i].Err, r.Results[i].Reason = Rejected, err, "not queued in the account "+p.l.name+": "+err.Error()
	}
}

// count sets the report's counts from its results.
func (r *Report) count() {
	for _, res := range r.Results {
		switch res.Outcome {
		case Enqueued:
			r.Enqueued++
		case AlreadyPending:
			r.AlreadyPending++
		case DuplicateInInput:
			r.Duplicates++
		case Rejected:
			r.Rejected++
		}
	}
}
