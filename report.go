package cipurge

import (
	"context"
	"fmt"

	"github.com/cipurge/cipurge/internal/producer"
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
	Err     error   `json:"-"`                // with Rejected: an *InvalidURLError
	Reason  string  `json:"reason,omitempty"` // Err's text, for JSON
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

// queueKeys adds keys to the open request id, ends it, and adds them to the pending set.
// On an error nothing is queued, and the idempotency key is forgotten, so that a retry queues.
func queueKeys(ctx context.Context, p *producer.Producer, o enqueueConfig, id string, keys []string, idx []int, r *Report) error {
	unlinked, err := p.AddToRequest(ctx, id, keys, o.requestOptions(true), true)
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

// enqueue normalises urls, drops repeats, and adds the new keys to the pending set.
// It is Client.Enqueue and the deprecated Producer's EnqueueURLsFrom.
// It first opens the request and links its keys, so that every move of theirs finds the record.
func enqueue(ctx context.Context, p *producer.Producer, norm *normalize.Normalizer, o enqueueConfig, urls []string) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	// The folders follow the URLs: each is read as a prefix, and its results follow theirs.
	folders := o.folders
	n := len(urls) + len(folders)
	r := &Report{Results: make([]Result, n)}
	keys := make([]string, 0, n)
	idx := make([]int, 0, n)
	in := producer.NewIngest(norm)
	for i, raw := range append(urls[:len(urls):len(urls)], folders...) {
		if i == len(urls) {
			in.Folders()
		}
		key, dup, err := in.Add(raw)
		switch {
		case err != nil:
			r.Results[i] = rejected(raw, err)
		case dup:
			r.Results[i] = Result{Input: raw, Key: key, Prefix: normalize.IsPrefix(key), Outcome: DuplicateInInput}
		default:
			r.Results[i] = Result{Input: raw, Key: key, Prefix: normalize.IsPrefix(key), Outcome: Enqueued}
			keys = append(keys, key)
			idx = append(idx, i)
		}
	}
	ro := o.requestOptions(true)
	id, made, err := p.OpenRequest(ctx, ro)
	if err != nil {
		return nil, apiError("record the request", err)
	}
	r.RequestID, r.Replayed = id, !made
	switch {
	case !made:
		for _, i := range idx {
			r.Results[i].Outcome = AlreadyPending
		}
	default:
		if err := queueKeys(ctx, p, o, id, keys, idx, r); err != nil {
			return nil, err
		}
	}
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
	return r, nil
}
