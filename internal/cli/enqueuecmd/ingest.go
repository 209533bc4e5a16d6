package enqueuecmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
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

// maxRejectionsInJSON bounds the rejections a --json summary lists (stderr has them all).
const maxRejectionsInJSON = 1000

// dedupeCap bounds the fingerprints kept to find duplicates within one input (about 70 MB at the
// cap). Past it the set starts again: a later duplicate is then reported as already pending by Redis
// (or dropped at send time), never sent as a new request twice in a window.
const dedupeCap = 2 << 20

// dedupe finds repeated keys with 128-bit fingerprints (two seeded maphash values): a false match
// needs two 64-bit collisions at once, about 1e-26 for a million keys. The set is a map from the
// first half to the second, which Go's maps handle with their fast 64-bit path: measured at a
// million keys, a fifth to a third faster than a map of [2]uint64, and a third smaller (72 MB
// instead of 106 MB at dedupeCap). The rare keys whose first half collides with another key's go
// to a second, small map.
type dedupe struct {
	s1, s2 maphash.Seed
	seen   map[uint64]uint64
	more   map[[2]uint64]struct{}
}

func newDedupe() *dedupe {
	return &dedupe{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), seen: make(map[uint64]uint64, 1024)}
}

// add reports whether key is new.
func (d *dedupe) add(key string) bool {
	h1, h2 := maphash.String(d.s1, key), maphash.String(d.s2, key)
	v, ok := d.seen[h1]
	if !ok {
		if len(d.seen) >= dedupeCap {
			d.seen, d.more = make(map[uint64]uint64, 1024), nil
		}
		d.seen[h1] = h2
		return true
	}
	if v == h2 {
		return false
	}
	fp := [2]uint64{h1, h2}
	if _, ok := d.more[fp]; ok {
		return false
	}
	if d.more == nil {
		d.more = make(map[[2]uint64]struct{})
	}
	d.more[fp] = struct{}{}
	return true
}

// ingestOptions are the enqueue flags that shape a run.
type ingestOptions struct {
	dryRun   bool
	bulk     bool
	source   string
	senders  int // goroutines writing to Redis
	batch    int // keys per Redis call (interactive) or per group of bulk tasks
	progress bool
	json     bool
}

// ingest reads src, normalises each line, rejects bad lines on stderr with their number, drops
// duplicates within the input, and enqueues the rest (or prints them with dryRun).
func ingest(ctx context.Context, src source, norm *normalize.Normalizer, prod *tasks.Producer, o ingestOptions, stdout io.Writer, msgs *printer) (*summary, error) {
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
				if o.bulk {
					n, err := prod.EnqueueBulk(ctx, o.source, requestedAt, keys)
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

	dd := newDedupe()
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
		key, err := norm.Normalize(string(trimmed))
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
		if !dd.add(key) {
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

	s := &summary{
		Mode: "interactive", Lines: c.Lines.Load(), Skipped: c.Skipped.Load(), Accepted: c.Accepted.Load(),
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
	if len(rs) < maxRejectionsInJSON {
		rs = append(rs, r)
	}
	return rs
}
