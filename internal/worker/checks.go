package worker

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// An accepted call records its status check in Redis with one ZADD (followUp, store.AddCheck).
// Each worker's check loop runs the checks that came due, or hands them to asynq as confirm
// tasks (runDueChecks).
// So a drain pays one plain command per call for its checks, not an asynq enqueue.
// And asynq never has to forward thousands of scheduled checks while the drain runs.
// While this worker sends flat out, the loop waits (sendingFlatOut), at most confirmYieldMax.
// A worker killed between taking checks and enqueueing them loses none: see store.TakeChecks.

const (
	// checksEvery is how often the check loop looks for checks that came due.
	checksEvery = 200 * time.Millisecond
	// checksBatch is how many checks it takes at once.
	checksBatch = 100
	// checksLease is how long a check taken stays with its taker: then another takes it.
	checksLease = time.Minute
)

// runChecks hands the status checks that came due to asynq, every checksEvery, until ctx is done.
func (w *Worker) runChecks(ctx context.Context) {
	t := time.NewTicker(checksEvery)
	defer t.Stop()
	warn := oncePer{period: time.Minute}
	var flatSince time.Time // when this worker began to send flat out; zero: it does not
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if holdChecks(&flatSince, w.sendingFlatOut(), time.Now()) {
			continue
		}
		if err := w.runDueChecks(ctx); err != nil && ctx.Err() == nil && warn.allow(time.Now()) {
			w.log.Warn("could not hand status checks to the task queue: they are taken again after a minute", zap.Error(err))
		}
	}
}

// holdChecks reports whether the check loop waits at now, flat saying whether this worker sends
// flat out. It waits while it does, up to confirmYieldMax from *since, when that began.
func holdChecks(since *time.Time, flat bool, now time.Time) bool {
	switch {
	case !flat:
		*since = time.Time{}
		return false
	case since.IsZero():
		*since = now
		return true
	}
	return now.Sub(*since) < confirmYieldMax
}

// handChecks enqueues the confirm tasks of the checks due, batch by batch, and removes them. The
// first failure stops it: the checks not removed are taken again after checksLease.
func (w *Worker) handChecks(ctx context.Context) error {
	for ctx.Err() == nil {
		raw, err := w.store.TakeChecks(ctx, time.Now(), checksBatch, checksLease)
		if err != nil {
			return err
		}
		cs, rs, done := w.decodeChecks(raw)
		for i, c := range cs {
			t, err := taskq.NewConfirmTask(c, w.q.Confirm, 0, w.cfg.MaxRetry)
			if err == nil {
				_, err = taskq.Enqueue(ctx, w.client, t) // a check enqueued before is the same task
			}
			if err != nil {
				_ = w.store.DoneChecks(context.WithoutCancel(ctx), done)
				return err
			}
			done = append(done, rs[i])
		}
		if err := w.store.DoneChecks(context.WithoutCancel(ctx), done); err != nil {
			return err
		}
		if len(raw) < checksBatch {
			return nil
		}
	}
	return nil
}

// A check that comes due runs in the check loop when it can end there: Cloudimage answers DONE
// with no failed URL, the usual case. Its asynq task is then never enqueued, dequeued nor
// completed: three scripts and four round trips a check fewer. The checks confirmed in one
// batch move their requests with one script call. Any other outcome hands the check to asynq
// as its confirm task (handChecks did so for every check), after the wait its handler would
// have taken: running, failed URLs, an error, no turn in the status budget. The task then
// follows it with its retries and dead letters, as before.

// decodeChecks decodes the check records raw: cs the checks, rs their records, bad the records
// that do not decode (logged; they are dropped with the checks done).
func (w *Worker) decodeChecks(raw []string) (cs []tasks.Confirm, rs, bad []string) {
	bad = make([]string, 0, len(raw))
	for _, r := range raw {
		c, err := tasks.DecodeConfirm([]byte(r))
		if err != nil {
			w.log.Error("dropped a status check record that does not decode", zap.Int("bytes", len(r)), zap.Error(err))
			bad = append(bad, r)
			continue
		}
		cs, rs = append(cs, c), append(rs, r)
	}
	return cs, rs, bad
}

// checkOutcome is what a check run in the check loop came to.
type checkOutcome struct {
	confirmed bool          // DONE with no failed URL: mark it confirmed
	delay     time.Duration // otherwise: hand its task to asynq, due after delay
	failed    bool          // the check failed: its task has one retry fewer
}

// runDueChecks runs the status checks due, batch by batch: up to statusSlots at once. The first
// failure to hand a check to asynq stops it: the checks not removed are taken again after
// checksLease.
func (w *Worker) runDueChecks(ctx context.Context) error {
	if w.api == nil || w.cfg.MaxRetry == 0 {
		// With no retry, a failed check in the loop would be the task's only attempt.
		return w.handChecks(ctx)
	}
	for ctx.Err() == nil {
		raw, err := w.store.TakeChecks(ctx, time.Now(), checksBatch, checksLease)
		if err != nil {
			return err
		}
		cs, rs, done := w.decodeChecks(raw)
		out := make([]checkOutcome, len(cs))
		slots := make(chan struct{}, statusSlots(w.cfg))
		var wg sync.WaitGroup
		for i := range cs {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				out[i] = w.checkOnce(ctx, cs[i])
			})
		}
		wg.Wait()
		var ok []tasks.Confirm
		for i, c := range cs {
			if out[i].confirmed {
				ok = append(ok, c)
				done = append(done, rs[i])
				continue
			}
			retries := w.cfg.MaxRetry
			if out[i].failed {
				retries-- // the check in the loop was its first attempt
			}
			t, err := taskq.NewConfirmTask(c, w.q.Confirm, out[i].delay, retries)
			if err == nil {
				_, err = taskq.Enqueue(ctx, w.client, t) // a check enqueued before is the same task
			}
			if err != nil {
				w.confirmedTogether(context.WithoutCancel(ctx), ok)
				_ = w.store.DoneChecks(context.WithoutCancel(ctx), append(done, confirmedRecords(cs, rs, out, i)...))
				return err
			}
			done = append(done, rs[i])
		}
		w.confirmedTogether(context.WithoutCancel(ctx), ok)
		if err := w.store.DoneChecks(context.WithoutCancel(ctx), done); err != nil {
			return err
		}
		if len(raw) < checksBatch {
			return nil
		}
	}
	return nil
}

// confirmedRecords returns the records of the checks after index i that out confirmed.
func confirmedRecords(cs []tasks.Confirm, rs []string, out []checkOutcome, i int) []string {
	var r []string
	for j := i + 1; j < len(cs); j++ {
		if out[j].confirmed {
			r = append(r, rs[j])
		}
	}
	return r
}

// checkOnce asks Cloudimage once how the invalidation of c ended, as handleConfirm does, and
// says whether c is confirmed or when its task should follow it.
func (w *Worker) checkOnce(ctx context.Context, c tasks.Confirm) checkOutcome {
	if _, _, _, err := w.waitTurn(ctx, nil, nil, 0, store.Status); err != nil {
		return checkOutcome{} // the task waits its turn, as it would have
	}
	st, took, err := timed(w, scopeStatus, func() (*apiclient.InvalidationStatus, error) { return w.api.Status(ctx, c.UUID) })
	if err != nil {
		if ctx.Err() != nil {
			return checkOutcome{}
		}
		// The failure is shared (a pause, the outage backoff) and counted; the task asks again
		// after it, with the retries left.
		_, wait := w.share(ctx, scopeStatus, err, took, len(c.URLs))
		return checkOutcome{delay: wait, failed: true}
	}
	w.acceptedAnswer(scopeStatus, nil)
	verdict := classifyStatus(st.Status)
	if verdict == statusDone && len(st.Failed) == 0 {
		w.metrics.Final.WithLabelValues(w.statuses.label(st.Status)).Inc()
		w.metrics.RequestToConfirm.Observe(time.Since(c.RequestedAt).Seconds())
		return checkOutcome{confirmed: true}
	}
	w.succeeded(ctx)
	if verdict == statusUnknown {
		w.unknownStatus(st.Status, w.statuses.label(st.Status), c.UUID)
	}
	if verdict == statusRunning || verdict == statusUnknown {
		// The task asks again when its handler would have (stillRunning), and so counts the answer.
		age := time.Since(c.SentAt)
		if age <= w.cfg.ConfirmTimeout {
			return checkOutcome{delay: min(max(age/4, 5*time.Second), 5*time.Minute)}
		}
	}
	return checkOutcome{} // failed URLs or an end: the task's handler asks again and follows the answer
}

// confirmedTogether marks the checks cs confirmed: their requests move with one script call per
// set of task requests, and the history marks their calls in one round trip.
func (w *Worker) confirmedTogether(ctx context.Context, cs []tasks.Confirm) {
	if len(cs) == 0 {
		return
	}
	w.succeeded(ctx)
	type group struct {
		reqs, urls []string
	}
	groups := map[string]*group{}
	var order []string
	for _, c := range cs {
		k := strings.Join(c.Requests, " ")
		g := groups[k]
		if g == nil {
			g = &group{reqs: c.Requests}
			groups[k] = g
			order = append(order, k)
		}
		g.urls = append(g.urls, c.URLs...)
	}
	for _, k := range order {
		w.moveRequests(ctx, groups[k].reqs, groups[k].urls, markMoves[store.StateConfirmed])
	}
	calls := make([]store.Call, len(cs))
	for i, c := range cs {
		calls[i] = store.Call{UUID: c.UUID, URLs: c.URLs}
	}
	if err := w.store.MarkCalls(ctx, calls, store.StateConfirmed, w.cfg.HistoryTTL); err != nil {
		w.log.Debug("mark state", zap.String("state", store.StateConfirmed), zap.Error(err))
	}
	w.log.Debug("invalidations confirmed", zap.Int("calls", len(cs)))
}
