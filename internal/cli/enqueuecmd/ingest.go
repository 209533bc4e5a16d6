package enqueuecmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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
	folders  bool   // --prefix: every input is a folder
	// root takes a root prefix (a whole host, alias or token) that --confirm confirms; nil: it is
	// rejected, with the fix.
	root func(key string)
	// route gives each URL its account (Config.Accounts); nil: every URL is norm's.
	route   producer.Router
	account string // --account: the account of every URL, or "" for each URL's form
	// recordAccount is the account the request's record names: the deployment's one account.
	recordAccount string
	// lanes are the producers of several accounts, by name: each URL's key goes to its
	// account's, and the request has a part in each account it touches. nil: prod takes every key.
	lanes map[string]*producer.Producer
	// home is the account whose part of the request opens first and holds the idempotency key,
	// with lanes: --account's, else the first declared.
	home string
}

// part is one account's share of a run: its producer and its part of the request.
type part struct {
	name string
	prod *producer.Producer
	ro   store.NewRequestOptions
}

// keyBatch is keys of one account, to enqueue at once.
type keyBatch struct {
	p    *part
	keys []string
}

// requestOptions is the record of the run's request.
func (o ingestOptions) requestOptions() store.NewRequestOptions {
	return store.NewRequestOptions{IdempotencyKey: o.idemKey, Callback: o.callback, Confirm: true, Link: !o.bulk, Account: o.recordAccount}
}

// ingest reads src, normalises each line and drops duplicates within the input (producer.Ingest,
// the producers' one rule), rejects bad lines on stderr with their number, and enqueues the rest
// in batches from o.senders goroutines (or prints them with dryRun), in constant memory.
func ingest(ctx context.Context, src source, norm *normalize.Normalizer, prod *producer.Producer, o ingestOptions, stdout io.Writer, msgs *printer) (*summary, error) {
	r := &ingestRun{o: o, msgs: msgs, start: time.Now(), out: bufio.NewWriterSize(stdout, 64<<10), parts: map[string]*part{}}
	r.home = &part{name: o.home, prod: prod, ro: o.requestOptions()}
	if o.lanes != nil {
		r.home.prod, r.home.ro.Account = o.lanes[o.home], o.home
		r.parts[o.home] = r.home
	}
	defer r.out.Flush()
	ctx, r.cancel = context.WithCancelCause(ctx)
	defer r.cancel(nil)
	if replayed, err := r.open(ctx); err != nil || replayed != nil {
		return replayed, err
	}
	batches := make(chan keyBatch, o.senders*2)
	var wg sync.WaitGroup
	for range o.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.send(ctx, batches)
		}()
	}
	stopProgress := func() {}
	if o.progress {
		stopProgress = msgs.progress(&r.c, r.start)
	}
	in := producer.NewIngest(norm)
	if o.route != nil {
		in = producer.NewRoutedIngest(o.route, o.account)
	}
	if o.folders {
		in.Folders()
	}
	readErr := r.read(ctx, src, in, batches)
	close(batches)
	wg.Wait()
	stopProgress()
	if r.reqID != "" && ctx.Err() == nil && readErr == nil {
		for _, p := range r.allParts() {
			if _, err := p.prod.AddToRequest(ctx, r.reqID, nil, p.ro, true); err != nil {
				r.cancel(err)
				break
			}
		}
	}
	s := r.summary()
	if readErr != nil {
		return s, fmt.Errorf("read input at line %d: %w", s.Lines+1, readErr)
	}
	if err := context.Cause(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// ingestRun is one ingest at work.
type ingestRun struct {
	o           ingestOptions
	home        *part            // the part that opens first; the only one without lanes
	parts       map[string]*part // with lanes: the parts opened so far, by account; the read loop adds them
	msgs        *printer
	start       time.Time
	out         *bufio.Writer
	cancel      context.CancelCauseFunc
	requestedAt time.Time // bulk: the request time of every task
	reqID       string    // the run's request; "" for a dry run
	c           counts
	rejections  []rejection
}

// open reads the bulk request time and opens the run's request, unless it is a dry run.
// A run whose idempotency key an earlier run used gets that run's summary back.
func (r *ingestRun) open(ctx context.Context) (replayed *summary, err error) {
	if r.o.dryRun {
		return nil, nil
	}
	if r.o.bulk {
		if r.requestedAt, err = r.home.prod.Now(ctx); err != nil {
			return nil, err
		}
	}
	id, made, err := r.home.prod.OpenRequest(ctx, r.home.ro)
	if err != nil {
		return nil, err
	}
	if !made {
		return &summary{Mode: "replayed", RequestID: id, Replayed: true}, nil
	}
	r.reqID = id
	return nil, nil
}

// allParts returns every part of the run's request opened so far.
func (r *ingestRun) allParts() []*part {
	if r.o.lanes == nil {
		return []*part{r.home}
	}
	out := make([]*part, 0, len(r.parts))
	for _, p := range r.parts {
		out = append(out, p)
	}
	return out
}

// partOf returns the part of account, opening it under the run's request ID when it is new.
// Without lanes every account's keys go to the one part.
func (r *ingestRun) partOf(ctx context.Context, account string) (*part, error) {
	if r.o.lanes == nil {
		return r.home, nil
	}
	if p, ok := r.parts[account]; ok {
		return p, nil
	}
	p := &part{name: account, prod: r.o.lanes[account], ro: r.o.requestOptions()}
	p.ro.IdempotencyKey, p.ro.ID, p.ro.Account = "", r.reqID, account
	if !r.o.dryRun {
		if _, _, err := p.prod.OpenRequest(ctx, p.ro); err != nil {
			return nil, err
		}
	}
	r.parts[account] = p
	return p, nil
}

// send enqueues the batches of keys until the channel closes.
// After a failure it cancels the run and drains the rest.
func (r *ingestRun) send(ctx context.Context, batches <-chan keyBatch) {
	for b := range batches {
		if ctx.Err() != nil {
			continue // drain after a failure
		}
		if err := r.sendOne(ctx, b.p, b.keys); err != nil {
			r.cancel(err)
		}
	}
}

// sendOne adds keys to the run's request and enqueues them, in the account of p.
func (r *ingestRun) sendOne(ctx context.Context, p *part, keys []string) error {
	if _, err := p.prod.AddToRequest(ctx, r.reqID, keys, p.ro, false); err != nil {
		return err
	}
	if r.o.bulk {
		n, err := p.prod.EnqueueBulk(ctx, r.o.source, r.reqID, r.requestedAt, keys)
		r.c.Requests.Add(int64(n))
		if err != nil {
			return err
		}
		r.c.Enqueued.Add(int64(len(keys)))
		return nil
	}
	added, err := p.prod.AddKeys(ctx, r.o.source, keys)
	if err != nil {
		return err
	}
	for _, a := range added {
		if a {
			r.c.Enqueued.Add(1)
		} else {
			r.c.AlreadyPending.Add(1)
		}
	}
	return nil
}

// read reads src line by line and hands the new keys to batches, o.batch at a time per account.
// It returns the error reading src, if any; what was read before it is still enqueued.
func (r *ingestRun) read(ctx context.Context, src source, in *producer.Ingest, batches chan<- keyBatch) error {
	_, isFile := src.(*lineReader)
	held := map[*part][]string{}
	var order []*part
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
		r.c.Lines.Add(1)
		if tooLong {
			r.reject(num, fmt.Sprintf("line is longer than %d bytes: split it or fix the file", normalize.MaxInputLen))
			continue
		}
		trimmed := bytes.TrimSpace(line)
		if isFile && (len(trimmed) == 0 || trimmed[0] == '#') {
			r.c.Skipped.Add(1)
			continue
		}
		key, ok := r.accept(num, trimmed, in)
		if !ok {
			continue
		}
		p, err := r.partOf(ctx, in.Account())
		if err != nil {
			r.cancel(err)
			break
		}
		batch, seen := held[p]
		if !seen {
			order = append(order, p)
			batch = make([]string, 0, r.o.batch)
		}
		batch = append(batch, key)
		if len(batch) == r.o.batch {
			batches <- keyBatch{p: p, keys: batch}
			batch = make([]string, 0, r.o.batch)
		}
		held[p] = batch
	}
	for _, p := range order {
		if len(held[p]) > 0 && ctx.Err() == nil {
			batches <- keyBatch{p: p, keys: held[p]}
		}
	}
	return readErr
}

// accept normalises one line and counts it.
// ok is true when its key is new and is to be enqueued.
func (r *ingestRun) accept(num int, line []byte, in *producer.Ingest) (key string, ok bool) {
	key, dup, err := in.Add(string(line))
	var root *producer.RootPrefixError
	if errors.As(err, &root) && r.o.root != nil && !r.o.dryRun {
		r.c.Accepted.Add(1)
		r.o.root(root.Key)
		return "", false
	}
	if root != nil {
		r.reject(num, err.Error()+"; to send it, confirm it as a flush-all: --confirm=<your CLOUDIMAGE_TOKEN value>")
		return "", false
	}
	if err != nil {
		r.reject(num, err.Error())
		return "", false
	}
	r.c.Accepted.Add(1)
	if r.o.dryRun {
		r.out.WriteString(key)
		r.out.WriteByte('\n')
	}
	if dup {
		r.c.Duplicates.Add(1)
		return "", false
	}
	return key, !r.o.dryRun
}

// reject counts line num as rejected for reason and says so on stderr.
func (r *ingestRun) reject(num int, reason string) {
	r.c.Rejected.Add(1)
	rej := rejection{Line: num, Reason: reason}
	r.rejections = appendRejection(r.rejections, rej)
	r.msgs.reject(rej)
}

// summary is what the run did.
func (r *ingestRun) summary() *summary {
	c := &r.c
	s := &summary{
		RequestID: r.reqID, Mode: "interactive", Lines: c.Lines.Load(), Skipped: c.Skipped.Load(), Accepted: c.Accepted.Load(),
		Enqueued: c.Enqueued.Load(), AlreadyPending: c.AlreadyPending.Load(), Duplicates: c.Duplicates.Load(),
		Rejected: c.Rejected.Load(), Requests: c.Requests.Load(), Seconds: time.Since(r.start).Seconds(), Rejections: r.rejections,
	}
	switch {
	case r.o.dryRun:
		s.Mode = "dry-run"
	case r.o.bulk:
		s.Mode = "bulk"
	}
	return s
}

func appendRejection(rs []rejection, r rejection) []rejection {
	if len(rs) < rejectionsListed {
		rs = append(rs, r)
	}
	return rs
}
