package worker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// The rate monitor says when the configured rate cannot be reached, and why. Every monitorEvery
// each worker sets the achieved and configured rate gauges, and, while there is a backlog and the
// fleet sends less than 90% of PURGE_RATE over the last minute, warns at most once a minute naming
// the cause, from what the live workers publish (store.WorkerState).

const (
	monitorEvery = 10 * time.Second
	// monitorSamples is a minute of samples: the achieved rate is a one-minute average, so the
	// monitor judges only once it has run that long, and pauses count when seen within it.
	monitorSamples = 6
)

// rateSample is what the monitor sees at one moment.
type rateSample struct {
	at                   int64         // when it was taken (Redis clock, ms)
	configured, achieved float64       // calls/s: PURGE_RATE, and what the fleet sent over the last minute
	backlog              bool          // work waits to be sent (see sample): the fleet has more than it sends
	bulk                 bool          // the backlog is bulk work (tasks of tasks.BulkRequests requests)
	paused               bool          // a shared pause (429, outage) was on within the last minute
	latency              time.Duration // the API's latency this worker observes
	slots                int           // task slots of the fleet (sum of PURGE_CONCURRENCY)
	capacity             int           // calls the fleet's slots carry at once for this backlog
	confirmActive        int           // status checks holding task slots now
}

// shortfall reports whether the configured rate is not reached although there is work, and names
// the cause: pauses, latency and concurrency, confirmations, or none of them.
func shortfall(s rateSample) (cause string, short bool) {
	if s.configured <= 0 || !s.backlog || s.achieved >= 0.9*s.configured {
		return "", false
	}
	need := int(s.configured*s.latency.Seconds()) + 1
	switch {
	case s.paused:
		return "pauses: Cloudimage answered 429 or failed (an outage), and every worker paused; see cipurge_pauses_total and /readyz", true
	case need > s.capacity:
		return fmt.Sprintf("latency and concurrency: the API answers in %s, so %g calls/s need %d calls in flight, and the workers' "+
			"%d task slots carry %d; raise PURGE_CONCURRENCY or add workers", s.latency.Round(time.Millisecond), s.configured, need, s.slots, s.capacity), true
	case s.confirmActive*2 >= s.slots && s.slots > 0:
		return fmt.Sprintf("confirmations: status checks hold %d of %d task slots; lower PURGE_CONFIRM_RATE or set PURGE_CONFIRM=false",
			s.confirmActive, s.slots), true
	}
	return fmt.Sprintf("none of latency (%s), concurrency, pauses or confirmations: check /readyz and the worker logs", s.latency.Round(time.Millisecond)), true
}

// runMonitor watches the achieved rate until ctx is done.
func (w *Worker) runMonitor(ctx context.Context) {
	w.metrics.RateConfigured.Set(w.cfg.Limit.Rate)
	warn := oncePer{period: time.Minute}
	var paused []bool
	t := time.NewTicker(monitorEvery)
	defer t.Stop()
	for {
		s, err := w.sample(ctx)
		w.busy.note(s, err)
		if err != nil {
			w.log.Debug("rate monitor", zap.Error(err))
		} else {
			w.metrics.RateAchieved.Set(s.achieved)
			paused = append(paused, s.paused)
			if len(paused) > monitorSamples {
				paused = paused[1:]
				for _, p := range paused {
					s.paused = s.paused || p
				}
				if cause, short := shortfall(s); short && warn.allow(time.Now()) {
					w.log.Warn("the configured rate is not reached: "+cause,
						zap.Float64("configured_calls_per_second", s.configured), zap.Float64("achieved_calls_per_second", s.achieved))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample reads from Redis what the monitor judges.
// That is the fleet's send rate, the backlog, the pause and the live workers' slots.
//
// The backlog is work waiting to be sent, more than the fleet sends at once.
// It counts request tasks of the interactive or bulk queue that wait for a slot.
// It counts such tasks that the shared rate limit snoozed, in asynq's retry set.
// It counts URLs held in the pending set past their batching wait (PURGE_MAX_DELAY).
// The batcher leaves them there while its lookahead is full.
//
// URLs still in their window are not due yet.
// The work of a queue an operator paused waits for no worker.
// So a trickle of requests, or a paused queue, is no backlog.
// The achieved rate then measures what was asked, not what the fleet can send.
func (w *Worker) sample(ctx context.Context) (rateSample, error) {
	s := rateSample{configured: w.cfg.Limit.Rate, latency: w.latency.get()}
	var err error
	if _, s.achieved, err = w.store.SendRate(ctx, time.Minute); err != nil {
		return s, err
	}
	now, err := w.store.Now(ctx)
	if err != nil {
		return s, err
	}
	s.at = now
	pauses, err := w.status.ReadPauses(ctx)
	if err != nil {
		return s, err
	}
	heldSince := strconv.FormatInt(now-(w.cfg.MaxDelay+time.Second).Milliseconds(), 10)
	pipe := w.rdb.Pipeline()
	held := pipe.ZCount(ctx, w.store.Keys().Pending, "-inf", heldSince)
	inter := pipe.LLen(ctx, taskq.PendingKey(w.q.Interactive))
	interSnoozed := pipe.ZCard(ctx, taskq.RetryKey(w.q.Interactive))
	bulk := pipe.LLen(ctx, taskq.PendingKey(w.q.Bulk))
	bulkSnoozed := pipe.ZCard(ctx, taskq.RetryKey(w.q.Bulk))
	active := pipe.LLen(ctx, taskq.ActiveKey(w.q.Confirm))
	if _, err := pipe.Exec(ctx); err != nil {
		return s, err
	}
	// The batcher's tasks go to the interactive queue: its pause holds the pending set too.
	interWaits := !slices.Contains(pauses.Queues, w.q.Interactive) && held.Val()+inter.Val()+interSnoozed.Val() > 0
	bulkWaits := !slices.Contains(pauses.Queues, w.q.Bulk) && bulk.Val()+bulkSnoozed.Val() > 0
	s.backlog = interWaits || bulkWaits
	s.bulk = bulkWaits && inter.Val() == 0
	s.confirmActive = int(active.Val())
	s.paused = pauses.Shared.Left > 0
	workers, err := w.store.Workers(ctx, now)
	if err != nil {
		return s, err
	}
	for _, o := range workers {
		s.slots += o.Concurrency
		if s.bulk {
			s.capacity += o.Concurrency * tasks.BulkRequests
		} else {
			s.capacity += o.MaxInFlight
		}
	}
	return s, nil
}

// busyClock is since when the rate monitor has seen, at every sample, work waiting to be sent and
// no shared pause (Redis clock, ms; 0 when the last sample did not, or failed). Published with the
// worker's state (store.WorkerState.BusySince): the fleet's rate achieved over a minute that began
// after it measures what the fleet can send, not what it was asked to (the status's drain time).
type busyClock struct{ since atomic.Int64 }

func (b *busyClock) note(s rateSample, err error) {
	if err != nil || !s.backlog || s.paused {
		b.since.Store(0)
		return
	}
	b.since.CompareAndSwap(0, s.at)
}
