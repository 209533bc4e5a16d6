package worker

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
)

// Webhooks tell a request's receiver about it (internal/webhook).
// request.done goes out when a request becomes done.
// request.url_dead goes out when one of its URLs is dead-lettered, or cannot be followed.
// The receiver is the request's own callback URL, or the default one.
// The move of a request appends its events to the outbox in the same script (store.KeyOutbox).
// The outbox loop takes them and enqueues one delivery task each (runOutbox).
// So an event is lost neither when a worker dies after the move, nor when an enqueue fails.
// Each delivery task is on a queue of its own, which a server of its own runs.
// So a slow receiver never holds a slot of an invalidation.
// Its webhook-id comes from the request ID, the event and the URL.
// A retry keeps it. A second enqueue of the same event is the same task while the first waits.
// Once it was delivered, the receiver gets the same webhook-id again, and dedupes by it.

// hooks is the worker's side of the webhooks.
type hooks struct {
	cfg    webhook.Config
	sender *webhook.Sender // nil: no secret, so nothing is sent
	m      *webhook.Metrics
	// noSecret logs once that a request has a receiver but no secret signs its events.
	noSecret sync.Once
	// wake tells the outbox loop that a move appended events.
	wake chan struct{}
	// warn bounds the outbox loop's warnings while Redis fails.
	warn oncePer
	// parts are the stores of every lane of the process (NewLanes, with several accounts): a
	// request whose URLs span accounts has a part in each, and is done when every part is.
	// nil: the lane's own store.
	parts []*store.Store
}

// events is what this worker's moves append to the outbox. Without a secret it appends none:
// requestsMoved then counts each event that had a receiver as not sent.
func (h *hooks) events() store.Events {
	switch {
	case h.sender == nil:
		return store.EventsNone
	case h.cfg.URL != "":
		return store.EventsAll
	default:
		return store.EventsCallback
	}
}

// notify enqueues the delivery of event typ about request id (and url, for request.url_dead).
// A request with no receiver has no event. It returns false when the event is to be tried
// again: Redis failed. A delivery that cannot be built is logged, counted and given up.
func (w *Worker) notify(ctx context.Context, typ, id, url string) (settled bool) {
	ctx, cancel := recordCtx(ctx)
	defer cancel()
	h := &w.hooks
	r, err := w.store.Request(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNoRequest) {
			w.log.Warn("could not read a request for its webhook event: it is tried again", zap.String("request", id), zap.String("event", typ), zap.Error(err))
			return false
		}
		return true
	}
	target := r.Callback
	if target == "" {
		target = h.cfg.URL
	}
	if target == "" {
		return true
	}
	if typ == webhook.EventRequestDone && len(h.parts) > 1 {
		// One request.done for the whole request: the part that ends last sends it.
		s, err := inspect.ReadRequest(ctx, h.parts, id)
		if err == nil && !s.Done {
			w.log.Debug("a part of a request of several accounts is done: its other parts are not yet", zap.String("request", id),
				zap.Strings("accounts", s.Accounts))
			return true
		}
	}
	if h.sender == nil {
		h.noSecret.Do(func() {
			w.log.Warn("a request has a callback URL, but WEBHOOK_SECRET is not set: its events are not sent; "+
				"set WEBHOOK_SECRET on every worker (this is logged once; cipurge_webhook_events_total{result=\"no_secret\"} counts them)",
				zap.String("request", id), zap.String("event", typ))
		})
		h.m.Events.WithLabelValues(typ, webhook.EventNoSecret).Inc()
		return true
	}
	d, err := w.delivery(ctx, typ, r, url, target)
	if err != nil {
		w.log.Warn("could not build a webhook event: it is not sent", zap.String("request", id), zap.String("event", typ),
			zap.String("receiver", webhook.Redact(target)), zap.Error(err))
		h.m.Events.WithLabelValues(typ, webhook.EventError).Inc()
		return true
	}
	if err := webhook.Enqueue(ctx, w.client, d); err != nil {
		w.log.Warn("could not enqueue a webhook event: it is tried again", zap.String("request", id), zap.String("event", typ),
			zap.String("receiver", webhook.Redact(target)), zap.Error(err))
		return false
	}
	h.m.Events.WithLabelValues(typ, webhook.EventEnqueued).Inc()
	return true
}

// outboxBatch is how many events the outbox loop takes at once.
const outboxBatch = 100

// runOutbox enqueues the deliveries of the outbox's events until ctx is done. It looks when a
// move of this worker appended events, and every OutboxCheck for those of other workers and
// those a dead worker took. Every OutboxCheck it also tells producers which events to append
// (store.KeyOutboxEvents), for six checks.
func (w *Worker) runOutbox(ctx context.Context) {
	t := time.NewTicker(w.cfg.OutboxCheck)
	defer t.Stop()
	publish := func() {
		if err := w.store.PublishEvents(ctx, w.hooks.events(), 6*w.cfg.OutboxCheck); err != nil && ctx.Err() == nil && w.hooks.warn.allow(time.Now()) {
			w.log.Warn("could not tell producers which webhook events to keep", zap.Error(err))
		}
	}
	publish()
	for {
		w.drainOutbox(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			publish()
		case <-w.hooks.wake:
		}
	}
}

// drainOutbox enqueues the deliveries of the events waiting, batch by batch. An event not
// settled stays taken: it is taken again after OutboxLease. The first one stops the drain, so
// that a Redis outage costs one timeout, not one per event.
func (w *Worker) drainOutbox(ctx context.Context) {
	for ctx.Err() == nil {
		evs, err := w.store.TakeOutbox(ctx, outboxBatch, w.cfg.OutboxLease)
		if err != nil {
			if ctx.Err() == nil && w.hooks.warn.allow(time.Now()) {
				w.log.Warn("could not take webhook events from the outbox: tried again", zap.Error(err))
			}
			return
		}
		for _, ev := range evs {
			typ := webhook.EventRequestDone
			if ev.Dead {
				typ = webhook.EventURLDead
			}
			if !w.notify(ctx, typ, ev.Request, ev.URL) {
				return
			}
			if err := w.store.AckOutbox(context.WithoutCancel(ctx), ev); err != nil {
				w.log.Warn("could not ack a webhook event: it may be enqueued again, as the same task", zap.Error(err))
			}
		}
		if len(evs) < outboxBatch {
			return
		}
	}
}

// delivery builds the delivery of event typ about r (and url) to target. A body over
// webhook.MaxBody lists fewer URLs not done.
func (w *Worker) delivery(ctx context.Context, typ string, r store.Request, url, target string) (webhook.Delivery, error) {
	data, err := readWebhookData(ctx, w.hookStores(), r.ID, url)
	if err != nil {
		return webhook.Delivery{}, err
	}
	at := time.Now()
	if typ == webhook.EventRequestDone && !r.Done.IsZero() {
		at = r.Done
	}
	subject := []string{r.ID}
	if url != "" {
		subject = append(subject, url)
	}
	for {
		b, err := json.Marshal(data)
		if err != nil {
			return webhook.Delivery{}, err
		}
		d, err := webhook.NewDelivery(target, webhook.Event{Type: typ, Timestamp: at.UTC(), Data: b}, subject...)
		if !errors.Is(err, webhook.ErrTooLarge) || len(data.NotDone) == 0 {
			return d, err
		}
		data.NotDone = data.NotDone[:len(data.NotDone)/2]
	}
}

// hookStores are the stores a request's event reads: every lane's, so that a request of several
// accounts is told as a whole.
func (w *Worker) hookStores() []*store.Store {
	if len(w.hooks.parts) > 1 {
		return w.hooks.parts
	}
	return []*store.Store{w.store}
}

// readWebhookData reads request id from stores (its parts added up) for an event about it, and
// url for an EventURLDead.
func readWebhookData(ctx context.Context, stores []*store.Store, id, url string) (*inspect.WebhookData, error) {
	s, err := inspect.ReadRequest(ctx, stores, id)
	if err != nil {
		return nil, err
	}
	return &inspect.WebhookData{RequestStatus: *s, URL: url}, nil
}

// runHooks starts the delivery server and the outbox loop when there is a secret. It returns
// the function that stops them.
func (w *Worker) runHooks() (stop func(), err error) {
	if w.hooks.sender == nil {
		return func() {}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var outbox sync.WaitGroup
	outbox.Go(func() { w.runOutbox(ctx) })
	if w.follows { // the first lane delivers for the process
		return func() {
			cancel()
			outbox.Wait()
		}, nil
	}
	conf := asynq.Config{
		Concurrency:              w.hooks.cfg.Concurrency,
		ShutdownTimeout:          w.cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: w.cfg.RetryCheck,
		Logger:                   newAsynqLogger(w.log, w.redis),
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler:             asynq.ErrorHandlerFunc(w.onDeliveryError),
	}
	if d := w.cfg.WebhookRetry; d > 0 {
		conf.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return d }
	}
	srv, mux := webhook.NewServer(w.rdb, conf, w.hooks.sender, w.hooks.m)
	if err := srv.Start(mux); err != nil {
		cancel()
		outbox.Wait()
		return nil, err
	}
	return func() {
		cancel()
		outbox.Wait()
		srv.Shutdown()
	}, nil
}

// onDeliveryError logs a delivery that failed: at debug while it is retried, as a warning once
// it is kept for replay. The error names the receiver without its query, never the secret.
func (w *Worker) onDeliveryError(ctx context.Context, _ *asynq.Task, err error) {
	id, _ := asynq.GetTaskID(ctx)
	n, _ := asynq.GetRetryCount(ctx)
	m, _ := asynq.GetMaxRetry(ctx)
	fields := []zap.Field{zap.String("webhook_id", id), zap.String("attempts", attemptsText(n+1)), zap.Error(err)}
	if errors.Is(err, asynq.SkipRetry) || n >= m {
		w.log.Warn("webhook delivery failed for good: kept in the webhooks queue; list with enqueue webhooks ls, replay with enqueue webhooks replay ID",
			fields...)
		return
	}
	w.log.Debug("webhook delivery failed: it is retried", fields...)
}
