package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/outbound"
)

// The delivery task's type and queue. They are names in Redis: never rename them.
const (
	TypeDeliver = "webhook:deliver"
	Queue       = "webhooks"
)

// The retry schedule: the first retry after retryFirst, each next one twice as late, at most
// retryMax apart, for at least RetryFor in all. MaxRetry is the retries that take.
const (
	retryFirst = 30 * time.Second
	retryMax   = time.Hour
	RetryFor   = 24 * time.Hour
)

// MaxRetry is how many retries a delivery gets before asynq archives it.
var MaxRetry = func() int {
	var total time.Duration
	n := 0
	for total < RetryFor {
		total += RetryDelay(n)
		n++
	}
	return n
}()

// RetryDelay is the wait before retry n+1 (n counts the failures so far, from 0).
func RetryDelay(n int) time.Duration {
	d := retryFirst
	for i := 0; i < n && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// taskTimeout bounds one attempt in asynq. The client's own timeout ends it first.
const taskTimeout = 2 * time.Minute

// NewTask returns the delivery task of d. Its task ID is d.ID, so that an event enqueued twice is
// delivered once while the first is kept. opts come last and override (tests shorten MaxRetry).
func NewTask(d Delivery, opts ...asynq.Option) (*asynq.Task, error) {
	if d.ID == "" || d.URL == "" || len(d.Body) == 0 {
		return nil, fmt.Errorf("webhook: a delivery needs an id, a URL and a body")
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	o := append([]asynq.Option{asynq.TaskID(d.ID), asynq.Queue(Queue), asynq.MaxRetry(MaxRetry), asynq.Timeout(taskTimeout)}, opts...)
	return asynq.NewTask(TypeDeliver, b, o...), nil
}

// Enqueue enqueues d. An event already enqueued (the same id, still kept) is no error.
func Enqueue(ctx context.Context, c *asynq.Client, d Delivery, opts ...asynq.Option) error {
	t, err := NewTask(d, opts...)
	if err != nil {
		return err
	}
	if _, err := c.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("webhook %s: enqueue: %w", d.ID, err)
	}
	return nil
}

// Metrics count events and deliveries. Names follow the product's cipurge_ conventions.
type Metrics struct {
	Events     *prometheus.CounterVec // events by type and result: enqueued, no_secret, error
	Deliveries *prometheus.CounterVec // attempts by result: sent, failed, refused
	Latency    prometheus.Histogram   // seconds per attempt
	// OutboxDropped counts events the outbox dropped, oldest first, when full (store.OutboxMax).
	OutboxDropped prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_webhook_events_total",
			Help: "Webhook events of requests by type and result: enqueued (a delivery task), no_secret (a callback but no secret: not sent), error (not enqueued).",
		}, []string{"type", "result"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result: sent (2xx), failed (retried), refused (not retried: archived).",
		}, []string{"result"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cipurge_webhook_delivery_duration_seconds", Help: "Duration of webhook delivery attempts.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10},
		}),
		OutboxDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_webhook_outbox_dropped_total",
			Help: "Webhook events dropped, oldest first, by a full outbox: no worker with a secret took them in time.",
		}),
	}
	for _, r := range []string{resultSent, resultFailed, resultRefused} {
		m.Deliveries.WithLabelValues(r)
	}
	for _, typ := range []string{EventRequestDone, EventURLDead} {
		for _, r := range []string{EventEnqueued, EventNoSecret, EventError} {
			m.Events.WithLabelValues(typ, r)
		}
	}
	if reg != nil {
		reg.MustRegister(m.Events, m.Deliveries, m.Latency, m.OutboxDropped)
	}
	return m
}

// Results of one attempt (the label of cipurge_webhook_deliveries_total).
const (
	resultSent    = "sent"
	resultFailed  = "failed"
	resultRefused = "refused"
)

// Results of one event (the label of cipurge_webhook_events_total).
const (
	EventEnqueued = "enqueued"  // its delivery task is queued
	EventNoSecret = "no_secret" // it has a receiver, but there is no secret to sign it: not sent
	EventError    = "error"     // it could not be built or enqueued: lost
)

// Handler runs delivery tasks with s. A refusal of the outbound client (a redirect, plain http
// to a public host, a private address) is not retried: the task is archived at once, to be
// replayed once the target is fixed. Any other failure is retried.
func Handler(s *Sender, m *Metrics) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var d Delivery
		if err := json.Unmarshal(t.Payload(), &d); err != nil {
			return fmt.Errorf("webhook: a %s payload does not decode: %v: %w", TypeDeliver, err, asynq.SkipRetry)
		}
		start := time.Now()
		err := s.Send(ctx, d)
		if m != nil {
			m.Latency.Observe(time.Since(start).Seconds())
		}
		result := resultSent
		switch {
		case errors.Is(err, outbound.ErrRefused):
			result, err = resultRefused, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		case err != nil:
			result = resultFailed
		}
		if m != nil {
			m.Deliveries.WithLabelValues(result).Inc()
		}
		return err
	}
}

// DefaultConcurrency is how many deliveries one worker runs at once.
const DefaultConcurrency = 4

// Timeout bounds one attempt: connect, TLS, request, answer. The outbound client applies it.
const Timeout = 10 * time.Second

// NewServer returns the asynq server that runs deliveries on Queue only. conf gives the rest: the logger, the shutdown timeout, the error
// handler, the concurrency (0: DefaultConcurrency). Its Queues and RetryDelayFunc are
// replaced, so that the server takes nothing but deliveries.
func NewServer(rdb redis.UniversalClient, conf asynq.Config, s *Sender, m *Metrics) (*asynq.Server, *asynq.ServeMux) {
	if conf.Concurrency <= 0 {
		conf.Concurrency = DefaultConcurrency
	}
	conf.Queues = map[string]int{Queue: 1}
	conf.StrictPriority = false
	if conf.RetryDelayFunc == nil {
		conf.RetryDelayFunc = func(n int, _ error, _ *asynq.Task) time.Duration { return RetryDelay(n) }
	}
	srv := asynq.NewServerFromRedisClient(rdb, conf)
	mux := asynq.NewServeMux()
	mux.Handle(TypeDeliver, Handler(s, m))
	return srv, mux
}

// Failed lists the deliveries that finally failed (asynq's archive of Queue), newest first, at
// most n.
func Failed(insp *asynq.Inspector, n int) ([]*asynq.TaskInfo, error) {
	ts, err := insp.ListArchivedTasks(Queue, asynq.PageSize(n))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, fmt.Errorf("webhook: listing failed deliveries: %w", err)
	}
	return ts, nil
}

// FailedDelivery is a delivery that finally failed, as an operator reads it. It holds no secret
// and the receiver without its query.
type FailedDelivery struct {
	ID         string    `json:"id"`            // the webhook-id; replay takes it
	Event      string    `json:"event"`         // request.done or request.url_dead
	Request    string    `json:"request"`       // the request's ID
	URL        string    `json:"url,omitempty"` // request.url_dead: the URL
	Receiver   string    `json:"receiver"`      // without query or user info
	Attempts   int       `json:"attempts"`
	LastFailed time.Time `json:"last_failed"`
	LastError  string    `json:"last_error"`
}

// Describe reads a failed delivery task.
func Describe(ti *asynq.TaskInfo) FailedDelivery {
	f := FailedDelivery{ID: ti.ID, Attempts: ti.Retried + 1, LastFailed: ti.LastFailedAt, LastError: ti.LastErr}
	var d Delivery
	if json.Unmarshal(ti.Payload, &d) != nil {
		return f
	}
	f.Receiver = Redact(d.URL)
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		} `json:"data"`
	}
	if json.Unmarshal(d.Body, &ev) == nil {
		f.Event, f.Request, f.URL = ev.Type, ev.Data.ID, ev.Data.URL
	}
	return f
}

// Replay runs the failed delivery id once more, now. asynq keeps its count of retries: if
// this attempt fails too, the delivery goes back to the archive.
func Replay(insp *asynq.Inspector, id string) error {
	if err := insp.RunTask(Queue, id); err != nil {
		return fmt.Errorf("webhook: replaying %s: %w", id, err)
	}
	return nil
}
