package worker

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Pacing: the API's latency, not the rate limit, would set the pace if every call held one of
// asynq's task slots (PURGE_CONCURRENCY calls in flight: 10 calls/s at 1 s of latency). So a task
// may carry several API requests, which its slot sends concurrently, each at the send time the
// shared limiter reserved for it; the batcher sizes tasks from the rate and the latency it observes
// and forms them no faster than they can be sent.

const (
	// maxRequestsPerTask bounds the requests one task formed by the batcher carries, and so the
	// calls one slot has in flight: PURGE_CONCURRENCY x 30 calls (300 at the default), enough
	// for PURGE_RATE=100 at 1.3 s of latency, PURGE_RATE=20 at 10 s. A larger need is reported
	// (see the rate monitor).
	maxRequestsPerTask = 30
	// lookahead is how much sending time the batcher keeps formed ahead, in request tasks waiting
	// in the interactive queue. Everything beyond it stays in the pending set, where it costs
	// least and keeps coalescing new requests.
	lookahead = 2 * time.Second
	// outageProbe is the longest shared pause after an outage: one request probes the API after
	// each, so an outage costs at most one call per outageProbe and sending resumes at most
	// outageProbe after the API is back (or PURGE_BACKOFF_MAX, if shorter).
	outageProbe = 5 * time.Second
)

// latencyEWMA is the API's observed latency, an exponentially weighted moving average over the
// last calls (weight 1/8), in nanoseconds. Until the first call it is assumedLatency.
type latencyEWMA struct{ ns atomic.Int64 }

// assumedLatency is the latency assumed before the first call answered: a far API. Guessing high
// costs nothing but larger tasks at the start; guessing low would form many one-request tasks that
// then hold the slots.
const assumedLatency = time.Second

func (l *latencyEWMA) observe(d time.Duration) {
	for {
		old := l.ns.Load()
		n := int64(d)
		if old > 0 {
			n = old + (int64(d)-old)/8
		}
		if l.ns.CompareAndSwap(old, n) {
			return
		}
	}
}

func (l *latencyEWMA) get() time.Duration {
	if ns := l.ns.Load(); ns > 0 {
		return time.Duration(ns)
	}
	return assumedLatency
}

// inflightNeeded is how many calls this worker's slots must be able to carry for it to send at
// the configured rate with the observed latency: rate x (latency + the reservation horizon), a
// quarter more for the variance of the latency, plus the burst. The horizon counts because a
// task's requests reserve one after the other, each waiting for its send time (up to a second),
// and its slot is free again only when its last call answered. With no rate limit it is every
// call the slots can carry.
func inflightNeeded(cfg Config, latency time.Duration) int {
	if cfg.Limit.Rate <= 0 {
		return cfg.Concurrency * tasks.BulkRequests
	}
	return int(math.Ceil(cfg.Limit.Rate*(latency+cfg.MaxInSlotWait).Seconds()*1.25)) + max(cfg.Limit.Burst, 1)
}

// requestsPerTask is how many API requests the batcher puts in one task: enough that this
// worker's slots carry the calls needed in flight, at most maxRequestsPerTask.
func requestsPerTask(cfg Config, latency time.Duration) int {
	need := inflightNeeded(cfg, latency)
	return min(max((need+cfg.Concurrency-1)/cfg.Concurrency, 1), maxRequestsPerTask)
}

// taskShares are the shares of requestsPerTask that the batcher gives its tasks in turn. Tasks of
// one size that start together share the limit equally, end their reservations together, and
// then all wait for their last answers: nothing reserves meanwhile. At 100 calls/s and a 1 s API
// that left a 250 ms stretch with 0-10 calls every few seconds. Tasks of unequal sizes end apart,
// so some slot is reserving. The shares' mean is 1.
var taskShares = [...]float64{1.3, 1, 0.7}

// taskSize is how many requests the batcher's turn-th task carries: a share of perTask, at least
// 1 and at most maxRequestsPerTask (which makes the largest share smaller).
func taskSize(perTask, turn int) int {
	return min(max(int(math.Round(float64(perTask)*taskShares[turn%len(taskShares)])), 1), maxRequestsPerTask)
}

// lookaheadRequests is how many requests the batcher keeps formed and waiting to be sent: what the
// shared limit lets through during the latency plus lookahead, and at least one round of tasks
// for every slot. With no rate limit it is unbounded (-1).
func lookaheadRequests(cfg Config, latency time.Duration, perTask int) int {
	if cfg.Limit.Rate <= 0 {
		return -1
	}
	ahead := int(math.Ceil(cfg.Limit.Rate*(latency+lookahead).Seconds())) + max(cfg.Limit.Burst, 1)
	return max(ahead, cfg.Concurrency*perTask)
}

// queuedTasks is how many request tasks of the interactive queue are formed and wait to be sent:
// for a slot (asynq's pending list), and for their send time (its retry and scheduled sets: a
// request whose reservation lies further ahead than a slot may wait is snoozed there, and a split
// part may be scheduled). Counting only the pending list let the batcher form the whole backlog
// behind a slow limit once the slots snoozed what they took (2,910 of 3,000 URLs in 3 s at
// 2 calls/s with 10 slots). LLEN and ZCARD are O(1), where the Inspector's queue info scans far more.
func (w *Worker) queuedTasks(ctx context.Context) (int, error) {
	pipe := w.rdb.Pipeline()
	pending := pipe.LLen(ctx, taskq.PendingKey(w.q.Interactive))
	retry := pipe.ZCard(ctx, taskq.RetryKey(w.q.Interactive))
	scheduled := pipe.ZCard(ctx, taskq.ScheduledKey(w.q.Interactive))
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	return int(pending.Val() + retry.Val() + scheduled.Val()), nil
}
