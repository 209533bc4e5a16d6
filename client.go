package cipurge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Client requests invalidations: the write side of the API.
// It is safe for concurrent use.
type Client struct {
	p     *producer.Producer // the first lane's: the deprecated Producer writes through it
	lanes []*lane            // one per account, in declared order; one without WithAccounts
	set   *accounts.Set      // routes each URL to its account; nil without WithAccounts
}

// ClientOption configures a Client.
type ClientOption func(*clientConfig)

type clientConfig struct {
	settings producer.Settings
	token    string
	cooldown time.Duration
	account  string
	accounts *Accounts
}

// DefaultAccount is the name of the account of a deployment that declares none.
const DefaultAccount = tasks.DefaultAccount

// WithAccountName names the Cloudimage account the client writes for: DefaultAccount unless set.
// A request's WithAccount must name it.
// The name is 1 to 32 lower-case letters, digits, "-" and "_".
// A client of several accounts is built WithAccounts instead.
func WithAccountName(name string) ClientOption {
	return func(c *clientConfig) { c.account = name }
}

// MaxMaxRetry is the most retries WithMaxRetry accepts.
const MaxMaxRetry = defaults.MaxRetryLimit

// DefaultPolicyEvery is how often a Client reads Redis's maxmemory-policy again.
// A Redis switched to an allkeys-* policy is refused at most this long after the switch.
const DefaultPolicyEvery = defaults.PolicyEvery

// WithMaxRetry sets how many times a failed bulk request or flush-all is retried before it is
// dead-lettered: 0 to MaxMaxRetry. The default is 10.
func WithMaxRetry(n int) ClientOption {
	return func(c *clientConfig) { c.settings.MaxRetry = n }
}

// WithBatchSize sets how many URLs go in one API request of a bulk task.
// It takes 1 to 15, the API's cap, which is the default.
func WithBatchSize(n int) ClientOption {
	return func(c *clientConfig) { c.settings.BatchSize = n }
}

// WithPolicyEvery sets how often the client reads Redis's maxmemory-policy again.
// d must be positive; the default is DefaultPolicyEvery.
// A shorter period notices a switch to allkeys-* sooner, at one CONFIG GET per period.
func WithPolicyEvery(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.settings.PolicyEvery = d }
}

// WithRedisNotes makes the client say, through note, what the Redis it writes to costs.
// It says so for a volatile-* maxmemory-policy, which may evict history, or a policy it cannot read.
// Each is said once.
// An allkeys-* policy is refused either way, with an *EvictionError.
func WithRedisNotes(note func(string)) ClientOption {
	return func(c *clientConfig) { c.settings.Note = note }
}

// WithReplicaWait makes every write that acknowledges URLs wait until n replicas hold it (Redis's
// WAIT), for at most timeout. Enqueue and the bulk writes then return only once the replicas
// hold the URLs, so a failover right after cannot lose them.
// Fewer replicas within timeout is a *ReplicaError; the URLs are then on the master only, and a
// retry is safe.
// n 0 (the default) does not wait. timeout must be positive and shorter than rdb's read timeout.
func WithReplicaWait(n int, timeout time.Duration) ClientOption {
	return func(c *clientConfig) { c.settings.Replicas = store.Replicas{N: n, Timeout: timeout} }
}

// WithFlushAll lets the client request flush-alls.
// token is the Cloudimage token: a flush-all request must be confirmed with it.
// cooldown is the least time between two flush-alls, 0 or more.
// Without this option every flush-all request is refused with ErrFlushAllNoToken.
func WithFlushAll(token string, cooldown time.Duration) ClientOption {
	return func(c *clientConfig) { c.token, c.cooldown = token, cooldown }
}

// NewClient returns a Client that writes to rdb and normalises URLs with norm.
// rdb may be a client, a failover client or a cluster client; the caller keeps and closes it.
// With WithAccounts, norm may be nil: each account normalises with its own URL rules.
// A setting out of range is an *OptionError.
func NewClient(rdb redis.UniversalClient, norm *normalize.Normalizer, opts ...ClientOption) (*Client, error) {
	if rdb == nil {
		return nil, &OptionError{Option: "NewClient", Value: "nil", Reason: "a Redis client is required"}
	}
	c := configure(opts)
	if norm == nil && c.accounts == nil {
		return nil, &OptionError{Option: "NewClient", Value: "nil", Reason: "a normalize.Normalizer is required: build one with normalize.New"}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.accounts != nil {
		lanes := lanesOf(rdb, c.accounts, c.settings)
		return &Client{p: lanes[0].p, lanes: lanes, set: c.accounts.set}, nil
	}
	return newSingle(producer.New(rdb, c.settings), norm, c), nil
}

// newSingle is the client of one account, which writes with p and norm.
func newSingle(p *producer.Producer, norm *normalize.Normalizer, c clientConfig) *Client {
	return &Client{p: p, lanes: []*lane{{name: c.account, p: p, norm: norm, token: c.token, cooldown: c.cooldown}}}
}

// configure applies opts over the defaults.
func configure(opts []ClientOption) clientConfig {
	c := clientConfig{account: DefaultAccount, settings: producer.Settings{MaxRetry: defaults.MaxRetry, BatchSize: defaults.BatchSize, PolicyEvery: DefaultPolicyEvery}}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func (c *clientConfig) validate() error {
	s := c.settings
	switch {
	case s.MaxRetry < 0 || s.MaxRetry > MaxMaxRetry:
		return &OptionError{Option: "WithMaxRetry", Value: strconv.Itoa(s.MaxRetry), Reason: fmt.Sprintf("use 0 to %d", MaxMaxRetry)}
	case s.BatchSize < 1 || s.BatchSize > tasks.MaxURLsPerTask:
		return &OptionError{Option: "WithBatchSize", Value: strconv.Itoa(s.BatchSize), Reason: fmt.Sprintf("use 1 to %d, the API's cap", tasks.MaxURLsPerTask)}
	case s.PolicyEvery <= 0:
		return &OptionError{Option: "WithPolicyEvery", Value: s.PolicyEvery.String(), Reason: "use a positive period"}
	case s.Replicas.N < 0:
		return &OptionError{Option: "WithReplicaWait", Value: strconv.Itoa(s.Replicas.N), Reason: "use the number of replicas, or 0 not to wait"}
	case s.Replicas.On() && s.Replicas.Timeout <= 0:
		return &OptionError{Option: "WithReplicaWait", Value: s.Replicas.Timeout.String(), Reason: "use a positive timeout, e.g. time.Second"}
	case c.cooldown < 0:
		return &OptionError{Option: "WithFlushAll", Value: c.cooldown.String(), Reason: "the cooldown must be 0 or more"}
	}
	if p := tasks.CheckAccountName(c.account); p != "" {
		return &OptionError{Option: "WithAccountName", Value: c.account, Reason: "the name " + p}
	}
	if c.accounts != nil && c.account != DefaultAccount {
		return &OptionError{Option: "WithAccountName", Value: c.account, Reason: "WithAccounts names the accounts: leave WithAccountName out"}
	}
	if c.accounts != nil && c.token != "" {
		return &OptionError{Option: "WithFlushAll", Value: "", Reason: "with WithAccounts each account's flush-all is confirmed with its own token, under its own cooldown: leave WithFlushAll out"}
	}
	return nil
}

// EnqueueOption shapes one request.
type EnqueueOption func(*enqueueConfig)

type enqueueConfig struct {
	account  string
	source   string
	idemKey  string
	callback string
	folders  []string
}

// MaxIdempotencyKey bounds the key WithIdempotencyKey takes, in bytes.
const MaxIdempotencyKey = store.MaxIdempotencyKey

// WithIdempotencyKey makes a retried call safe: a call with a key that an earlier call used,
// within the history's TTL, queues nothing and returns that call's request ID.
// The key is at most MaxIdempotencyKey bytes.
func WithIdempotencyKey(key string) EnqueueOption {
	return func(c *enqueueConfig) { c.idemKey = key }
}

// WithCallback sets the URL the worker posts the request's events to, signed.
// It must be https, or http to a loopback address.
// Without it, the worker's default receiver gets them, if it has one.
func WithCallback(url string) EnqueueOption {
	return func(c *enqueueConfig) { c.callback = url }
}

// check refuses a key or a callback out of range.
func (c enqueueConfig) check() error {
	if len(c.idemKey) > MaxIdempotencyKey {
		return &OptionError{Option: "WithIdempotencyKey", Value: c.idemKey[:16] + "...", Reason: fmt.Sprintf("use at most %d bytes", MaxIdempotencyKey)}
	}
	if c.callback != "" {
		if err := webhook.CheckTarget(c.callback); err != nil {
			return &OptionError{Option: "WithCallback", Value: "", Reason: err.Error()}
		}
	}
	return nil
}

// requestOptions is the record of a request made with c: its part in the account of l.
func (c enqueueConfig) requestOptions(link bool, l *lane) store.NewRequestOptions {
	return store.NewRequestOptions{IdempotencyKey: c.idemKey, Callback: c.callback, Confirm: true, Link: link, Account: l.name}
}

// WithAccount names the account of every URL of the request, over what the URL's form says.
// It must be an account the client writes for: one of WithAccounts, or the client's one account
// (WithAccountName, or DefaultAccount). Another name is an *OptionError and nothing is queued.
func WithAccount(name string) EnqueueOption {
	return func(c *enqueueConfig) { c.account = name }
}

// checkAccount refuses a request for an account the client does not write for.
func (c *Client) checkAccount(o enqueueConfig) error {
	if _, err := c.lane(o.account); err != nil {
		if !c.several() {
			err = fmt.Errorf("no account is named %q: this client writes for the account %q only", o.account, c.lanes[0].name)
		}
		return &OptionError{Option: "WithAccount", Value: o.account, Reason: err.Error()}
	}
	return nil
}

// WithSource sets a free-text source or reason, such as "cms: image 42 replaced".
// It travels with the request and shows in asynqmon.
func WithSource(source string) EnqueueOption {
	return func(c *enqueueConfig) { c.source = source }
}

// WithPrefixes adds folders to the request: each is a prefix, which invalidates every image under
// it in one search of Cloudimage's log (see docs/usage.md, Folders). A trailing / or /* is
// optional. Their results follow those of the URLs, in order. A prefix of a whole host, alias or
// token is rejected: it goes only as a flush-all does (FlushAllRequest.Prefix). URLs given as
// such, ending with /*, are read as prefixes too.
func WithPrefixes(folders ...string) EnqueueOption {
	return func(c *enqueueConfig) { c.folders = append(c.folders, folders...) }
}

func enqueueOptions(opts []EnqueueOption) enqueueConfig {
	var c enqueueConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Enqueue normalises urls and requests their invalidation.
// The report says per URL whether it was enqueued, was already pending, repeated an earlier
// input, or was rejected with the reason.
// The report's RequestID names the request: Inspector.Request reads its progress.
// The error is set only when nothing of this call was queued.
// It is then an *OptionError, an *EvictionError, a *PolicyUnknownError or a *RedisError.
func (c *Client) Enqueue(ctx context.Context, urls []string, opts ...EnqueueOption) (*Report, error) {
	o := enqueueOptions(opts)
	if err := c.checkAccount(o); err != nil {
		return nil, err
	}
	return c.enqueue(ctx, o, urls)
}

// FlushAllRequest is one request for a flush-all.
type FlushAllRequest struct {
	Confirm     string // must equal the token given to WithFlushAll
	RequestedBy string // who asks, such as a user or a host name
	Reason      string // why, for whoever reads the queue later
	// Prefix, when set, is a prefix of a whole host, alias or token ("https://img.example.com/*")
	// to send in place of a flush-all: confirmed, cooled down and sent once as a flush-all is.
	// A prefix below a host is refused here: enqueue it (WithPrefixes).
	Prefix string
	// Account names the account to flush, for a client of several accounts (WithAccounts); it
	// is then required. Confirm is that account's token. A client of one account flushes it.
	Account string
}

// RequestFlushAll enqueues a flush-all. The confirmation is checked before anything touches Redis.
// A request is refused while another is pending or dead-lettered. It is also refused within the
// cooldown of the last flush-all that may have reached Cloudimage. A refusal is a
// *FlushRefusedError. Its Cause is one of the ErrFlushAll* errors. Any other error is an
// *EvictionError, a *PolicyUnknownError or a *RedisError. After such an error, nothing was
// enqueued.
func (c *Client) RequestFlushAll(ctx context.Context, req FlushAllRequest) error {
	if c.several() && req.Account == "" {
		return &OptionError{Option: "FlushAllRequest.Account", Value: "", Reason: "name the account to flush: one of " + strings.Join(c.names(), ", ")}
	}
	l, err := c.lane(req.Account)
	if err != nil {
		return &OptionError{Option: "FlushAllRequest.Account", Value: req.Account, Reason: err.Error()}
	}
	var root string
	if req.Prefix != "" {
		_, _, err := producer.NewIngest(l.norm).Folders().Add(req.Prefix)
		var rp *producer.RootPrefixError
		if !errors.As(err, &rp) {
			if err == nil {
				err = &normalize.Error{Input: req.Prefix, Reason: "is not a root prefix (a whole host, alias or token): enqueue it with WithPrefixes"}
			}
			return apiError("flush-all", err)
		}
		root = rp.Key
	}
	err = l.p.RequestFlushAll(ctx, producer.FlushAll{Token: l.token, Confirm: req.Confirm, Cooldown: l.cooldown,
		RequestedBy: req.RequestedBy, Reason: req.Reason, Prefix: root})
	return apiError("flush-all", err)
}

// BulkReport is the outcome of one bulk run.
type BulkReport struct {
	RequestID  string   // the request of the run; every URL enqueued counts for it
	Replayed   bool     // the idempotency key made RequestID earlier: nothing was read or enqueued
	URLs       int      // inputs read; EnqueueBulkFrom skips blank lines and # comments
	Enqueued   int      // distinct URLs put in bulk tasks
	Duplicates int      // inputs whose URL came earlier in the same run
	Rejected   int      // inputs that are not valid image URLs
	Requests   int      // API requests' worth of URLs enqueued
	Rejections []Result // the first MaxBulkRejections rejected inputs, with their reasons
}

// MaxBulkRejections bounds BulkReport.Rejections.
const MaxBulkRejections = 100

// EnqueueBulk enqueues urls as bulk tasks, for re-ingest jobs. It normalises urls and drops the
// ones repeated within the run. Bulk tasks skip the pending set and its window. Workers serve them
// only when the interactive queues are empty. The request time of every URL is the Redis clock at
// the start of the run. Memory is constant per distinct URL. On an error, the report says what was
// enqueued before it. Running the same input again is safe.
func (c *Client) EnqueueBulk(ctx context.Context, urls iter.Seq[string], opts ...EnqueueOption) (*BulkReport, error) {
	b, err := c.newBulk(ctx, opts)
	if err != nil || b.rep.Replayed {
		return b.rep, err
	}
	for raw := range urls {
		if err := b.add(ctx, raw); err != nil {
			return b.rep, err
		}
	}
	return b.rep, b.end(ctx)
}

// EnqueueBulkFrom is EnqueueBulk over the lines of r, one URL per line.
// Blank lines and lines that start with # are skipped.
// A failure of r is a *ReadError.
func (c *Client) EnqueueBulkFrom(ctx context.Context, r io.Reader, opts ...EnqueueOption) (*BulkReport, error) {
	b, err := c.newBulk(ctx, opts)
	if err != nil || b.rep.Replayed {
		return b.rep, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if len(line) > 0 && line[0] != '#' {
			if err := b.add(ctx, line); err != nil {
				return b.rep, err
			}
		}
		if errors.Is(err, io.EOF) {
			return b.rep, b.end(ctx)
		}
		if err != nil {
			if ferr := b.flush(ctx); ferr != nil {
				return b.rep, ferr
			}
			return b.rep, &ReadError{Line: n, Err: err}
		}
	}
}

// readLine returns the next line of br without its line ending and surrounding spaces.
// A line longer than normalize.MaxInputLen is cut just past it, so that the normaliser rejects it.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		part, isPrefix, err := br.ReadLine()
		if len(line) <= normalize.MaxInputLen {
			line = append(line, part...)
		}
		if err != nil || !isPrefix {
			if len(line) > normalize.MaxInputLen+1 {
				line = line[:normalize.MaxInputLen+1]
			}
			return string(trimSpace(line)), err
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// bulk is one bulk run: the keys not yet enqueued, per account, and the report.
type bulk struct {
	c     *Client
	in    *producer.Ingest
	o     enqueueConfig
	at    time.Time
	parts map[*lane]*bulkPart // the accounts with URLs so far, and the home one
	rep   *BulkReport
}

// bulkPart is one account's part of a bulk run.
type bulkPart struct {
	l    *lane
	keys []string
	ro   store.NewRequestOptions
}

// newBulk opens the run's request in its home account: the one WithAccount names, else the
// client's first. A key that made a request earlier replays it: rep.Replayed.
// The other accounts' parts open as their first URL comes, under the same ID.
func (c *Client) newBulk(ctx context.Context, opts []EnqueueOption) (*bulk, error) {
	o := enqueueOptions(opts)
	b := &bulk{c: c, in: c.ingest(o.account), o: o, rep: &BulkReport{}, parts: map[*lane]*bulkPart{}}
	if err := o.check(); err != nil {
		return b, err
	}
	if err := c.checkAccount(o); err != nil {
		return b, err
	}
	home, _ := c.lane(o.account)
	at, err := home.p.Now(ctx)
	if err != nil {
		return b, apiError("read the Redis clock", err)
	}
	b.at = at
	ro := o.requestOptions(false, home)
	id, made, err := home.p.OpenRequest(ctx, ro)
	if err != nil {
		return b, apiError("record the request", err)
	}
	b.rep.RequestID, b.rep.Replayed = id, !made
	b.parts[home] = &bulkPart{l: home, ro: ro}
	return b, nil
}

// part returns the part of account l, opening it under the run's ID when it is new.
func (b *bulk) part(ctx context.Context, l *lane) (*bulkPart, error) {
	if p, ok := b.parts[l]; ok {
		return p, nil
	}
	ro := b.o.requestOptions(false, l)
	ro.IdempotencyKey, ro.ID = "", b.rep.RequestID
	if _, _, err := l.p.OpenRequest(ctx, ro); err != nil {
		return nil, apiError("record the request", err)
	}
	p := &bulkPart{l: l, ro: ro}
	b.parts[l] = p
	return p, nil
}

// end enqueues the keys held and ends the run's request in every account.
func (b *bulk) end(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	for _, p := range b.parts {
		if _, err := p.l.p.AddToRequest(ctx, b.rep.RequestID, nil, p.ro, true); err != nil {
			return apiError("end the request", err)
		}
	}
	return nil
}

// add takes one input and enqueues a full set of tasks when one is ready.
func (b *bulk) add(ctx context.Context, raw string) error {
	b.rep.URLs++
	key, dup, err := b.in.Add(raw)
	switch {
	case err != nil:
		b.rep.Rejected++
		if len(b.rep.Rejections) < MaxBulkRejections {
			r := rejected(raw, err)
			var bad *InvalidURLError
			if errors.As(r.Err, &bad) {
				r.Input = bad.Input // cut to a printable length: a bulk input may be long
			}
			b.rep.Rejections = append(b.rep.Rejections, r)
		}
		return nil
	case dup:
		b.rep.Duplicates++
		return nil
	}
	l, _ := b.c.lane(b.in.Account())
	p, err := b.part(ctx, l)
	if err != nil {
		return err
	}
	p.keys = append(p.keys, key)
	if len(p.keys) < b.chunk() {
		return nil
	}
	return b.flushPart(ctx, p)
}

// chunk is how many keys are enqueued at once: 20 bulk tasks.
func (b *bulk) chunk() int { return 20 * tasks.BulkRequests * tasks.MaxURLsPerTask }

// flush enqueues the keys held of every account.
func (b *bulk) flush(ctx context.Context) error {
	for _, p := range b.parts {
		if err := b.flushPart(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// flushPart enqueues the keys held of one account.
func (b *bulk) flushPart(ctx context.Context, p *bulkPart) error {
	if len(p.keys) == 0 {
		return nil
	}
	if _, err := p.l.p.AddToRequest(ctx, b.rep.RequestID, p.keys, p.ro, false); err != nil {
		return apiError("record the request", err)
	}
	n, err := p.l.p.EnqueueBulk(ctx, b.o.source, b.rep.RequestID, b.at, p.keys)
	b.rep.Requests += n
	if err != nil {
		return apiError("enqueue bulk", err)
	}
	b.rep.Enqueued += len(p.keys)
	p.keys = p.keys[:0]
	return nil
}
