package worker

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/figures"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Metrics are the worker's Prometheus metrics. Names follow the Prometheus conventions: a
// cipurge_ namespace, base units, _total for counters.
//
// A Metrics is the view of one account. With several accounts (NewAccountMetrics) every series
// of an account's work carries the label account (For). Its values are the declared accounts', at
// most accounts.MaxAccounts, never input. A worker of one account (NewMetrics) has no such label:
// its series read exactly as before accounts existed, so dashboards and scripts keep matching.
// What the process shares (Redis's state, webhook deliveries) has no account label.
type Metrics struct {
	APIRequests      *prometheus.CounterVec // by scope and outcome
	APIDuration      prometheus.ObserverVec // by scope
	URLsInvalidated  prometheus.Counter
	Dropped          prometheus.Counter // requests dropped as already satisfied
	BatchSize        prometheus.Observer
	Waits            *prometheus.CounterVec // rate-limit waits by reason: throttled, paused, yield, auth, starts
	WaitSeconds      *prometheus.CounterVec
	Pauses           *prometheus.CounterVec // shared pauses started, by cause
	RequestToSent    prometheus.Observer
	DeadLettered     *prometheus.CounterVec // by reason
	BatchesFormed    prometheus.Counter
	Final            *prometheus.CounterVec // confirmed requests by final Cloudimage status
	UnknownStatus    *prometheus.CounterVec // status checks that got a status Cloudimage does not document, by bounded status label
	RequestToConfirm prometheus.Observer
	URLsFailed       prometheus.Counter     // URLs Cloudimage reported as failed
	AcceptedNoUUID   *prometheus.CounterVec // accepted answers (2xx) without an invalidation uuid, by scope
	InFlight         prometheus.Gauge       // invalidation calls in flight in this worker
	Admissions       prometheus.Counter     // questions asked to the shared limiter
	LookaheadFull    prometheus.Counter     // batcher rounds skipped because enough is formed ahead
	RateConfigured   prometheus.Gauge       // PURGE_RATE, or the account's rate
	RateAchieved     prometheus.Gauge       // API calls per second the fleet sent, last minute
	ConfirmSkipped   prometheus.Counter     // accepted requests not followed: the status-check backlog was full
	RedisWritable    prometheus.Gauge       // 1: this worker's last write to Redis worked; 0: it failed (no account)
	RedisPolicy      *prometheus.GaugeVec   // by policy: what Redis's maxmemory-policy may evict; use ShowPolicy (no account)
	RequestsDone     prometheus.Counter     // producer requests that became done by this worker's moves
	Webhook          *webhook.Metrics       // webhook events and deliveries (cipurge_webhook_*; no account)

	all *metricVecs // every account's series
}

// metricVecs are the registered metrics, every account's, and what the process shares.
type metricVecs struct {
	apiRequests, waits, waitSeconds, pauses, deadLettered, final, unknownStatus, acceptedNoUUID *prometheus.CounterVec
	urlsInvalidated, dropped, batchesFormed, urlsFailed, admissions, lookaheadFull              *prometheus.CounterVec
	confirmSkipped, requestsDone                                                                *prometheus.CounterVec
	apiDuration, batchSize, requestToSent, requestToConfirm                                     *prometheus.HistogramVec
	inFlight, rateConfigured, rateAchieved                                                      *prometheus.GaugeVec

	redisWritable prometheus.Gauge
	redisPolicy   *prometheus.GaugeVec
	webhook       *webhook.Metrics

	labelled bool // the series carry the label account

	policyMu sync.Mutex
	policy   string // the one series redisPolicy holds ("": none)
}

// accountLabel is the label that names a series' account.
const accountLabel = "account"

// NewMetrics creates the metrics of a worker of one account and registers them on reg (nil: not
// registered). Its series have no account label.
func NewMetrics(reg prometheus.Registerer) *Metrics { return newMetrics(reg, false) }

// NewAccountMetrics creates the metrics of a worker of several accounts and registers them on reg
// (nil: not registered). Every series of an account's work carries the label account.
// It returns the view of the account default; For gives another account's.
func NewAccountMetrics(reg prometheus.Registerer) *Metrics { return newMetrics(reg, true) }

// newMetrics creates the metrics, labelled by account or not.
// It runs over 80 lines on purpose: it is one flat list of metric declarations.
// Split, the names and help texts of the product's metrics would no longer read as one table.
func newMetrics(reg prometheus.Registerer, labelled bool) *Metrics {
	latency := []float64{0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800}
	names := func(labels ...string) []string {
		if labelled {
			return append([]string{accountLabel}, labels...)
		}
		return labels
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, names(labels...))
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, names(labels...))
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, names())
	}
	v := &metricVecs{
		labelled:        labelled,
		apiRequests:     counter("cipurge_api_requests_total", "Calls to the Cloudimage API by scope (original, all, status) and outcome.", "scope", "outcome"),
		apiDuration:     histogram("cipurge_api_request_duration_seconds", "Duration of calls to the Cloudimage API.", prometheus.DefBuckets, "scope"),
		urlsInvalidated: counter("cipurge_urls_invalidated_total", "URLs in invalidation requests the API accepted."),
		dropped:         counter("cipurge_requests_dropped_total", "URL requests dropped because an invalidation sent after them already covered them."),
		batchSize: histogram("cipurge_batch_urls", "URLs per API request sent.",
			[]float64{1, 2, 3, 5, 8, 10, 12, 14, tasks.MaxURLsPerTask}), // the last: a full request
		waits:         counter("cipurge_ratelimit_waits_total", "Times a request waited before sending, by reason (throttled, paused, yield, auth, starts).", "reason"),
		waitSeconds:   counter("cipurge_ratelimit_wait_seconds_total", "Time requests were told to wait before sending, by reason.", "reason"),
		pauses:        counter("cipurge_pauses_total", "Shared pauses of every worker started by this worker, by cause (rate_limited, outage).", "cause"),
		requestToSent: histogram("cipurge_request_to_invalidation_seconds", "Time from a URL request to the API accepting its invalidation.", latency),
		deadLettered:  counter("cipurge_dead_lettered_total", "Tasks archived to the dead-letter queue, by reason.", "reason"),
		batchesFormed: counter("cipurge_batches_formed_total", "Request tasks formed by the batcher from the pending set."),
		final: counter("cipurge_invalidations_final_total",
			"Accepted invalidations followed to their final Cloudimage status (DONE, ERROR, ERROR_CDN_NODE, another ERROR status as the unknown statuses' bounded label, unconfirmed).", "status"),
		unknownStatus: counter("cipurge_api_unknown_status_total",
			fmt.Sprintf("Status checks answered with a status Cloudimage does not document (the check goes on), by status: %d such statuses at most, the rest as %s.", maxStatusLabels, statusOther), "status"),
		requestToConfirm: histogram("cipurge_request_to_confirmed_seconds", "Time from a URL request to Cloudimage reporting its invalidation DONE.", latency),
		urlsFailed:       counter("cipurge_urls_failed_total", "URLs Cloudimage reported as failed (status ERROR or listed under failed)."),
		acceptedNoUUID:   counter("cipurge_api_accepted_without_uuid_total", "Answers of 2xx without an invalidation uuid, by scope: accepted, but they cannot be followed.", "scope"),
		inFlight:         gauge("cipurge_api_inflight_calls", "Invalidation calls this worker has in flight."),
		admissions:       counter("cipurge_admissions_total", "Times this worker asked the shared limiter (about once per call: a reservation, not a polling loop)."),
		lookaheadFull:    counter("cipurge_batcher_lookahead_full_total", "Batcher rounds that formed nothing because enough requests wait to be sent already."),
		rateConfigured:   gauge("cipurge_send_rate_configured_calls", "The configured shared rate limit, PURGE_RATE or the account's rate (API calls per second; 0: no limit)."),
		rateAchieved:     gauge("cipurge_send_rate_achieved_calls", "Invalidation calls per second every worker together sent over the last minute."),
		requestsDone:     counter("cipurge_requests_done_total", "Producer requests (request IDs) that became done: every URL confirmed, finally failed or covered."),
		confirmSkipped:   counter("cipurge_confirm_skipped_total", "Accepted requests not followed to their final status because the status-check backlog was full."),
		redisWritable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cipurge_redis_writable",
			Help: "1 when this worker's last write to Redis worked (its state, written every " + figures.Duration(store.WorkerPublishEvery) + ", or the /readyz write probe), 0 when it failed: out of memory under noeviction, a read-only replica, unreachable.",
		}),
		redisPolicy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cipurge_redis_maxmemory_policy_evicts",
			Help: "Redis's maxmemory-policy as this worker last read it (every " + figures.Duration(defaults.PolicyEvery) + " at most) and what it may evict: 2 any key (allkeys-*: queued requests and the queues), 1 keys with a TTL (volatile-*), 0 none (noeviction). No series while CONFIG GET is refused.",
		}, []string{"policy"}),
	}
	if reg != nil {
		reg.MustRegister(v.apiRequests, v.apiDuration, v.urlsInvalidated, v.dropped, v.batchSize, v.waits, v.waitSeconds,
			v.pauses, v.requestToSent, v.deadLettered, v.batchesFormed, v.final, v.unknownStatus, v.requestToConfirm, v.urlsFailed, v.acceptedNoUUID,
			v.inFlight, v.admissions, v.lookaheadFull, v.rateConfigured, v.rateAchieved, v.confirmSkipped, v.redisWritable, v.redisPolicy,
			v.requestsDone)
	}
	v.webhook = webhook.NewMetrics(reg)
	return v.of(tasks.DefaultAccount)
}

// For returns the view of account: the same metrics, its series labelled account=NAME when
// the metrics are labelled (NewAccountMetrics). "" is the account default.
func (m *Metrics) For(account string) *Metrics { return m.all.of(tasks.QueuesOf(account).Account) }

// of is the view of account.
func (v *metricVecs) of(account string) *Metrics {
	l := prometheus.Labels{}
	if v.labelled {
		l[accountLabel] = account
	}
	return &Metrics{
		APIRequests: v.apiRequests.MustCurryWith(l), APIDuration: v.apiDuration.MustCurryWith(l),
		URLsInvalidated: v.urlsInvalidated.With(l), Dropped: v.dropped.With(l), BatchSize: v.batchSize.With(l),
		Waits: v.waits.MustCurryWith(l), WaitSeconds: v.waitSeconds.MustCurryWith(l), Pauses: v.pauses.MustCurryWith(l),
		RequestToSent: v.requestToSent.With(l), DeadLettered: v.deadLettered.MustCurryWith(l), BatchesFormed: v.batchesFormed.With(l),
		Final: v.final.MustCurryWith(l), UnknownStatus: v.unknownStatus.MustCurryWith(l), RequestToConfirm: v.requestToConfirm.With(l),
		URLsFailed: v.urlsFailed.With(l), AcceptedNoUUID: v.acceptedNoUUID.MustCurryWith(l), InFlight: v.inFlight.With(l),
		Admissions: v.admissions.With(l), LookaheadFull: v.lookaheadFull.With(l), RateConfigured: v.rateConfigured.With(l),
		RateAchieved: v.rateAchieved.With(l), ConfirmSkipped: v.confirmSkipped.With(l), RequestsDone: v.requestsDone.With(l),
		RedisWritable: v.redisWritable, RedisPolicy: v.redisPolicy, Webhook: v.webhook,
		all: v,
	}
}

// ShowPolicy makes cipurge_redis_maxmemory_policy_evicts hold one series, of policy ("": none).
func (m *Metrics) ShowPolicy(policy string) {
	v := m.all
	v.policyMu.Lock()
	defer v.policyMu.Unlock()
	if policy == v.policy {
		return
	}
	v.redisPolicy.Reset()
	if policy != "" {
		v.redisPolicy.WithLabelValues(policy).Set(float64(store.PolicyEvicts(policy)))
	}
	v.policy = policy
}
