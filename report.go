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
	Outcome Outcome `json:"outcome"`
	Err     error   `json:"-"`                // with Rejected: an *InvalidURLError
	Reason  string  `json:"reason,omitempty"` // Err's text, for JSON
}

// Report is the outcome of one Enqueue call: a Result per input, in input order, and counts.
type Report struct {
	Results        []Result `json:"results"`
	Enqueued       int      `json:"enqueued"`
	AlreadyPending int      `json:"already_pending"`
	Duplicates     int      `json:"duplicates"`
	Rejected       int      `json:"rejected"`
}

// rejected is the Result of an input the normaliser refused with err.
func rejected(raw string, err error) Result {
	err = apiError("normalise", err)
	return Result{Input: raw, Outcome: Rejected, Err: err, Reason: err.Error()}
}

// enqueue normalises urls, drops repeats, and adds the new keys to the pending set.
// It is Client.Enqueue and the deprecated Producer's EnqueueURLsFrom.
func enqueue(ctx context.Context, p *producer.Producer, norm *normalize.Normalizer, source string, urls []string) (*Report, error) {
	r := &Report{Results: make([]Result, len(urls))}
	keys := make([]string, 0, len(urls))
	idx := make([]int, 0, len(urls))
	in := producer.NewIngest(norm)
	for i, raw := range urls {
		key, dup, err := in.Add(raw)
		switch {
		case err != nil:
			r.Results[i] = rejected(raw, err)
		case dup:
			r.Results[i] = Result{Input: raw, Key: key, Outcome: DuplicateInInput}
		default:
			r.Results[i] = Result{Input: raw, Key: key, Outcome: Enqueued}
			keys = append(keys, key)
			idx = append(idx, i)
		}
	}
	if len(keys) > 0 {
		added, err := p.AddKeys(ctx, source, keys)
		if err != nil {
			return nil, apiError("enqueue", err)
		}
		for j, i := range idx {
			if !added[j] {
				r.Results[i].Outcome = AlreadyPending
			}
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
