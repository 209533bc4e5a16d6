package enqueuecmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// source yields input lines: the command's arguments or a file.
type source interface {
	next() (line []byte, num int, tooLong bool, ok bool, err error)
}

type argSource struct {
	args []string
	i    int
}

func (a *argSource) next() ([]byte, int, bool, bool, error) {
	if a.i >= len(a.args) {
		return nil, a.i, false, false, nil
	}
	a.i++
	return []byte(a.args[a.i-1]), a.i, false, true, nil
}

// counts is the run's summary. Fields are updated atomically while the run goes on.
type counts struct {
	Lines          atomic.Int64 `json:"-"`
	Skipped        atomic.Int64 `json:"-"`
	Accepted       atomic.Int64 `json:"-"`
	Enqueued       atomic.Int64 `json:"-"`
	AlreadyPending atomic.Int64 `json:"-"`
	Duplicates     atomic.Int64 `json:"-"`
	Rejected       atomic.Int64 `json:"-"`
	Requests       atomic.Int64 `json:"-"` // bulk: API requests enqueued (in tasks of up to tasks.BulkRequests)
}

// summary is the printable form of counts.
type summary struct {
	Mode           string      `json:"mode"`
	RequestID      string      `json:"request_id,omitempty"`
	Replayed       bool        `json:"replayed,omitempty"` // the idempotency key made the request earlier: nothing was read or enqueued
	Lines          int64       `json:"lines"`
	Skipped        int64       `json:"skipped"`
	Accepted       int64       `json:"accepted"`
	Enqueued       int64       `json:"enqueued"`
	AlreadyPending int64       `json:"already_pending"`
	Duplicates     int64       `json:"duplicates"`
	Rejected       int64       `json:"rejected"`
	Requests       int64       `json:"bulk_requests,omitempty"`
	Seconds        float64     `json:"seconds"`
	Rejections     []rejection `json:"rejections,omitempty"`
	Error          string      `json:"error,omitempty"`
}

type rejection struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// rejectionsListed bounds the rejections printed on stderr (unless --verbose) and listed in a
// --json summary. The summary counts them all.
const rejectionsListed = 1000

// ingestOptions are the enqueue flags that shape a run.
type ingestOptions struct {
	dryRun   bool
	bulk     bool
	source   string
	senders  int // goroutines writing to Redis
	batch    int // keys per Redis call (interactive) or per group of bulk tasks
	progress bool
	json     bool
	idemKey  string // --idempotency-key
	callback string // --callback
}

// requestOptions is the record of the run's request.
func (o ingestOptions) requestOptions() store.NewRequestOptions {
	return store.NewRequestOptions{IdempotencyKey: o.idemKey, Callback: o.callback, Confirm: true, Link: !o.bulk}
}

// ingest reads src, normalises each line and drops duplicates within the input (producer.Ingest,
// the producers' one rule), rejects bad lines on stderr with their number, and enqueues the rest
// in batches from o.senders goroutines (or prints them with dryRun), in constant memory.
func ingest(ctx context.Context, src source, norm *normalize.Normalizer, prod *producer.Producer, o ingestOptions, stdout io.Writer, msgs *printer) (*summary, error) {
	start := time.Now()
	var c counts
	var rejections []rejection
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var requestedAt time.Time
	if o.bulk && !o.dryRun {
		t, err := prod.Now(ctx)
		if err != nil {
			return nil, err
		}
		requestedAt = t
	}
	ro := o.requestOptions()
	var reqID string
	if !o.dryRun {
		id, made, err := prod.OpenRequest(ctx, ro)
		if err != nil {
			return nil, err
		}
		if !made {
			return &summary{Mode: "replayed", RequestID: id, Replayed: true}, nil
		}
		reqID = id
	}

	batches := make(chan []string, o.senders*2)
	var wg sync.WaitGroup
	for range o.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for keys := range batches {
				if ctx.Err() != nil {
					continue // drain after a failure
				}
				if _, err := prod.AddToRequest(ctx, reqID, keys, ro, false); err != nil {
					cancel(err)
					continue
				}
				if o.bulk {
					n, err := prod.EnqueueBulk(ctx, o.source, reqID, requestedAt, keys)
					c.Requests.Add(int64(n))
					if err != nil {
						cancel(err)
						continue
					}
					c.Enqueued.Add(int64(len(keys)))
					continue
				}
				added, err := prod.AddKeys(ctx, o.source, keys)
				if err != nil {
					cancel(err)
					continue
				}
				for _, a := range added {
					if a {
						c.Enqueued.Add(1)
					} else {
						c.AlreadyPending.Add(1)
					}
				}
			}
		}()
	}

	stopProgress := func() {}
	if o.progress {
		stopProgress = msgs.progress(&c, start)
	}

	in := producer.NewIngest(norm)
	batch := make([]string, 0, o.batch)
	var readErr error
	for ctx.Err() == nil {
		line, num, tooLong, ok, err := src.next()
		if err != nil {
			readErr = err
			break
		}
		if !ok {
			break
		}
		c.Lines.Add(1)
		if tooLong {
			c.Rejected.Add(1)
			r := rejection{Line: num, Reason: fmt.Sprintf("line is longer than %d bytes: split it or fix the file", normalize.MaxInputLen)}
			rejections = appendRejection(rejections, r)
			msgs.reject(r)
			continue
		}
		trimmed := bytes.TrimSpace(line)
		if _, isFile := src.(*lineReader); isFile && (len(trimmed) == 0 || trimmed[0] == '#') {
			c.Skipped.Add(1)
			continue
		}
		key, dup, err := in.Add(string(trimmed))
		if err != nil {
			c.Rejected.Add(1)
			r := rejection{Line: num, Reason: err.Error()}
			rejections = appendRejection(rejections, r)
			msgs.reject(r)
			continue
		}
		c.Accepted.Add(1)
		if o.dryRun {
			out.WriteString(key)
			out.WriteByte('\n')
		}
		if dup {
			c.Duplicates.Add(1)
			continue
		}
		if o.dryRun {
			continue
		}
		batch = append(batch, key)
		if len(batch) == o.batch {
			batches <- batch
			batch = make([]string, 0, o.batch)
		}
	}
	if len(batch) > 0 && ctx.Err() == nil {
		batches <- batch
	}
	close(batches)
	wg.Wait()
	stopProgress()
	if reqID != "" && ctx.Err() == nil && readErr == nil {
		if _, err := prod.AddToRequest(ctx, reqID, nil, ro, true); err != nil {
			cancel(err)
		}
	}

	s := &summary{
		RequestID: reqID, Mode: "interactive", Lines: c.Lines.Load(), Skipped: c.Skipped.Load(), Accepted: c.Accepted.Load(),
		Enqueued: c.Enqueued.Load(), AlreadyPending: c.AlreadyPending.Load(), Duplicates: c.Duplicates.Load(),
		Rejected: c.Rejected.Load(), Requests: c.Requests.Load(), Seconds: time.Since(start).Seconds(), Rejections: rejections,
	}
	switch {
	case o.dryRun:
		s.Mode = "dry-run"
	case o.bulk:
		s.Mode = "bulk"
	}
	if readErr != nil {
		return s, fmt.Errorf("read input at line %d: %w", s.Lines+1, readErr)
	}
	if err := context.Cause(ctx); err != nil {
		return s, err
	}
	return s, nil
}

func appendRejection(rs []rejection, r rejection) []rejection {
	if len(rs) < rejectionsListed {
		rs = append(rs, r)
	}
	return rs
}
