package httpserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Queue task states reported by cipurge_queue_tasks, in the order asynq's Inspector names them.
var queueStates = []string{"pending", "active", "scheduled", "retry", "archived", "completed"}

// QueueCollectorOptions configure a QueueCollector. Zero values take the defaults noted.
type QueueCollectorOptions struct {
	// Queues to report. The default is tasks.QueueNames() and webhook.Queue, whose archived
	// tasks are failed deliveries, not dead letters. With Accounts, the default is webhook.Queue:
	// each account's queues are reported with it.
	Queues []string
	// Accounts, when set, are the accounts whose state is read: each one's queues, pending set,
	// pause and dead letters. The series of the pending set, the pause and the dead letters then
	// carry the label account. Unset, the account default is read, without the label.
	Accounts []string
	// CacheFor is how long one reading of Redis serves scrapes (2 s): a flood of scrapes costs
	// Redis one reading per CacheFor.
	CacheFor time.Duration
	// Timeout bounds one reading (3 s). A scrape never waits longer: past it, the scrape reports
	// cipurge_queue_collector_up 0 and the reading goes on in the background, once.
	Timeout time.Duration
	// KeyRejected, when set, says whether Cloudimage rejects the API key of an account's lane in
	// this worker. It reads the lane's send gate, not Redis. It adds cipurge_api_key_rejected,
	// one series per account (the account default without Accounts).
	KeyRejected func(account string) bool
	// SendingStopped, when set, says whether an account's lane in this worker stopped sending:
	// key, TLS or endpoint. It reads the lane's send gate, not Redis. It adds
	// cipurge_sending_stopped, one series per account (the account default without Accounts).
	SendingStopped func(account string) bool
	// Log receives collection errors (nil: none).
	Log *zap.Logger
}

// QueueCollector is a prometheus.Collector for the state in Redis that every worker shares.
// It reads that state as [status.Reader.ReadCounts] does.
// The state is asynq's queue sizes by state and the shared pause.
// It also holds the pending set of URL requests still in their coalescing window.
// Every worker reports the same values.
// Aggregate them with max(), not sum().
//
// Readings are cached for CacheFor.
// Only one reading runs at a time.
// A scrape waits for one at most Timeout.
// So a flood of scrapes does not pile work on Redis.
// Nor does a Redis outage hang /metrics.
//
// A failed reading sets cipurge_queue_collector_up to 0.
// It also counts in cipurge_queue_collector_errors_total.
// The collector's other metrics are then left out, not reported stale.
type QueueCollector struct {
	reader *status.Reader
	o      QueueCollectorOptions

	descTasks, descLatency, descMemory, descQPaused, descProcessed, descFailed *prometheus.Desc
	descPending, descOldest, descPaused, descPauseLeft, descKey, descUp        *prometheus.Desc
	descDead, descStopped, descEvicted                                         *prometheus.Desc
	errors                                                                     prometheus.Counter

	mu       sync.Mutex
	snap     *queueSnapshot
	inflight chan struct{} // closed when the reading in progress ends; nil when none runs
}

// queueSnapshot is one reading of Redis.
type queueSnapshot struct {
	at      time.Time
	err     error
	counts  []*status.Counts // one per account read (Accounts, or default); nil when err is set
	keyBad  []bool           // per account read, when KeyRejected is set
	stopped []bool           // per account read, when SendingStopped is set: key, TLS, endpoint
}

// NewQueueCollector returns a collector over rdb (a client, a failover client or a cluster client).
func NewQueueCollector(rdb redis.UniversalClient, o QueueCollectorOptions) *QueueCollector {
	var acct []string // the label of the series of one account's own state
	switch {
	case len(o.Queues) > 0:
	case len(o.Accounts) > 0:
		o.Queues = []string{webhook.Queue}
	default:
		o.Queues = append(tasks.QueueNames(), webhook.Queue)
	}
	if len(o.Accounts) > 0 {
		acct = []string{"account"}
	}
	if o.CacheFor <= 0 {
		o.CacheFor = 2 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	q := []string{"queue"}
	return &QueueCollector{
		reader: status.NewReader(rdb), o: o,
		descTasks: prometheus.NewDesc("cipurge_queue_tasks",
			"Tasks in each asynq queue by state (pending, active, scheduled, retry, archived = dead letters, or failed deliveries in queue webhooks, completed). Shared by every worker.",
			[]string{"queue", "state"}, nil),
		descLatency: prometheus.NewDesc("cipurge_queue_latency_seconds",
			"Age of the oldest pending task in each queue (0 when none is pending).", q, nil),
		descMemory: prometheus.NewDesc("cipurge_queue_memory_usage_bytes",
			"Approximate Redis memory used by each queue and its tasks (sampled by asynq).", q, nil),
		descQPaused: prometheus.NewDesc("cipurge_queue_paused",
			"1 when the queue is paused in asynq (from the asynqmon UI with UI_READONLY=false): no worker takes its tasks.", q, nil),
		descProcessed: prometheus.NewDesc("cipurge_queue_processed_total",
			"Tasks processed from each queue by every worker (succeeded or failed), as counted by asynq in Redis.", q, nil),
		descFailed: prometheus.NewDesc("cipurge_queue_failed_total",
			"Task runs that failed in each queue, by every worker, as counted by asynq in Redis (rate-limit snoozes are not failures).", q, nil),
		descDead: prometheus.NewDesc("cipurge_dead_letters",
			"Dead letters, the count enqueue status and /status show: the product's own record (every one, also past asynq's 10,000 archived tasks per queue, until replayed or deleted with enqueue dlq), or asynq's archived tasks when they are more (archived by an older version or from the UI, with no record).", acct, nil),
		descPending: prometheus.NewDesc("cipurge_pending_urls",
			"URL requests waiting in the pending set for their coalescing window (PURGE_WINDOW) before the batcher forms requests.", acct, nil),
		descOldest: prometheus.NewDesc("cipurge_pending_oldest_age_seconds",
			"Age of the oldest URL request in the pending set (0 when empty), on the Redis clock.", acct, nil),
		descPaused: prometheus.NewDesc("cipurge_paused",
			"1 while the pause shared by every worker is active (after a 429 or an outage of the API).", acct, nil),
		descPauseLeft: prometheus.NewDesc("cipurge_pause_remaining_seconds",
			"Time left of the shared pause (0 when not paused).", acct, nil),
		descKey: prometheus.NewDesc("cipurge_api_key_rejected",
			"1 while the account's API key is rejected by Cloudimage (401/403): this worker sends nothing for it until a probe succeeds.", acct, nil),
		descStopped: prometheus.NewDesc("cipurge_sending_stopped",
			"1 while this worker stopped sending for the account because retrying cannot help until someone fixes the setup: the API key is rejected, the API's TLS certificate is not trusted, or the endpoint is wrong (/readyz says which).", acct, nil),
		descEvicted: prometheus.NewDesc("cipurge_redis_evicted_keys_total",
			"Keys Redis evicted under memory pressure since it started (INFO evicted_keys): any increase means acknowledged work may be lost; use maxmemory-policy noeviction.", nil, nil),
		descUp: prometheus.NewDesc("cipurge_queue_collector_up",
			"1 when the last reading of queue sizes from Redis succeeded, 0 when it failed or timed out (the queue metrics are then missing).", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_queue_collector_errors_total",
			Help: "Readings of queue sizes from Redis that failed, plus scrapes that stopped waiting for a slow reading.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.descTasks, c.descLatency, c.descMemory, c.descQPaused, c.descProcessed, c.descFailed,
		c.descPending, c.descOldest, c.descPaused, c.descPauseLeft, c.descKey, c.descUp, c.descDead, c.descStopped, c.descEvicted} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	defer c.errors.Collect(ch)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i, bad := range s.keyBad {
		gauge(c.descKey, b2f(bad), c.label(i)...)
	}
	for i, stopped := range s.stopped {
		gauge(c.descStopped, b2f(stopped), c.label(i)...)
	}
	if s.err != nil {
		gauge(c.descUp, 0)
		return
	}
	gauge(c.descUp, 1)
	for _, counts := range s.counts {
		c.collectQueues(ch, counts)
	}
	if ev := s.counts[0].EvictedKeys; ev >= 0 {
		ch <- prometheus.MustNewConstMetric(c.descEvicted, prometheus.CounterValue, float64(ev))
	}
	for i, counts := range s.counts {
		label := c.label(i)
		gauge(c.descPending, float64(counts.WaitingURLs), label...)
		gauge(c.descDead, float64(counts.DeadLetters), label...)
		gauge(c.descOldest, counts.OldestWaiting.Seconds(), label...)
		gauge(c.descPaused, b2f(counts.Pause.Left > 0), label...)
		gauge(c.descPauseLeft, counts.Pause.Left.Seconds(), label...)
	}
}

// label returns the label values of the series of the i-th account read: none without Accounts.
func (c *QueueCollector) label(i int) []string {
	if len(c.o.Accounts) == 0 {
		return nil
	}
	return []string{c.o.Accounts[i]}
}

// collectQueues sends the metrics of the queues of one reading.
func (c *QueueCollector) collectQueues(ch chan<- prometheus.Metric, counts *status.Counts) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, q := range counts.Queues {
		for i, n := range []int{q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived, q.Completed} {
			gauge(c.descTasks, float64(n), q.Queue, queueStates[i])
		}
		gauge(c.descLatency, q.Latency.Seconds(), q.Queue)
		gauge(c.descMemory, float64(q.MemoryUsage), q.Queue)
		gauge(c.descQPaused, b2f(q.Paused), q.Queue)
		ch <- prometheus.MustNewConstMetric(c.descProcessed, prometheus.CounterValue, float64(q.ProcessedTotal), q.Queue)
		ch <- prometheus.MustNewConstMetric(c.descFailed, prometheus.CounterValue, float64(q.FailedTotal), q.Queue)
	}
}

// snapshot returns a reading no older than CacheFor, starting one if needed, and waits for it at
// most Timeout.
func (c *QueueCollector) snapshot() *queueSnapshot {
	c.mu.Lock()
	if c.snap != nil && time.Since(c.snap.at) < c.o.CacheFor {
		s := c.snap
		c.mu.Unlock()
		return s
	}
	if c.inflight == nil {
		c.inflight = make(chan struct{})
		go c.refresh(c.inflight)
	}
	done := c.inflight
	c.mu.Unlock()

	t := time.NewTimer(c.o.Timeout)
	defer t.Stop()
	select {
	case <-done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.snap
	case <-t.C:
		c.errors.Inc()
		return &queueSnapshot{at: time.Now(), err: fmt.Errorf("reading queue sizes from Redis took longer than %s", c.o.Timeout)}
	}
}

// refresh takes one reading and publishes it. Only one runs at a time.
func (c *QueueCollector) refresh(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	s := c.read(ctx)
	s.at = time.Now()
	c.mu.Lock()
	failing := c.snap != nil && c.snap.err != nil
	c.mu.Unlock()
	if s.err != nil {
		c.errors.Inc()
		// Once per run of failures: the worker says that Redis is down in its own line.
		if failing {
			c.o.Log.Debug("queue metrics: reading Redis failed", zap.Error(s.err))
		} else {
			c.o.Log.Warn("queue metrics: reading Redis failed", zap.Error(s.err))
		}
	}
	c.mu.Lock()
	c.snap = s
	c.inflight = nil
	c.mu.Unlock()
	close(done)
}

func (c *QueueCollector) read(ctx context.Context) *queueSnapshot {
	s := &queueSnapshot{}
	accounts := c.o.Accounts
	if len(accounts) == 0 {
		accounts = []string{tasks.DefaultAccount}
	}
	for _, a := range accounts {
		if c.o.KeyRejected != nil {
			s.keyBad = append(s.keyBad, c.o.KeyRejected(a))
		}
		if c.o.SendingStopped != nil {
			s.stopped = append(s.stopped, c.o.SendingStopped(a))
		}
	}
	if len(c.o.Accounts) == 0 {
		counts, err := c.reader.ReadCounts(ctx, c.o.Queues)
		s.counts, s.err = []*status.Counts{counts}, err
		return s
	}
	for i, a := range c.o.Accounts {
		queues := tasks.QueuesOf(a).Names()
		if i == 0 {
			queues = append(queues, c.o.Queues...)
		}
		counts, err := c.reader.For(a).ReadCounts(ctx, queues)
		if err != nil {
			s.err = fmt.Errorf("account %s: %w", a, err)
			return s
		}
		s.counts = append(s.counts, counts)
	}
	return s
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
