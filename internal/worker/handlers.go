package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Scopes label metrics and logs.
const (
	scopeOriginal = "original"
	scopeAll      = "all"
	scopeStatus   = "status"
)

// handleURLs sends one request task: 1 to 15 URLs, scope "original" (a bulk task: see sendEach).
func (w *Worker) handleURLs(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodeURLs(t.Payload())
	if err != nil {
		w.metrics.DeadLettered.WithLabelValues("bad_payload").Inc()
		return &deadLetter{msg: err.Error() + "; the task cannot be sent as it is: fix the producer and delete this entry"}
	}
	queue, _ := asynq.GetQueueName(ctx)
	if parts := apartPrefixes(p.URLs); len(parts) > 1 {
		// A prefix goes out in an API call of its own, under its own budget.
		return w.enqueueParts(ctx, p, parts, queue, tasks.OriginSplit)
	}
	if len(p.URLs) > w.cfg.BatchSize {
		// Several API requests: a bulk task (up to tasks.BulkRequests), a task the batcher packed
		// to keep enough calls in flight, or one from a producer with a larger batch size.
		return w.sendEach(ctx, p, tasks.Split(p.URLs, w.cfg.BatchSize), queue)
	}
	if p.Origin == tasks.OriginResend && len(p.Previous) > w.cfg.MaxResends {
		// Cloudimage failed these URLs every time: dead-letter them with the history, once. An
		// operator who replays the entry gets one more send.
		id, _ := asynq.GetTaskID(ctx)
		first, err := inspect.FirstDeadLetter(ctx, w.store, id)
		if err != nil {
			return err
		}
		if first {
			w.metrics.DeadLettered.WithLabelValues("failed_by_cloudimage").Inc()
			w.markDead(ctx, p.Requests, p.URLs, fmt.Sprintf("failed by Cloudimage %d times", len(p.Previous)))
			return &deadLetter{msg: fmt.Sprintf("Cloudimage failed these URLs %d times (%s); replay this entry to send them once more",
				len(p.Previous), describe(p.Previous))}
		}
		w.log.Info("replaying URLs Cloudimage failed before", zap.String("task_id", id), zap.Int("urls", len(p.URLs)))
	}
	prio := priority(queue, normalize.IsPrefix(p.URLs[0])) // apartPrefixes left a prefix alone in its task
	adm, urls, held, err := w.waitTurn(ctx, p.URLs, p.Requests, p.RequestedAt.UnixMilli(), prio)
	if err == nil && len(held) > 0 {
		// A prefix that covers them waits to be sent: they wait in a task of their own, which
		// its send satisfies.
		err = w.enqueueParts(ctx, p, [][]string{held}, queue, tasks.OriginSplit)
	}
	if err != nil || adm.Verdict == store.Satisfied {
		return err
	}
	inv, took, err := w.invalidate(ctx, urls)
	if err != nil {
		return w.apiFailed(ctx, scopeOriginal, err, took, p, urls, queue)
	}
	w.accepted(ctx, p, urls, adm, inv, took)
	return nil
}

// apartPrefixes returns the parts a request task's urls are sent in when they hold a prefix (a key
// ending with /*) and something else: each prefix alone, then the other URLs together. A prefix
// makes Cloudimage search its whole log database, so it is counted, sent and failed on its own:
// one call per prefix keeps PURGE_PREFIX_RATE a count of searches, and a 400 names one prefix.
// It returns nil when the task needs no split.
func apartPrefixes(urls []string) [][]string {
	if len(urls) < 2 || !slices.ContainsFunc(urls, normalize.IsPrefix) {
		return nil
	}
	var parts [][]string
	var rest []string
	for _, u := range urls {
		if normalize.IsPrefix(u) {
			parts = append(parts, []string{u})
		} else {
			rest = append(rest, u)
		}
	}
	if len(rest) > 0 {
		parts = append(parts, rest)
	}
	return parts
}

// priority is the admission priority of the tasks of queue (of any account): bulk work yields to
// interactive work. A prefix has a budget of its own, and a bulk prefix yields to an interactive one.
func priority(queue string, prefix bool) store.Priority {
	_, base, _ := tasks.AccountOfQueue(queue)
	bulk := base == tasks.QueueBulk
	switch {
	case prefix && bulk:
		return store.FolderBulk
	case prefix:
		return store.Folder
	case bulk:
		return store.Background
	}
	return store.Interactive
}

// invalidate makes one API call for urls (scope original) and times it.
func (w *Worker) invalidate(ctx context.Context, urls []string) (*apiclient.Invalidation, time.Duration, error) {
	w.metrics.InFlight.Inc()
	defer w.metrics.InFlight.Dec()
	return timed(w, scopeOriginal, func() (*apiclient.Invalidation, error) { return w.api.Invalidate(ctx, urls) })
}

// timed makes one API call and records its duration for scope.
func timed[T any](w *Worker, scope string, call func() (T, error)) (T, time.Duration, error) {
	start := time.Now()
	v, err := call()
	took := time.Since(start)
	w.metrics.APIDuration.WithLabelValues(scope).Observe(took.Seconds())
	if scope == scopeOriginal {
		w.latency.observe(took)
	}
	return v, took, err
}

// endProbe releases the outage probe (if this request held it) after an answer that says nothing
// about whether the API is back.
func (w *Worker) endProbe(ctx context.Context) {
	if err := w.store.EndProbe(ctx); err != nil {
		w.log.Debug("end probe", zap.Error(err))
	}
}

// succeeded ends an outage after a call that sent no URLs (status, flush-all) succeeded.
func (w *Worker) succeeded(ctx context.Context) {
	w.gate.open()
	if err := w.store.Succeeded(ctx); err != nil {
		w.log.Debug("record success", zap.Error(err))
	}
}

// share counts an API failure, logs it, and shares with every worker what the failure policy
// (classify) calls for: the pause after a 429 or a 503 with Retry-After, the shared backoff after
// an outage or a 429 without it, the send gate when sending must stop. It returns the decision
// and the wait it set. The task's own fate is the caller's decision.
func (w *Worker) share(ctx context.Context, scope string, err error, took time.Duration, urls int) (decision, time.Duration) {
	d := classify(scope, nil, err, ctx.Err() != nil)
	w.metrics.APIRequests.WithLabelValues(scope, d.outcome).Inc()
	fields := []zap.Field{zap.String("scope", scope), zap.Int("urls", urls), zap.Duration("duration", took), zap.Error(err)}
	switch d.action {
	case actThrottled, actRetry:
		pauseLabel, reason := store.PauseOutage, d.reason
		if d.action == actThrottled {
			pauseLabel = store.PauseRateLimited
		}
		wait, perr := d.retryAfter, error(nil)
		if wait > 0 {
			perr = w.store.Pause(ctx, reason+", Retry-After "+wait.String(), wait)
		} else {
			if d.action == actThrottled {
				wait, perr = w.store.Backoff(ctx, reason+" without Retry-After", w.cfg.BackoffBase, w.cfg.BackoffMax)
			} else {
				// An outage: one probe per round, so sending resumes soon after the API is back.
				wait, perr = w.store.OutageBackoff(ctx, reason, w.cfg.BackoffBase, min(w.cfg.BackoffMax, outageProbe))
			}
		}
		w.metrics.Pauses.WithLabelValues(pauseLabel).Inc()
		if perr != nil {
			w.log.Warn("could not share the pause", zap.Error(perr))
		} else if err := w.store.RecordPause(ctx, pauseLabel, reason, wait); err != nil {
			w.log.Debug("could not log the pause for /status", zap.Error(err))
		}
		if d.action == actThrottled {
			w.log.Warn("rate limited by Cloudimage: every worker pauses", append(fields, zap.Duration("pause", wait))...)
		} else {
			w.log.Warn("request failed", append(fields, zap.Duration("shared_backoff", wait))...)
		}
		return d, wait
	case actStop:
		w.endProbe(ctx)
		var un *apiclient.UnauthorizedError
		detail := ""
		if errors.As(err, &un) {
			detail = un.Body
		}
		w.gate.block(d.cause, d.reason, detail)
		return d, w.cfg.AuthProbe
	case actCancelled:
		w.endProbe(context.WithoutCancel(ctx))
		return d, 0
	default: // actBadRequest
		w.endProbe(ctx)
		w.log.Warn("Cloudimage rejected the request", fields...)
		return d, 0
	}
}

// accepted records a request the API accepted: metrics, the log line, the per-URL history that
// dedupe relies on, and, when invalidations are confirmed, the status check, or for an answer the
// policy says cannot be followed (no uuid), the URLs' state unconfirmed with the reason.
func (w *Worker) accepted(ctx context.Context, p tasks.URLs, urls []string, adm *store.Admission, inv *apiclient.Invalidation, took time.Duration) {
	reqMS := p.RequestedAt.UnixMilli()
	w.gate.open()
	d := w.acceptedAnswer(scopeOriginal, inv)
	w.metrics.URLsInvalidated.Add(float64(len(urls)))
	w.metrics.BatchSize.Observe(float64(len(urls)))
	w.metrics.RequestToSent.Observe(time.Since(p.RequestedAt).Seconds())
	w.log.Info("invalidation accepted", zap.String("scope", scopeOriginal), zap.Int("urls", len(urls)),
		zap.Int("status", inv.StatusCode), zap.Duration("duration", took), zap.String("uuid", inv.UUID), zap.String("origin", p.Origin))
	// The API has acted: a shutdown or the task's deadline must not cost the records of it.
	ctx, cancel := recordCtx(ctx)
	defer cancel()
	if err := w.store.Sent(ctx, urls, reqMS, adm.Now, inv.UUID, w.cfg.HistoryTTL); err != nil {
		// The API has the request; only the dedupe record is missing, which costs at most a
		// duplicate send later. Do not fail the task (that would send it again now).
		w.log.Warn("could not record an accepted invalidation", zap.String("uuid", inv.UUID), zap.Error(err))
	}
	w.moveRequests(ctx, p.Requests, urls, store.Move{From: store.ReqWaiting, To: store.ReqSent, Keep: w.cfg.Confirm, SentDone: !w.cfg.Confirm, Covers: reqMS})
	if err := w.store.PrefixSent(ctx, urls, reqMS, adm.Now, w.cfg.HistoryTTL); err != nil {
		// Only what the prefix covers is then sent too: a cost, not a loss.
		w.log.Warn("could not record an accepted prefix", zap.String("uuid", inv.UUID), zap.Error(err))
	}
	switch {
	case !w.cfg.Confirm:
	case d.action == actAccepted:
		w.followUp(ctx, tasks.Confirm{UUID: inv.UUID, URLs: urls, RequestedAt: p.RequestedAt,
			SentAt: time.UnixMilli(adm.Now).UTC(), Origin: p.Origin, Previous: p.Previous, Requests: p.Requests})
	default:
		w.mark(ctx, p.Requests, urls, inv.UUID, store.StateUnconfirmed, "not followed: "+d.reason)
	}
}

// recordTimeout bounds the Redis writes that record an accepted call.
const recordTimeout = 10 * time.Second

// recordTries is how many times record tries a write, recordPause apart (then twice that): a
// write refused once (a failover, a connection cut) is written by the next try.
const (
	recordTries = 3
	recordPause = 100 * time.Millisecond
)

// record writes what must survive the task (what the API did with a flush-all, how its task ends):
// with recordCtx (the task's cancellation does not stop it; recordTimeout bounds all the tries),
// up to recordTries times. It returns the last error when every try failed.
func (w *Worker) record(ctx context.Context, write func(context.Context) error) error {
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	var err error
	for i := range recordTries {
		if i > 0 && sleep(rctx, recordPause<<(i-1)) != nil {
			break
		}
		if err = write(rctx); err == nil {
			return nil
		}
	}
	return err
}

// recordCtx returns the context for recording what the API accepted: it does not inherit the
// task's cancellation (a shutdown, the task's timeout, a lost lease), only its values, and is
// bounded by recordTimeout, so that a 201 answered just before a shutdown is still recorded and
// its URLs are not sent again.
func recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
}

// apiFailed turns an API error into what asynq should do with the task.
func (w *Worker) apiFailed(ctx context.Context, scope string, err error, took time.Duration, p tasks.URLs, urls []string, queue string) error {
	d, wait := w.share(ctx, scope, err, took, len(urls))
	switch d.action {
	case actThrottled:
		return snooze(wait, "paused: "+d.reason)
	case actStop:
		return snooze(wait, d.reason)
	case actCancelled:
		// Shutdown or the task's timeout: asynq puts the task back; nothing is lost.
		return err
	case actBadRequest:
		if scope == scopeOriginal && len(urls) > 1 {
			// Isolate the bad URL: send each half on its own; the good ones go through.
			half := (len(urls) + 1) / 2
			return w.enqueueParts(ctx, p, [][]string{urls[:half], urls[half:]}, queue, tasks.OriginSplit)
		}
		w.metrics.DeadLettered.WithLabelValues("rejected").Inc()
		w.markDead(ctx, p.Requests, urls, "rejected by Cloudimage: "+err.Error())
		return &deadLetter{msg: "Cloudimage rejected this request; it will not be retried: " + err.Error()}
	}
	attempts, last := lastAttempt(ctx)
	if scope == scopeAll {
		// A flush-all's retries are this worker's PURGE_MAX_RETRY (its task's asynq limit is set high).
		last = attempts > w.cfg.MaxRetry
	}
	if last {
		w.metrics.DeadLettered.WithLabelValues("retries_exhausted").Inc()
		w.markDead(ctx, p.Requests, urls, fmt.Sprintf("gave up after %s: %v", attemptsText(attempts), err))
		w.log.Error("request failed for good: dead-lettered", zap.String("scope", scope), zap.Int("urls", len(urls)), zap.Int("attempts", attempts), zap.Error(err))
		return &deadLetter{msg: fmt.Sprintf("gave up after %s; last error: %v", attemptsText(attempts), err)}
	}
	w.log.Info("request will be retried", zap.String("scope", scope), zap.Int("attempt", attempts), zap.Duration("not_before", wait))
	return &failure{err: err, d: wait}
}

// enqueueParts replaces a request task by tasks for parts of its URLs, with the same request time,
// and completes the original. Their task IDs derive from their content, so running this twice
// (after a crash) enqueues them once.
func (w *Worker) enqueueParts(ctx context.Context, p tasks.URLs, parts [][]string, queue, origin string) error {
	for _, part := range parts {
		q := p
		q.URLs, q.Origin = part, origin
		t, err := taskq.NewURLsTask(q, queue, w.cfg.MaxRetry)
		if err != nil {
			return err
		}
		if _, err := taskq.Enqueue(ctx, w.client, t); err != nil {
			return fmt.Errorf("enqueue part: %w", err)
		}
		if err := w.store.Requeued(ctx, part, tasks.URLsTaskID(q)); err != nil {
			w.log.Debug("record split", zap.Error(err))
		}
	}
	// The original completes after this: with the replica wait, its parts are on a replica first.
	if err := store.WaitReplicas(ctx, w.rdb, taskq.PendingKey(queue), w.cfg.Replicas); err != nil {
		return fmt.Errorf("enqueue parts: %w", err)
	}
	w.log.Info("request split", zap.Int("urls", len(p.URLs)), zap.Int("parts", len(parts)), zap.String("origin", origin))
	return nil
}

// markDead records in the history of urls that they are dead-lettered, why, and in which task.
// The URLs are dead for the requests they count for (reqs, the task's own, and those linked).
func (w *Worker) markDead(ctx context.Context, reqs, urls []string, why string) {
	w.moveRequests(ctx, reqs, urls, store.Move{From: store.ReqWaiting, To: store.ReqDead})
	id, _ := asynq.GetTaskID(ctx)
	if err := w.store.MarkDead(ctx, urls, id, why, w.cfg.HistoryTTL); err != nil {
		w.log.Debug("mark dead", zap.Error(err))
	}
	if err := w.store.PrefixGone(ctx, urls); err != nil {
		w.log.Debug("forget a dead prefix", zap.Error(err))
	}
}

// handleAll sends a confirmed flush-all at most once per confirmed request.
//
// It checks the confirmation token and the cooldown again.
// Then, before the call, it records in Redis that an attempt is in flight.
// [store.Store.AllBegin] writes that record.
// The cooldown counts from the attempt.
//
// An answer that says the API did not act may be retried.
// Such an answer is a status, or a refused connection.
// Anything else has an unknown outcome.
// That is a timeout, a torn answer, or a worker that died mid-call.
// The next attempt finds such a call through the in-flight record.
// It dead-letters the task with what to check.
// A task with an unknown outcome is never sent again by itself.
//
// Its retries are this worker's PURGE_MAX_RETRY, whatever failed.
// That covers the API's refusals (apiFailed) and Redis's errors around the call alike.
// Both are safe to retry, since the in-flight record stops a second call.
// Every way the task ends uses up the request's confirmation (allDone).
// So a task run again from the dead-letter queue or the UI sends nothing without a fresh one.
// Redis may refuse even that. Then the task does not end.
// It stays queued and sends nothing more.
// It ends on the first run that can.
// So asynq's own retry limit, FlushAllMaxRetry, is never reached.
func (w *Worker) handleAll(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodeAll(t.Payload())
	if err != nil {
		w.metrics.DeadLettered.WithLabelValues("bad_payload").Inc()
		return &deadLetter{msg: err.Error() + "; nothing was sent"}
	}
	reqMS := p.RequestedAt.UnixMilli()
	attempts, _ := lastAttempt(ctx)
	if attempts > w.cfg.MaxRetry+1 {
		// An earlier run used up the retries but could not use up the confirmation (Redis refused
		// it), so the task stayed queued: end it now, and send nothing.
		return w.allGaveUp(ctx, reqMS, attempts, fmt.Errorf("the retries (PURGE_MAX_RETRY=%d) were used up by earlier attempts", w.cfg.MaxRetry))
	}
	err = w.sendAll(ctx, p, reqMS)
	var (
		dl *deadLetter
		sn *snoozeError
		f  *failure
	)
	if err == nil || errors.As(err, &dl) || errors.As(err, &sn) || errors.As(err, &f) || ctx.Err() != nil {
		return err // the policy's decision (failures of the API's are counted by apiFailed), or a shutdown
	}
	// Redis, not the API: a failure like any other, retried as long as PURGE_MAX_RETRY allows.
	if attempts > w.cfg.MaxRetry {
		return w.allGaveUp(ctx, reqMS, attempts, err)
	}
	w.log.Warn("flush-all will be retried", zap.Int("attempt", attempts), zap.Error(err))
	return &failure{err: err}
}

// sendAll is one run of a flush-all task (handleAll): its error is a decision (a dead letter, a
// snooze, a counted failure of the API's), or one of Redis's.
func (w *Worker) sendAll(ctx context.Context, p tasks.All, reqMS int64) error {
	if send, err := w.allMaySend(ctx, p, reqMS); !send {
		return err
	}
	adm, _, _, err := w.waitTurn(ctx, nil, nil, 0, store.Interactive)
	if err != nil {
		return err
	}
	verdict, at, err := w.store.AllBegin(ctx, reqMS)
	if err != nil {
		return err
	}
	if verdict != store.AllGo {
		w.endProbe(ctx) // admitted, but nothing is sent: let another request probe the API
	}
	switch verdict {
	case store.AllUnconfirmed:
		// Nothing to use up: the task ends.
		w.metrics.DeadLettered.WithLabelValues("flush_all_refused").Inc()
		return &deadLetter{msg: "flush-all refused: this request has no confirmation (it was used up, or the task was run again " +
			"from the dead-letter queue or the UI); nothing was sent. To send a flush-all, confirm a fresh one: " + replayAll}
	case store.AllUnknown:
		return w.allUnknown(at, "the worker that was sending it died or was stopped mid-call")
	}
	inv, took, err := timed(w, scopeAll, func() (*apiclient.Invalidation, error) {
		if p.Prefix != "" {
			return w.api.Invalidate(ctx, []string{p.Prefix})
		}
		return w.api.InvalidateAll(ctx)
	})
	if err != nil {
		return w.allCallFailed(ctx, reqMS, at, err, took)
	}
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	w.succeeded(rctx)
	w.acceptedAnswer(scopeAll, inv)
	if p.Prefix != "" {
		return w.rootSent(ctx, p, reqMS, adm.Now, inv)
	}
	return w.allSent(ctx, p, reqMS, adm.Now, inv)
}

// allMaySend runs the checks of a flush-all before it waits its turn.
// It reports false when the task ends here, with the error that ends it.
func (w *Worker) allMaySend(ctx context.Context, p tasks.All, reqMS int64) (bool, error) {
	if flushall.Confirm(w.cfg.Token, p.Confirm) != nil {
		w.metrics.DeadLettered.WithLabelValues("flush_all_refused").Inc()
		return false, w.allDone(ctx, reqMS, "flush-all refused: its confirmation does not match this worker's CLOUDIMAGE_TOKEN; nothing was sent")
	}
	// Before anything else (the cooldown counts from that attempt too): an earlier attempt of this
	// request whose outcome is unknown ends it.
	if at, unknown, err := w.store.AllAttempted(ctx, reqMS); err != nil {
		return false, err
	} else if unknown {
		return false, w.allUnknown(at, "an earlier attempt of this request got no answer that says: its worker died or was stopped mid-call, or the call timed out")
	}
	st, err := w.store.AllState(ctx)
	if err != nil {
		return false, err
	}
	now, err := w.store.Now(ctx)
	if err != nil {
		return false, err
	}
	switch send, why := flushall.MaySend(p.RequestedAt, st.Last(), time.UnixMilli(now), w.cfg.AllCooldown); send {
	case flushall.Satisfied:
		w.log.Info("flush-all already satisfied by a later one", zap.String("uuid", st.UUID))
		return false, w.allDone(ctx, reqMS, "")
	case flushall.Refuse:
		w.metrics.DeadLettered.WithLabelValues("flush_all_refused").Inc()
		return false, w.allDone(ctx, reqMS, "flush-all refused: "+why+" (PURGE_ALL_COOLDOWN); nothing was sent")
	}
	return true, nil
}

// allCallFailed ends a flush-all call, attempted at at (ms), that returned err.
// An unknown outcome is dead-lettered; a refusal counts as a failure of the API's.
func (w *Worker) allCallFailed(ctx context.Context, reqMS, at int64, err error, took time.Duration) error {
	if !apiclient.NotActedOn(err) {
		w.share(ctx, scopeAll, err, took, 0)
		if rerr := w.record(ctx, func(rctx context.Context) error { _, err := w.store.AllUnknown(rctx, reqMS); return err }); rerr != nil {
			// The in-flight record stays: the next attempt finds it and dead-letters the task.
			return fmt.Errorf("flush-all outcome unknown (%v), and it could not be recorded: %w", err, rerr)
		}
		return w.allUnknown(at, err.Error())
	}
	if rerr := w.record(ctx, func(rctx context.Context) error { return w.store.AllRefused(rctx, reqMS) }); rerr != nil {
		// The in-flight record stays: the next attempt finds it and dead-letters the task.
		return fmt.Errorf("flush-all refused by the API (%v), and it could not be recorded: %w", err, rerr)
	}
	ferr := w.apiFailed(ctx, scopeAll, err, took, tasks.URLs{}, nil, w.q.All)
	var dl *deadLetter
	if errors.As(ferr, &dl) {
		return w.allDone(ctx, reqMS, dl.msg+"; nothing was sent. "+replayAll)
	}
	return ferr
}

// allSent records a flush-all the API accepted, sent at sentMS.
// It drops the URL requests the flush-all covers.
func (w *Worker) allSent(ctx context.Context, p tasks.All, reqMS, sentMS int64, inv *apiclient.Invalidation) error {
	var dropped int64
	if err := w.record(ctx, func(rctx context.Context) (err error) {
		dropped, err = w.store.AllSent(rctx, sentMS, inv.UUID, reqMS)
		return err
	}); err != nil {
		// The in-flight record stays, so this request is never sent again, and the cooldown
		// counts from the attempt (the in-flight record counts for it); only the record of the
		// send and the dropping of covered URL requests are missing.
		w.log.Error("could not record the flush-all the API accepted: the cooldown counts from its attempt", zap.String("uuid", inv.UUID), zap.Error(err))
	}
	w.metrics.Dropped.Add(float64(dropped))
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	w.flushedRequests(rctx)
	w.log.Warn("FLUSH-ALL SENT: every cached image of the token will be fetched again from the origin",
		zap.String("uuid", inv.UUID), zap.Int("status", inv.StatusCode), zap.String("requested_by", p.RequestedBy),
		zap.String("reason", p.Reason), zap.Int64("pending_requests_covered", dropped))
	return nil
}

// rootSent records a root prefix the API accepted in place of a flush-all: the cooldown counts
// from it, its confirmation is used up, and it covers what is under it (as any prefix does).
func (w *Worker) rootSent(ctx context.Context, p tasks.All, reqMS, sentMS int64, inv *apiclient.Invalidation) error {
	if err := w.record(ctx, func(rctx context.Context) error { return w.store.AllRootSent(rctx, p.Prefix, reqMS, sentMS) }); err != nil {
		// As for a flush-all: the in-flight record stays, so it is never sent again, and the
		// cooldown counts from its attempt.
		w.log.Error("could not record the root prefix the API accepted: the cooldown counts from its attempt", zap.String("uuid", inv.UUID), zap.Error(err))
	}
	rctx, cancel := recordCtx(ctx)
	defer cancel()
	keys := []string{p.Prefix}
	if err := w.store.Sent(rctx, keys, reqMS, sentMS, inv.UUID, w.cfg.HistoryTTL); err != nil {
		w.log.Warn("could not record an accepted invalidation", zap.String("uuid", inv.UUID), zap.Error(err))
	}
	if err := w.store.PrefixSent(rctx, keys, reqMS, sentMS, w.cfg.HistoryTTL); err != nil {
		w.log.Warn("could not record an accepted prefix", zap.String("uuid", inv.UUID), zap.Error(err))
	}
	w.log.Warn("ROOT PREFIX SENT: every cached image under it will be fetched again from the origin",
		zap.String("prefix", p.Prefix), zap.String("uuid", inv.UUID), zap.Int("status", inv.StatusCode),
		zap.String("requested_by", p.RequestedBy), zap.String("reason", p.Reason))
	return nil
}

// replayAll says how an operator requests a flush-all again.
const replayAll = "enqueue dlq replay " + tasks.TaskIDAll + " --confirm=<your CLOUDIMAGE_TOKEN value>"

// allGaveUp ends a flush-all whose retries (PURGE_MAX_RETRY) are used up by failures that were not
// the API's (Redis could not read or record its state), err the last.
func (w *Worker) allGaveUp(ctx context.Context, reqMS int64, attempts int, err error) error {
	w.metrics.DeadLettered.WithLabelValues("retries_exhausted").Inc()
	w.log.Error("flush-all failed for good: dead-lettered", zap.Int("attempts", attempts), zap.Error(err))
	return w.allDone(ctx, reqMS, fmt.Sprintf("gave up after %s; last error: %v; nothing was sent. %s", attemptsText(attempts), err, replayAll))
}

// allDone ends the task of the flush-all requested at reqMS without a send: it uses up the
// confirmation and returns the dead letter msg (nil for an empty msg: the task completes). An
// attempt still recorded in flight is not forgotten: its outcome is unknown, and the task is
// dead-lettered as such. When Redis refuses even that (after record's tries), a task that would be
// dead-lettered does not end: archived with its confirmation, a run from the dead-letter queue or
// the UI would send it. It stays queued as a counted failure, and its next runs end it (once past
// PURGE_MAX_RETRY, before anything else). A task that completes may end: nothing runs it again.
func (w *Worker) allDone(ctx context.Context, reqMS int64, msg string) error {
	var at int64
	err := w.record(ctx, func(rctx context.Context) (err error) {
		at, err = w.store.AllDone(rctx, reqMS)
		return err
	})
	switch {
	case err != nil && msg == "":
		w.log.Warn("could not use up the confirmation of a flush-all a later one covered; its task completes", zap.Error(err))
		return nil
	case err != nil:
		w.log.Error("could not use up the flush-all's confirmation: its task stays queued, sending nothing, until it can", zap.String("dead_letter", msg), zap.Error(err))
		return &failure{err: fmt.Errorf("%s; its confirmation could not be used up (%w), so the task stays queued until it can", msg, err)}
	case at > 0:
		return w.allUnknown(at, "an attempt of it was still recorded in flight: it may have reached Cloudimage")
	case msg == "":
		return nil
	}
	return &deadLetter{msg: msg}
}

// allUnknown dead-letters a flush-all whose attempt at (ms) has an unknown outcome, saying what an
// operator should check. Its confirmation is already used up (by the record of the unknown outcome).
func (w *Worker) allUnknown(at int64, why string) error {
	when := time.UnixMilli(at).UTC().Format(time.RFC3339)
	w.metrics.DeadLettered.WithLabelValues("flush_all_unknown").Inc()
	w.log.Error("flush-all outcome unknown: not sent again", zap.String("attempt_at", when), zap.String("why", why))
	return &deadLetter{msg: fmt.Sprintf("flush-all outcome unknown: the attempt at %s ended without an answer that says whether Cloudimage acted (%s). "+
		"It is not sent again by itself: a second flush-all would make Cloudimage fetch every image from the origin again. "+
		"Check with Cloudimage (its console or support) whether a flush-all (scope all) was received around %s; "+
		"if not, and one is still needed, request it again with: %s. PURGE_ALL_COOLDOWN=%s counts from this attempt",
		when, why, when, replayAll, w.cfg.AllCooldown)}
}

// followUp records the status check of an accepted request (confirmed invalidations), due after
// ConfirmDelay. One ZADD: a loop hands it to asynq when due (runChecks).
func (w *Worker) followUp(ctx context.Context, c tasks.Confirm) {
	if !w.confirmRoom(ctx) {
		w.metrics.ConfirmSkipped.Inc()
		w.mark(ctx, c.Requests, c.URLs, c.UUID, store.StateUnconfirmed, "not followed: the status-check backlog was full")
		return
	}
	b, err := tasks.EncodeConfirm(c)
	if err == nil {
		err = w.store.AddCheck(ctx, b, time.Now().Add(w.cfg.ConfirmDelay))
	}
	if err != nil {
		w.log.Warn("could not schedule the status check", zap.String("uuid", c.UUID), zap.Error(err))
	}
}

// handleConfirm follows an accepted request until Cloudimage reports it DONE or failed.
// Failed means ERROR, or any status that starts with ERROR (see classifyStatus).
// URLs it failed are sent again as a new request (origin resend) with the usual retries.
// handleURLs dead-letters a resend whose URLs already failed more than MaxResends times.
// Its dead letter lists the uuids and statuses they went through.
func (w *Worker) handleConfirm(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodeConfirm(t.Payload())
	if err != nil {
		w.metrics.DeadLettered.WithLabelValues("bad_payload").Inc()
		return &deadLetter{msg: err.Error()}
	}
	if err := w.yieldToSends(ctx); err != nil {
		return err
	}
	if _, _, _, err := w.waitTurn(ctx, nil, nil, 0, store.Status); err != nil {
		return err
	}
	st, took, err := timed(w, scopeStatus, func() (*apiclient.InvalidationStatus, error) { return w.api.Status(ctx, p.UUID) })
	if err != nil && classify(scopeStatus, nil, err, ctx.Err() != nil).action == actBadRequest {
		// Cloudimage does not know the uuid (or refuses the check): the invalidation was accepted
		// but cannot be followed. Say so in the history; asking again will not help.
		w.share(ctx, scopeStatus, err, took, len(p.URLs))
		w.metrics.Final.WithLabelValues(store.StateUnconfirmed).Inc()
		w.mark(ctx, p.Requests, p.URLs, p.UUID, store.StateUnconfirmed, "status check refused: "+err.Error())
		return nil
	}
	if err != nil {
		return w.statusFailed(ctx, p, err, took)
	}
	w.succeeded(ctx)
	w.acceptedAnswer(scopeStatus, nil)
	age := time.Since(p.SentAt)
	verdict := classifyStatus(st.Status)
	label := w.statuses.label(st.Status)
	if verdict == statusUnknown {
		w.unknownStatus(st.Status, label, p.UUID)
	}
	if verdict == statusRunning || verdict == statusUnknown {
		return w.stillRunning(ctx, p, st.Status, age)
	}
	failed, ok := p.URLs, []string(nil)
	if verdict == statusDone {
		failed, ok = partition(p.URLs, st.Failed)
	}
	w.metrics.Final.WithLabelValues(label).Inc()
	if len(ok) > 0 {
		w.mark(ctx, p.Requests, ok, p.UUID, store.StateConfirmed, "")
		w.metrics.RequestToConfirm.Observe(time.Since(p.RequestedAt).Seconds())
	}
	if len(failed) == 0 {
		w.log.Debug("invalidation confirmed", zap.String("uuid", p.UUID), zap.Int("urls", len(ok)))
		return nil
	}
	w.metrics.URLsFailed.Add(float64(len(failed)))
	detail := "Cloudimage status " + statusText(st.Status)
	if verdict == statusDone {
		detail = "listed under failed by Cloudimage"
	}
	w.mark(ctx, p.Requests, failed, p.UUID, store.StateFailed, detail)
	return w.resend(ctx, p, failed, st.Status)
}

// statusFailed handles a status check of p that returned err.
// Once out of retries, its URLs end unconfirmed: nobody will learn how the invalidation ended.
func (w *Worker) statusFailed(ctx context.Context, p tasks.Confirm, err error, took time.Duration) error {
	ferr := w.apiFailed(ctx, scopeStatus, err, took, tasks.URLs{}, nil, w.q.Confirm)
	var dl *deadLetter
	if errors.As(ferr, &dl) {
		rctx, cancel := recordCtx(ctx)
		defer cancel()
		w.metrics.Final.WithLabelValues(store.StateUnconfirmed).Inc()
		w.mark(rctx, p.Requests, p.URLs, p.UUID, store.StateUnconfirmed, "status checks gave up: "+dl.msg)
	}
	return ferr
}

// stillRunning handles an invalidation that Cloudimage still runs, age after it was sent.
// Past ConfirmTimeout its URLs end unconfirmed; before, the check snoozes.
func (w *Worker) stillRunning(ctx context.Context, p tasks.Confirm, status string, age time.Duration) error {
	if age > w.cfg.ConfirmTimeout {
		w.metrics.Final.WithLabelValues(store.StateUnconfirmed).Inc()
		w.mark(ctx, p.Requests, p.URLs, p.UUID, store.StateUnconfirmed, "still "+statusText(status)+" after "+age.Round(time.Second).String())
		w.log.Warn("gave up following an invalidation", zap.String("uuid", p.UUID), zap.String("status", statusText(status)), zap.Duration("age", age))
		return nil
	}
	// Check again later: soon at first, then less often (a quarter of the age, 5 s to 5 min).
	return snooze(min(max(age/4, 5*time.Second), 5*time.Minute), "Cloudimage status "+statusText(status))
}

// resend enqueues the URLs Cloudimage failed in p as a new request (origin resend).
// handleURLs dead-letters them once they failed more than MaxResends times.
func (w *Worker) resend(ctx context.Context, p tasks.Confirm, failed []string, status string) error {
	prev := append(append([]tasks.Attempt(nil), p.Previous...), tasks.Attempt{UUID: p.UUID, Status: statusText(status)})
	if len(prev) > w.cfg.MaxResends {
		w.log.Warn("Cloudimage keeps failing URLs: dead-lettering them", zap.String("uuid", p.UUID), zap.Int("urls", len(failed)), zap.Int("times", len(prev)))
	} else {
		w.log.Warn("Cloudimage failed URLs: sending them again", zap.String("uuid", p.UUID), zap.String("status", statusText(status)), zap.Int("urls", len(failed)))
	}
	r := tasks.URLs{URLs: failed, RequestedAt: p.SentAt, Origin: tasks.OriginResend, Previous: prev, Requests: p.Requests}
	task, err := taskq.NewURLsTask(r, w.q.Interactive, w.cfg.MaxRetry)
	if err != nil {
		return err
	}
	if _, err := taskq.Enqueue(ctx, w.client, task); err != nil {
		return fmt.Errorf("enqueue resend: %w", err)
	}
	if err := store.WaitReplicas(ctx, w.rdb, taskq.PendingKey(w.q.Interactive), w.cfg.Replicas); err != nil {
		return fmt.Errorf("enqueue resend: %w", err)
	}
	return nil
}

// unknownStatus counts a status Cloudimage does not document, under its bounded label, and logs it
// at most once per label per unknownStatusLogEvery.
func (w *Worker) unknownStatus(status, label, uuid string) {
	w.metrics.UnknownStatus.WithLabelValues(label).Inc()
	if w.statuses.logDue(label, time.Now()) {
		w.log.Warn("Cloudimage reported a status it does not document: still following the invalidation "+
			"(counted in cipurge_api_unknown_status_total; logged once an hour per status)",
			zap.String("status", statusText(status)), zap.String("label", label), zap.String("uuid", uuid))
	}
}

// mark records the state Cloudimage's answer gave urls, sent in the invalidation uuid, and moves
// them for the requests they count for (reqs, the task's own, and those linked).
func (w *Worker) mark(ctx context.Context, reqs, urls []string, uuid, state, detail string) {
	w.moveRequests(ctx, reqs, urls, markMoves[state])
	if err := w.store.MarkState(ctx, urls, uuid, state, detail, w.cfg.HistoryTTL); err != nil {
		w.log.Debug("mark state", zap.String("state", state), zap.Error(err))
	}
}

// attemptsText is "1 attempt" or "N attempts".
func attemptsText(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

func describe(prev []tasks.Attempt) string {
	parts := make([]string, len(prev))
	for i, a := range prev {
		parts[i] = a.UUID + " " + a.Status
	}
	return strings.Join(parts, ", ")
}

// partition splits urls into those listed in failed and the others, keeping their order.
func partition(urls, failed []string) (in, out []string) {
	set := make(map[string]struct{}, len(failed))
	for _, s := range failed {
		set[s] = struct{}{}
	}
	for _, u := range urls {
		if _, ok := set[u]; ok {
			in = append(in, u)
		} else {
			out = append(out, u)
		}
	}
	return in, out
}
