package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// maxFanout bounds the calls one task has in flight at once.
// A producer's task may carry more requests than the batcher ever packs.
const maxFanout = maxRequestsPerTask

// sendEach sends the API requests of one task from one slot, concurrently.
// Such a task is a bulk task of up to tasks.BulkRequests, or a task the batcher packed.
// Each request reserves its send time from the shared limiter, in one admission.
// Its call starts at that time while the next request reserves.
// So one slot keeps as many calls in flight as the latency needs.
// A mass re-ingest then costs a tenth of the Redis round trips of one task per request.
//
// Some requests become request tasks of their own.
// They keep the same request time and origin.
// A request the API does not accept becomes one.
// Once one failed or waited too long, every request not yet started becomes one too.
// They get their own retries and dead-letter entries, and this task completes.
// So a dead letter never holds more than one request's URLs.
// A pause or backoff that the failure calls for is shared first.
// So the new tasks wait for it.
//
// A shutdown puts the whole task back.
// When it runs again, admission drops the requests already sent.
// So they are not sent twice.
func (w *Worker) sendEach(ctx context.Context, p tasks.URLs, chunks [][]string, queue string) error {
	reqMS := p.RequestedAt.UnixMilli()
	prio := priority(queue, false) // apartPrefixes took the prefixes out
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed [][]string // requests the API did not accept
		stop   bool       // a request failed: reserve no more
		rest   [][]string // requests never started
		held   []string   // URLs a waiting prefix holds
		why    error
	)
	slots := make(chan struct{}, maxFanout)
	for i, chunk := range chunks {
		mu.Lock()
		stopped := stop
		mu.Unlock()
		if stopped {
			rest = chunks[i:]
			break
		}
		slots <- struct{}{}
		adm, urls, h, err := w.waitTurn(ctx, chunk, p.Requests, reqMS, prio)
		held = append(held, h...)
		if err != nil {
			<-slots
			rest, why = chunks[i:], err
			break
		}
		if adm.Verdict == store.Satisfied {
			<-slots
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			inv, took, err := w.invalidate(ctx, urls)
			if err == nil {
				w.accepted(ctx, p, urls, adm, inv, took)
				return
			}
			if d, wait := w.share(ctx, scopeOriginal, err, took, len(urls)); d.action == actRetry {
				// It becomes a request task of its own (below), retried after the shared backoff.
				w.log.Info("request will be retried", zap.String("scope", scopeOriginal), zap.Int("urls", len(urls)), zap.Duration("not_before", wait))
			}
			mu.Lock()
			failed, stop = append(failed, urls), true
			if why == nil {
				why = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		// Shutdown or the task's timeout: asynq puts the task back; what was sent is dropped then.
		return ctx.Err()
	}
	parts := append(failed, rest...)
	if len(held) > 0 {
		parts = append(parts, held)
	}
	if len(parts) == 0 {
		return nil
	}
	// A stop or pause was already said once, by whoever shared it (the send gate, the shared
	// pause); repeating it for every packed task would bury that one line.
	if why == nil { // nothing failed: only a waiting prefix holds some URLs
		why = errors.New("a prefix that covers some URLs waits to be sent")
	}
	logf := w.log.Info
	var sn *snoozeError
	if errors.As(why, &sn) {
		logf = w.log.Debug
	}
	logf("task of several requests: the rest continue as tasks of their own",
		zap.Int("requests", len(chunks)), zap.Int("rest", len(parts)), zap.String("reason", why.Error()))
	return w.enqueueParts(ctx, p, parts, queue, p.Origin)
}

// waitTurn waits until urls may be sent: it asks the shared limiter once for a send time (a
// reservation) and sleeps until then; waits longer than a slot may wait snooze the task. It
// returns the admission, the URLs still to send, and those a waiting prefix holds (the caller
// requeues them: the prefix's send covers them); with Verdict Satisfied there is nothing to send.
// Only the shared pause's probe and the priority rule make a request ask again, after a short wait.
// reqs are the task's own requests (tasks.URLs.Requests): a dropped URL is covered for them too.
func (w *Worker) waitTurn(ctx context.Context, urls, reqs []string, reqMS int64, prio store.Priority) (adm *store.Admission, live, held []string, err error) {
	lim := w.cfg.Limit
	lim.Horizon = w.cfg.MaxInSlotWait
	switch prio {
	case store.Status:
		// A status check never waits in a task slot: over its budget it comes back later.
		lim = w.cfg.ConfirmLimit
	case store.Folder, store.FolderBulk:
		lim = w.cfg.PrefixLimit
		lim.Horizon = w.cfg.MaxInSlotWait
	}
	for {
		if wait, reason, ok := w.gate.admit(); !ok {
			w.metrics.Waits.WithLabelValues("auth").Inc()
			return nil, nil, nil, snooze(wait, "sending stopped: "+reason+"; waiting for it to work again")
		}
		adm, err = w.store.Admit(ctx, urls, reqMS, prio, lim)
		if err != nil {
			return nil, nil, nil, err
		}
		w.metrics.Admissions.Inc()
		if live := adm.Live(urls); len(live) < len(urls) && adm.Verdict != store.Yield {
			h := adm.HeldURLs(urls)
			held = append(held, h...)
			if dropped := len(urls) - len(live) - len(h); dropped > 0 {
				w.metrics.Dropped.Add(float64(dropped))
				if err := w.store.CountDropped(ctx, dropped); err != nil {
					w.log.Debug("count dropped", zap.Error(err))
				}
				w.log.Debug("dropped requests already satisfied", zap.Int("dropped", dropped), zap.Int("left", len(live)))
				w.covered(ctx, reqs, without(urls, live, h))
			}
			if len(live) == 0 && len(held) == 0 { // a prefix is alone in its task: covered, it waits no more
				if err := w.store.PrefixGone(ctx, urls); err != nil {
					w.log.Debug("forget a covered prefix", zap.Error(err))
				}
			}
			urls = live
		}
		if adm.Verdict == store.Satisfied {
			return adm, urls, held, nil
		}
		if prio != store.Status && (adm.Verdict == store.Throttled || adm.Wait > 0) {
			w.limitedAt.Store(time.Now().UnixNano())
		}
		if adm.Verdict == store.Go {
			if err := w.start(ctx, adm.Wait, prio, lim); err != nil {
				return nil, nil, nil, err
			}
			return adm, urls, held, nil
		}
		reason := adm.Verdict.String()
		w.metrics.Waits.WithLabelValues(reason).Inc()
		if adm.Verdict == store.Paused {
			w.heldByPause(ctx)
		}
		w.metrics.WaitSeconds.WithLabelValues(reason).Add(adm.Wait.Seconds())
		if adm.Wait > w.cfg.MaxInSlotWait || prio == store.Status {
			why := "shared rate limit"
			if adm.Verdict == store.Paused {
				why = "paused: " + adm.Reason
			} else if adm.Verdict == store.Yield && adm.Reason != "" {
				why = adm.Reason
			} else if adm.Verdict == store.Yield {
				why = "interactive requests go first"
			}
			return nil, nil, nil, snooze(adm.Wait, why)
		}
		if err := sleep(ctx, adm.Wait); err != nil {
			return nil, nil, nil, err
		}
	}
}

// start waits for a call's reserved send time, then starts it in the shared second of starts
// (store.Start), then in a slot of this worker's own spacing of starts (startGate). A call woken
// late keeps its reservation: it was counted. It waits only when the second already holds its
// cap, or for its slot, so late calls never bunch past the cap. A 429 or an outage may have
// paused every worker while it waited: Retry-After outranks a reservation. A call that goes at
// once under no rate limit, or a status check, asks Redis nothing more.
func (w *Worker) start(ctx context.Context, wait time.Duration, prio store.Priority, lim store.Limit) error {
	if wait > 0 {
		w.metrics.Waits.WithLabelValues(store.Throttled.String()).Inc()
		w.metrics.WaitSeconds.WithLabelValues(store.Throttled.String()).Add(wait.Seconds())
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	} else if lim.Rate <= 0 || prio == store.Status {
		return nil
	}
	for {
		room, reason, left, err := w.store.Start(ctx, prio, lim)
		if err != nil {
			return err
		}
		if left > 0 {
			w.metrics.Waits.WithLabelValues(store.Paused.String()).Inc()
			w.heldByPause(ctx)
			return snooze(left, "paused: "+reason)
		}
		if room <= 0 {
			break
		}
		if err := w.waitForStart(ctx, room); err != nil {
			return err
		}
	}
	// Counted in the shared second: only this worker's slot is left, reserved once.
	if slot := w.startHere(prio, lim); slot > 0 {
		return w.waitForStart(ctx, slot)
	}
	return nil
}

// waitForStart sleeps d, the wait of a call for room among the starts, and counts it.
func (w *Worker) waitForStart(ctx context.Context, d time.Duration) error {
	w.metrics.Waits.WithLabelValues(waitStarts).Inc()
	w.metrics.WaitSeconds.WithLabelValues(waitStarts).Add(d.Seconds())
	return sleep(ctx, d)
}

// startHere reserves a start in this worker's own spacing of starts (startGate), once the shared
// second had room. It returns how long the call waits for its slot (0: it starts now).
func (w *Worker) startHere(prio store.Priority, lim store.Limit) time.Duration {
	switch {
	case lim.Rate <= 0 || prio == store.Status:
		return 0
	case prio == store.Folder || prio == store.FolderBulk:
		return w.startsPfx.take(time.Now(), lim)
	}
	return w.starts.take(time.Now(), lim)
}

// waitStarts is the wait reason of a call that waited for room in the shared second of starts.
const waitStarts = "starts"

// heldByPause counts a call the shared pause held back, for the pause log (/status).
func (w *Worker) heldByPause(ctx context.Context) {
	if err := w.store.PauseHeld(ctx); err != nil {
		w.log.Debug("could not count a call held by the pause", zap.Error(err))
	}
}
