// Package worker turns invalidation requests into Cloudimage API calls.
//
// A Worker runs two things on one Redis: the batcher and an asynq server.
//
// # Batcher
//
// One worker at a time runs the batcher.
// It holds a lease in Redis and renews it every round.
// It takes pending URL requests that have waited a full coalescing window.
// It turns them into request tasks of PURGE_BATCH_SIZE URLs per API request.
// It forms as many tasks as the shared rate can send soon, and no more.
// This bounded lookahead keeps a backlog in the pending set.
// There it is cheapest and keeps coalescing.
// A task carries enough requests to keep rate x latency calls in flight.
// Those calls come from the worker's task slots. See pace.go.
//
// # Request tasks
//
// The asynq server runs the request tasks.
// Before each API call, one Redis script does four things.
//
//   - It drops URLs that an invalidation sent after their request has covered.
//   - It honours the pause every worker shares, after a 429 or an outage.
//   - It gives interactive work priority over bulk work.
//   - It reserves a send time from the GCRA rate limit that every worker shares.
//
// That is one question to Redis per call.
// Status checks have a budget of their own.
// Transient failures retry with backoff.
// A task that finally fails, or can never succeed, is archived with its reason.
// The archive is the dead-letter queue.
//
// Delivery is at least once.
// A request may be sent twice after a crash, but it is never lost.
package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// API is what the worker needs from the Cloudimage API client (*apiclient.Client).
type API interface {
	Invalidate(ctx context.Context, urls []string) (*apiclient.Invalidation, error)
	InvalidateAll(ctx context.Context) (*apiclient.Invalidation, error)
	Status(ctx context.Context, uuid string) (*apiclient.InvalidationStatus, error)
}

// Config is the worker's behaviour. A zero value means the same as the environment variable set to
// 0 where 0 means something there (no rate limit, no retries, no resends, no cooldown, status
// checks at the send rate); every other zero is replaced by its default (WithDefaults, from
// internal/defaults: the values the environment's defaults are too). New refuses values it cannot
// run with.
type Config struct {
	Token           string         // CLOUDIMAGE_TOKEN: a flush-all must be confirmed with it
	Window          time.Duration  // PURGE_WINDOW: each request waits this long for company
	MaxDelay        time.Duration  // PURGE_MAX_DELAY: a partial batch waits at most this long
	BatchSize       int            // PURGE_BATCH_SIZE: URLs per API call, 1 to the API's cap
	Limit           store.Limit    // PURGE_RATE (0: no limit), PURGE_BURST: shared by every worker
	ConfirmLimit    store.Limit    // PURGE_CONFIRM_RATE (0: PURGE_RATE), PURGE_BURST: status checks' own budget
	PrefixLimit     store.Limit    // PURGE_PREFIX_RATE (0: no limit), burst 1: prefix requests' own budget
	MaxRetry        int            // PURGE_MAX_RETRY: failures retried before dead-lettering (0: none)
	Concurrency     int            // PURGE_CONCURRENCY: tasks run at once by this worker
	AllCooldown     time.Duration  // PURGE_ALL_COOLDOWN: minimum time between two flush-alls (0: none)
	HistoryTTL      time.Duration  // PURGE_HISTORY_TTL: how long per-URL history is kept
	Confirm         bool           // PURGE_CONFIRM: follow each accepted request to DONE/ERROR
	ConfirmDelay    time.Duration  // PURGE_CONFIRM_DELAY: first status check after an accepted request
	ConfirmTimeout  time.Duration  // PURGE_CONFIRM_TIMEOUT: give up following a request after this long
	MaxResends      int            // PURGE_MAX_RESENDS: resends of URLs Cloudimage failed before dead-lettering (0: none)
	ShutdownTimeout time.Duration  // PURGE_SHUTDOWN_TIMEOUT: running tasks get this long to finish on SIGTERM
	BackoffBase     time.Duration  // PURGE_BACKOFF_BASE: first shared pause after an outage or a 429 without Retry-After
	BackoffMax      time.Duration  // PURGE_BACKOFF_MAX: longest shared pause
	AuthProbe       time.Duration  // PURGE_AUTH_PROBE: after a 401/403, how often one task tries the key again
	RetryBase       time.Duration  // PURGE_RETRY_BASE: first retry delay after a failure, doubled per failure
	Webhook         webhook.Config // WEBHOOK_*: the events of requests, signed (webhooks.go)
	// Account is the account this worker's lane sends for: its keys, its queues, its API key
	// (the API the caller passes). "" is tasks.DefaultAccount. The caller checks the name.
	Account string
	// Replicas makes each move of URLs into a task wait for replicas before its source goes.
	Replicas store.Replicas

	// Not settings of the environment: the worker's own, for tests.
	Tick          time.Duration // how often the batcher looks for ready requests (window/8, 50-250 ms)
	MaxInSlotWait time.Duration // a wait up to this long is slept in the task; longer ones snooze it (1 s)
	RetryCheck    time.Duration // how often due retries are moved back to their queue (1 s)
	// how often one worker reconciles the dead-letter record with asynq's archive (1 min)
	DeadLetterSweep time.Duration
	// the wait before each retry of a webhook delivery (0: webhook.RetryDelay's schedule)
	WebhookRetry time.Duration
	// how often the outbox loop looks for webhook events without being woken (5 s)
	OutboxCheck time.Duration
	// how long a webhook event taken from the outbox stays with its taker (1 min)
	OutboxLease time.Duration
}

// WithDefaults returns c with every zero setting that has no meaning at zero replaced by its
// default (river's Config.WithDefaults is the model). The defaults are internal/defaults', the
// same the environment applies, so a worker configured in Go and one configured by its
// environment run alike.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&c.Window, defaults.Window)
	def(&c.MaxDelay, max(defaults.MaxDelay, c.Window))
	defInt(&c.BatchSize, defaults.BatchSize)
	defInt(&c.Limit.Burst, defaults.Burst)
	if c.ConfirmLimit.Rate == 0 {
		c.ConfirmLimit.Rate = c.Limit.Rate
	}
	defInt(&c.ConfirmLimit.Burst, c.Limit.Burst)
	defInt(&c.PrefixLimit.Burst, 1)
	defInt(&c.Concurrency, defaults.Concurrency)
	defInt(&c.Webhook.Concurrency, webhook.DefaultConcurrency)
	def(&c.HistoryTTL, defaults.HistoryTTL)
	def(&c.ConfirmDelay, defaults.ConfirmDelay)
	def(&c.ConfirmTimeout, defaults.ConfirmTimeout)
	def(&c.ShutdownTimeout, defaults.ShutdownTimeout)
	def(&c.BackoffBase, defaults.BackoffBase)
	def(&c.BackoffMax, max(defaults.BackoffMax, c.BackoffBase))
	def(&c.AuthProbe, defaults.AuthProbe)
	def(&c.RetryBase, defaults.RetryBase)
	def(&c.Tick, min(max(c.Window/8, 50*time.Millisecond), 250*time.Millisecond))
	def(&c.MaxInSlotWait, time.Second)
	def(&c.RetryCheck, time.Second)
	def(&c.DeadLetterSweep, time.Minute)
	def(&c.OutboxCheck, 5*time.Second)
	def(&c.OutboxLease, time.Minute)
	return c
}

// Worker runs the batcher and the task handlers.
type Worker struct {
	cfg     Config
	rdb     redis.UniversalClient
	store   *store.Store
	api     API
	log     *zap.Logger
	metrics *Metrics
	client  *asynq.Client
	q       tasks.AccountQueues // the account's queues
	// enqueue enqueues a task the batcher formed (taskq.Enqueue on client; a seam for tests).
	enqueue func(ctx context.Context, t *asynq.Task) (enqueued bool, err error)
	gate    *sendGate
	// noUUIDWarn bounds the warnings about accepted answers without a uuid.
	noUUIDWarn oncePer
	// statuses bounds the labels of status metrics and the logs of undocumented statuses.
	statuses  statusLabels
	id        string
	latency   latencyEWMA  // of invalidation calls, for pacing
	busy      busyClock    // since when the rate monitor sees work waiting, published
	confirm   confirmGate  // the status-check backlog
	sending   atomic.Int64 // invalidation handlers running (see yieldToSends)
	batchTurn int          // tasks the batcher formed, for their sizes (taskSize); the batcher's alone
	sentAt    atomic.Int64 // when an invalidation handler last ended (Unix ns; see sendGap)
	limitedAt atomic.Int64 // when an invalidation last waited for the shared limit (Unix ns)
	starts    startGate    // this worker's starts of invalidation calls under Limit
	startsPfx startGate    // the same under PrefixLimit

	redis  *redisWatch
	status *status.Reader // the pauses, for readiness; the status checks waiting
	// guard refuses to form batches while Redis's maxmemory-policy may evict them (allkeys-*).
	guard     *store.Guard
	guardWarn oncePer

	hooks hooks // the webhook events of requests
	// lanes are the process's lanes when this worker is the first of several (NewLanes): it
	// publishes the process's one state and runs its one webhook delivery server.
	lanes []*Worker
	// follows is true for a lane after the first: it publishes nothing and delivers no webhook
	// itself, the first lane does it for the process.
	follows bool

	mu      sync.Mutex
	lastErr error // the last Redis error seen by the server's health check
}

// New returns a Worker, or an error naming a setting it cannot run with. rdb is owned by the
// caller; m may be nil (metrics not registered).
func New(cfg Config, rdb redis.UniversalClient, api API, log *zap.Logger, m *Metrics) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	m = m.For(cfg.Account) // the account's series
	sender, err := webhook.NewSender(cfg.Webhook)
	if err != nil {
		return nil, err
	}
	if cfg.Account != "" && cfg.Account != tasks.DefaultAccount {
		log = log.With(zap.String("account", cfg.Account)) // a lane of several: each line names its account
	}
	host, _ := os.Hostname()
	st := store.New(rdb).For(cfg.Account)
	client := asynq.NewClientFromRedisClient(rdb)
	return &Worker{
		hooks:     hooks{cfg: cfg.Webhook, sender: sender, m: m.Webhook, wake: make(chan struct{}, 1), warn: oncePer{period: time.Minute}},
		guard:     store.NewGuard(st, defaults.PolicyEvery, func(msg string) { log.Warn(msg) }),
		guardWarn: oncePer{period: time.Minute},
		cfg:       cfg, rdb: rdb, store: st, api: api, log: log, metrics: m,
		client: client, q: tasks.QueuesOf(cfg.Account),
		enqueue: func(ctx context.Context, t *asynq.Task) (bool, error) { return taskq.Enqueue(ctx, client, t) },
		gate:    newSendGate(cfg.AuthProbe, log), noUUIDWarn: oncePer{period: noUUIDWarnEvery},
		confirm: confirmGate{warn: oncePer{period: time.Minute}},
		id:      host + ":" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatInt(time.Now().UnixNano(), 36),
		redis:   newRedisWatch(log, func(ctx context.Context) error { return rdb.Ping(ctx).Err() }),
		status:  status.NewReader(rdb).For(cfg.Account),
	}, nil
}

// historyLayout makes PURGE_HISTORY_TTL the history's layout and moves the hourly history an
// earlier version wrote into it (once; a later run finds nothing). Failures cost at most resends.
func (w *Worker) historyLayout(ctx context.Context) {
	if err := w.store.UseHistoryTTL(ctx, w.cfg.HistoryTTL); err != nil {
		w.log.Warn("could not record the history layout", zap.Error(err))
	}
	n, err := w.store.MigrateHistory(ctx)
	if err != nil {
		w.log.Warn("could not move the hourly history of an earlier version", zap.Error(err))
	} else if n > 0 {
		w.log.Info("moved the hourly history of an earlier version", zap.Int64("records", n))
	}
}

// Config returns the effective configuration (defaults applied).
func (w *Worker) Config() Config { return w.cfg }

// Store returns the worker's Redis state.
func (w *Worker) Store() *store.Store { return w.store }

// Mux returns the task handlers, for tests that drive them without a server.
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeURLs, w.counted(w.handleURLs))
	mux.HandleFunc(tasks.TypeAll, w.counted(w.handleAll))
	mux.HandleFunc(tasks.TypeConfirm, w.handleConfirm)
	return mux
}

// Run serves tasks and forms batches until ctx is done, then shuts down gracefully: the batcher
// finishes its current step, and running tasks get ShutdownTimeout to finish before they go back to
// their queue (without counting a retry) for the next worker.
func (w *Worker) Run(ctx context.Context) error {
	conf := w.serverConfig()
	srv := asynq.NewServerFromRedisClient(w.rdb, conf)
	// Status checks run on slots of their own: see statusSlots.
	conf.Concurrency, conf.Queues, conf.HealthCheckFunc = statusSlots(w.cfg), map[string]int{w.q.Confirm: 1}, nil
	checks := asynq.NewServerFromRedisClient(w.rdb, conf)
	w.historyLayout(ctx)
	if err := srv.Start(w.Mux()); err != nil {
		return fmt.Errorf("start task server: %w", err)
	}
	if err := checks.Start(w.Mux()); err != nil {
		srv.Shutdown()
		return fmt.Errorf("start status-check server: %w", err)
	}
	stopHooks, err := w.runHooks()
	if err != nil {
		srv.Shutdown()
		checks.Shutdown()
		return fmt.Errorf("start webhook delivery server: %w", err)
	}
	w.log.Info("worker started",
		zap.Duration("window", w.cfg.Window), zap.Duration("max_delay", w.cfg.MaxDelay),
		zap.Int("batch_size", w.cfg.BatchSize), zap.Float64("rate", w.cfg.Limit.Rate), zap.Int("burst", w.cfg.Limit.Burst),
		zap.Int("concurrency", w.cfg.Concurrency), zap.Int("max_retry", w.cfg.MaxRetry), zap.Bool("confirm", w.cfg.Confirm))
	if err := w.checkGuard(ctx); err != nil {
		// The error says which: a policy that may evict (and the fix), or one that cannot be read now.
		w.log.Error("not ready: no batches are formed until Redis's maxmemory-policy is known not to evict", zap.Error(err))
	}

	var loops sync.WaitGroup
	loopsRun := []func(context.Context){w.runBatcher, w.runMonitor, w.runDeadLetterSweep, w.runChecks}
	if !w.follows {
		loopsRun = append(loopsRun, w.publish)
	}
	for _, loop := range loopsRun {
		loops.Go(func() { loop(ctx) })
	}
	<-ctx.Done()
	w.log.Info("shutting down: finishing the current batch step and running tasks", zap.Duration("timeout", w.cfg.ShutdownTimeout))
	loops.Wait()
	var stops sync.WaitGroup
	stops.Go(checks.Shutdown)
	stops.Go(stopHooks)
	srv.Shutdown()
	stops.Wait()
	w.log.Info("worker stopped")
	return nil
}

// serverConfig is the asynq configuration of the server that runs every task but status checks.
func (w *Worker) serverConfig() asynq.Config {
	return asynq.Config{
		Concurrency:              w.cfg.Concurrency,
		Queues:                   w.sendQueues(),
		StrictPriority:           true,
		RetryDelayFunc:           w.retryDelay,
		IsFailure:                isFailure,
		ShutdownTimeout:          w.cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: w.cfg.RetryCheck,
		TaskCheckInterval:        100 * time.Millisecond,
		HealthCheckFunc:          w.healthCheck,
		HealthCheckInterval:      5 * time.Second,
		Logger:                   newAsynqLogger(w.log, w.redis),
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler:             asynq.ErrorHandlerFunc(w.onTaskError),
	}
}

// sendQueues are the account's queues of every task but status checks, with their priorities.
func (w *Worker) sendQueues() map[string]int {
	q := w.q.Priorities()
	delete(q, w.q.Confirm)
	return q
}

// publish keeps this worker's settings and state (store.WorkerState) in Redis, every
// store.WorkerPublishEvery, until ctx is done, then removes them: `enqueue status` and /status use
// the fleet's real settings and know how many workers are alive.
func (w *Worker) publish(ctx context.Context) {
	started := time.Now().UnixMilli()
	state := func() store.WorkerState {
		s := store.WorkerState{ID: w.id, Version: defaults.Version, Rate: w.cfg.Limit.Rate, Burst: w.cfg.Limit.Burst,
			BatchSize: w.cfg.BatchSize, Concurrency: w.cfg.Concurrency, Window: w.cfg.Window.String(), Confirm: w.cfg.Confirm,
			StartedAt: started, ConfirmRate: w.cfg.ConfirmLimit.Rate, LatencyMS: w.latency.get().Milliseconds(),
			MaxInFlight: w.cfg.Concurrency * maxRequestsPerTask, BusySince: w.busy.since.Load()}
		s.Stopped = w.stopped()
		if len(w.lanes) > 1 {
			for _, l := range w.lanes {
				s.Lanes = append(s.Lanes, store.LaneState{Account: l.q.Account, Rate: l.cfg.Limit.Rate, Burst: l.cfg.Limit.Burst,
					ConfirmRate: l.cfg.ConfirmLimit.Rate, BusySince: l.busy.since.Load(), Stopped: l.gateStopped()})
			}
		}
		return s
	}
	t := time.NewTicker(store.WorkerPublishEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if err := w.noteWrite(ctx, w.store.PublishWorker(pctx, state())); err != nil {
			w.log.Debug("publish worker state", zap.Error(err))
		}
		cancel()
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = w.store.RemoveWorker(rctx, w.id)
			cancel()
			return
		case <-t.C:
		}
	}
}

// stopped says why this worker stopped sending, or "". The first of several lanes says it for
// every lane that stopped, each with its account.
func (w *Worker) stopped() string {
	lanes := w.lanes
	if len(lanes) == 0 {
		lanes = []*Worker{w}
	}
	var out []string
	for _, l := range lanes {
		s := l.gateStopped()
		if s == "" {
			continue
		}
		if len(lanes) > 1 {
			s = l.q.Account + ": " + s
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// gateStopped says since when and why this lane stopped sending, or "".
func (w *Worker) gateStopped() string {
	blocked, _, reason, since := w.gate.state()
	if !blocked {
		return ""
	}
	return "since " + since.UTC().Format(time.RFC3339) + ": " + reason
}

// noteWrite shows the outcome of a write to Redis in cipurge_redis_writable (not a write cut short
// by ctx: shutdown or a client gone) and returns err.
func (w *Worker) noteWrite(ctx context.Context, err error) error {
	switch {
	case err == nil:
		w.metrics.RedisWritable.Set(1)
	case ctx.Err() == nil:
		w.metrics.RedisWritable.Set(0)
	}
	return err
}

// checkGuard runs the guard and shows the policy it last read in
// cipurge_redis_maxmemory_policy_evicts.
func (w *Worker) checkGuard(ctx context.Context) error {
	err := w.guard.Check(ctx)
	w.metrics.ShowPolicy(w.guard.Policy())
	return err
}

func (w *Worker) healthCheck(err error) {
	w.redis.report(err)
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
}

// KeyRejected reports whether Cloudimage rejects this worker's API key (its send gate is closed
// for the key). It reads no Redis, for the metrics collector.
func (w *Worker) KeyRejected() bool {
	blocked, cause, _, _ := w.gate.state()
	return blocked && cause == causeKey
}

// SendingStopped reports whether this worker stopped sending (a rejected key, an untrusted TLS
// certificate, a wrong endpoint), from its send gate, without Redis.
func (w *Worker) SendingStopped() bool {
	blocked, _, _, _ := w.gate.state()
	return blocked
}

// IsReady reports r.Ready (httpserver.Readiness).
func (r Readiness) IsReady() bool { return r.Ready }

// Readiness says whether this worker can do its job now, and if not, why.
type Readiness struct {
	Ready bool   `json:"ready"`
	Redis string `json:"redis"`
	Key   string `json:"api_key"`
	Send  string `json:"sending"`
	// Paused is the shared pause (after a 429 or an outage): every worker waits for it, and stays
	// ready; Note says so.
	Paused string `json:"paused,omitempty"`
	Reason string `json:"reason,omitempty"` // why not ready
	// PausedQueues are queues an operator paused (asynq queue pause, or the asynqmon UI): their
	// tasks wait until unpaused. An operator's choice, so the worker stays ready; Note says so.
	PausedQueues []string `json:"paused_queues,omitempty"`
	Note         string   `json:"note,omitempty"`
	// StoppedAccounts are the accounts whose lane stopped sending (Lanes, with several accounts):
	// the process stays ready while one account still sends.
	StoppedAccounts []string `json:"stopped_accounts,omitempty"`
}

// Ready checks Redis (it answers, takes writes, and may not evict what was acknowledged) and the
// send gate (the API key, TLS, the endpoint). The pauses (the shared one, a paused queue) keep it
// ready and are named.
func (w *Worker) Ready(ctx context.Context) Readiness {
	r := Readiness{Ready: true, Redis: "ok", Key: "ok", Send: "ok"}
	var reasons []string
	w.mu.Lock()
	serverErr := w.lastErr
	w.mu.Unlock()
	pingErr := w.rdb.Ping(ctx).Err()
	if ctx.Err() == nil {
		w.redis.report(pingErr)
	}
	if err := pingErr; err != nil {
		r.Ready, r.Redis = false, "unreachable: "+err.Error()
		reasons = append(reasons, "Redis is unreachable")
	} else if serverErr != nil {
		r.Ready, r.Redis = false, "the task server's last health check failed: "+serverErr.Error()
		reasons = append(reasons, "the task server cannot reach Redis")
	} else if err := w.noteWrite(ctx, w.store.ProbeWrite(ctx, w.id)); err != nil {
		// PING answers while Redis refuses writes (OOM under noeviction): nothing can be recorded.
		r.Ready, r.Redis = false, err.Error()
		reasons = append(reasons, err.Error()+": raise maxmemory or free memory; readiness returns by itself when writes work")
	} else if err := w.checkGuard(ctx); err != nil {
		r.Ready, r.Redis = false, err.Error()
		reasons = append(reasons, err.Error())
	}
	if blocked, cause, reason, since := w.gate.state(); blocked {
		at := since.UTC().Format(time.RFC3339)
		r.Ready, r.Send = false, "stopped since "+at+": "+reason
		if cause == causeKey {
			r.Key = "rejected by Cloudimage since " + at
		}
		reasons = append(reasons, "sending stopped: "+reason)
	}
	if r.Redis == "ok" {
		// The pauses as the status reads them (status.Reader: one reading, one wording).
		p, err := w.status.ReadPauses(ctx)
		if err != nil {
			r.Ready, r.Redis = false, err.Error()
			reasons = append(reasons, "the pauses cannot be read from Redis: "+err.Error())
		}
		// A pause keeps the worker ready: nothing is wrong with it, and it keeps accepting requests,
		// which wait. The shared pause is Cloudimage asking every worker to wait (a 429, an outage),
		// so a 503 for it would take every worker's intake out of service at once.
		var notes []string
		if len(p.Queues) > 0 {
			r.PausedQueues = p.Queues
			notes = append(notes, "paused by an operator (asynq queue pause): "+strings.Join(p.Queues, ", ")+
				"; their tasks wait until resumed with asynq queue unpause QUEUE")
		}
		if p.Shared.Left > 0 {
			r.Paused = p.Shared.String()
			notes = append(notes, "sending is paused for every worker: "+p.Shared.Reason+
				"; requests are still accepted and wait; the pause ends by itself")
		}
		r.Note = strings.Join(notes, ". ")
	}
	for i, s := range reasons {
		if i > 0 {
			r.Reason += "; "
		}
		r.Reason += s
	}
	return r
}

// onTaskError logs, in the product's words, every task asynq is about to archive: dead-lettered on
// purpose (SkipRetry), or out of retries after an error that was not the API's (a Redis error, say).
// asynq's own "Retry exhausted" line is dropped (asynqLogger), so each dead letter is one line.
func (w *Worker) onTaskError(ctx context.Context, t *asynq.Task, err error) {
	id, _ := asynq.GetTaskID(ctx)
	q, _ := asynq.GetQueueName(ctx)
	fields := []zap.Field{zap.String("task_id", id), zap.String("queue", q), zap.String("type", t.Type()), zap.String("reason", err.Error())}
	n, _ := asynq.GetRetryCount(ctx)
	if errors.Is(err, asynq.SkipRetry) {
		w.log.Warn("task dead-lettered", fields...)
		w.keepDeadLetter(ctx, t, id, q, n+1, err)
		return
	}
	if !isFailure(err) {
		return
	}
	if m, ok := asynq.GetMaxRetry(ctx); ok && n >= m {
		w.log.Warn("task dead-lettered: out of retries", append(fields, zap.String("attempts", attemptsText(n+1)))...)
		w.keepDeadLetter(ctx, t, id, q, n+1, err)
	}
}

// keepDeadLetter records a task asynq is about to archive in the product's own dead-letter record,
// which outlives asynq's archive (10,000 tasks per queue, trimmed silently), and counts it.
func (w *Worker) keepDeadLetter(ctx context.Context, t *asynq.Task, id, queue string, attempts int, err error) {
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	noteTrim := func(terr error) { w.log.Debug("note archive trim", zap.String("queue", queue), zap.Error(terr)) }
	if kerr := inspect.KeepFailed(rctx, w.store, t, id, queue, attempts, err, noteTrim); kerr != nil {
		w.log.Error("could not keep the dead letter's own record: it is in asynq's archive only", zap.String("task_id", id), zap.Error(kerr))
	}
}
