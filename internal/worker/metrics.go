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
type Metrics struct {
	APIRequests      *prometheus.CounterVec   // by scope and outcome
	APIDuration      *prometheus.HistogramVec // by scope
	URLsInvalidated  prometheus.Counter
	Dropped          prometheus.Counter // requests dropped as already satisfied
	BatchSize        prometheus.Histogram
	Waits            *prometheus.CounterVec // rate-limit waits by reason: throttled, paused, yield, auth, starts
	WaitSeconds      *prometheus.CounterVec
	Pauses           *prometheus.CounterVec // shared pauses started, by cause
	RequestToSent    prometheus.Histogram
	DeadLettered     *prometheus.CounterVec // by reason
	BatchesFormed    prometheus.Counter
	Final            *prometheus.CounterVec // confirmed requests by final Cloudimage status
	UnknownStatus    *prometheus.CounterVec // status checks that got a status Cloudimage does not document, by bounded status label
	RequestToConfirm prometheus.Histogram
	URLsFailed       prometheus.Counter     // URLs Cloudimage reported as failed
	AcceptedNoUUID   *prometheus.CounterVec // accepted answers (2xx) without an invalidation uuid, by scope
	InFlight         prometheus.Gauge       // invalidation calls in flight in this worker
	Admissions       prometheus.Counter     // questions asked to the shared limiter
	LookaheadFull    prometheus.Counter     // batcher rounds skipped because enough is formed ahead
	RateConfigured   prometheus.Gauge       // PURGE_RATE
	RateAchieved     prometheus.Gauge       // API calls per second the fleet sent, last minute
	ConfirmSkipped   prometheus.Counter     // accepted requests not followed: the status-check backlog was full
	RedisWritable    prometheus.Gauge       // 1: this worker's last write to Redis worked; 0: it failed
	RedisPolicy      *prometheus.GaugeVec   // by policy: what Redis's maxmemory-policy may evict; use ShowPolicy
	RequestsDone     prometheus.Counter     // producer requests that became done by this worker's moves
	Webhook          *webhook.Metrics       // webhook events and deliveries (cipurge_webhook_*)

	policyMu sync.Mutex
	policy   string // the one series RedisPolicy holds ("": none)
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered).
// It runs over 80 lines on purpose: it is one flat list of metric declarations.
// Split, the names and help texts of the product's metrics would no longer read as one table.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	latency := []float64{0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800}
	m := &Metrics{
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_api_requests_total", Help: "Calls to the Cloudimage API by scope (original, all, status) and outcome.",
		}, []string{"scope", "outcome"}),
		APIDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cipurge_api_request_duration_seconds", Help: "Duration of calls to the Cloudimage API.",
			Buckets: prometheus.DefBuckets,
		}, []string{"scope"}),
		URLsInvalidated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_urls_invalidated_total", Help: "URLs in invalidation requests the API accepted.",
		}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_requests_dropped_total", Help: "URL requests dropped because an invalidation sent after them already covered them.",
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cipurge_batch_urls", Help: "URLs per API request sent.",
			Buckets: []float64{1, 2, 3, 5, 8, 10, 12, 14, tasks.MaxURLsPerTask}, // the last: a full request
		}),
		Waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_ratelimit_waits_total", Help: "Times a request waited before sending, by reason (throttled, paused, yield, auth, starts).",
		}, []string{"reason"}),
		WaitSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_ratelimit_wait_seconds_total", Help: "Time requests were told to wait before sending, by reason.",
		}, []string{"reason"}),
		Pauses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_pauses_total", Help: "Shared pauses of every worker started by this worker, by cause (rate_limited, outage).",
		}, []string{"cause"}),
		RequestToSent: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cipurge_request_to_invalidation_seconds", Help: "Time from a URL request to the API accepting its invalidation.",
			Buckets: latency,
		}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_dead_lettered_total", Help: "Tasks archived to the dead-letter queue, by reason.",
		}, []string{"reason"}),
		BatchesFormed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_batches_formed_total", Help: "Request tasks formed by the batcher from the pending set.",
		}),
		Final: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_invalidations_final_total", Help: "Accepted invalidations followed to their final Cloudimage status (DONE, ERROR, ERROR_CDN_NODE, another ERROR status as the unknown statuses' bounded label, unconfirmed).",
		}, []string{"status"}),
		UnknownStatus: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_api_unknown_status_total",
			Help: fmt.Sprintf("Status checks answered with a status Cloudimage does not document (the check goes on), by status: %d such statuses at most, the rest as %s.", maxStatusLabels, statusOther),
		}, []string{"status"}),
		RequestToConfirm: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cipurge_request_to_confirmed_seconds", Help: "Time from a URL request to Cloudimage reporting its invalidation DONE.",
			Buckets: latency,
		}),
		URLsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_urls_failed_total", Help: "URLs Cloudimage reported as failed (status ERROR or listed under failed).",
		}),
		AcceptedNoUUID: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_api_accepted_without_uuid_total", Help: "Answers of 2xx without an invalidation uuid, by scope: accepted, but they cannot be followed.",
		}, []string{"scope"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cipurge_api_inflight_calls", Help: "Invalidation calls this worker has in flight.",
		}),
		Admissions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_admissions_total", Help: "Times this worker asked the shared limiter (about once per call: a reservation, not a polling loop).",
		}),
		LookaheadFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_batcher_lookahead_full_total", Help: "Batcher rounds that formed nothing because enough requests wait to be sent already.",
		}),
		RateConfigured: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cipurge_send_rate_configured_calls", Help: "The configured shared rate limit, PURGE_RATE (API calls per second; 0: no limit).",
		}),
		RateAchieved: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cipurge_send_rate_achieved_calls", Help: "Invalidation calls per second every worker together sent over the last minute.",
		}),
		RequestsDone: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_requests_done_total", Help: "Producer requests (request IDs) that became done: every URL confirmed, finally failed or covered.",
		}),
		ConfirmSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cipurge_confirm_skipped_total", Help: "Accepted requests not followed to their final status because the status-check backlog was full.",
		}),
		RedisWritable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cipurge_redis_writable",
			Help: "1 when this worker's last write to Redis worked (its state, written every " + figures.Duration(store.WorkerPublishEvery) + ", or the /readyz write probe), 0 when it failed: out of memory under noeviction, a read-only replica, unreachable.",
		}),
		RedisPolicy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cipurge_redis_maxmemory_policy_evicts",
			Help: "Redis's maxmemory-policy as this worker last read it (every " + figures.Duration(defaults.PolicyEvery) + " at most) and what it may evict: 2 any key (allkeys-*: queued requests and the queues), 1 keys with a TTL (volatile-*), 0 none (noeviction). No series while CONFIG GET is refused.",
		}, []string{"policy"}),
	}
	if reg != nil {
		reg.MustRegister(m.APIRequests, m.APIDuration, m.URLsInvalidated, m.Dropped, m.BatchSize, m.Waits, m.WaitSeconds,
			m.Pauses, m.RequestToSent, m.DeadLettered, m.BatchesFormed, m.Final, m.UnknownStatus, m.RequestToConfirm, m.URLsFailed, m.AcceptedNoUUID,
			m.InFlight, m.Admissions, m.LookaheadFull, m.RateConfigured, m.RateAchieved, m.ConfirmSkipped, m.RedisWritable, m.RedisPolicy,
			m.RequestsDone)
	}
	m.Webhook = webhook.NewMetrics(reg)
	return m
}

// ShowPolicy makes cipurge_redis_maxmemory_policy_evicts hold one series, of policy ("": none).
func (m *Metrics) ShowPolicy(policy string) {
	m.policyMu.Lock()
	defer m.policyMu.Unlock()
	if policy == m.policy {
		return
	}
	m.RedisPolicy.Reset()
	if policy != "" {
		m.RedisPolicy.WithLabelValues(policy).Set(float64(store.PolicyEvicts(policy)))
	}
	m.policy = policy
}
