package worker

import (
	"context"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
)

// A request (store.Request) counts its URLs per state. The worker moves them where it sends,
// confirms, fails and dead-letters URLs, and where admission drops URLs an earlier send or a
// flush-all covered. The moves are best effort: a failure costs a request's counts, never an
// invalidation.

// markMoves is the move of each state the status check gives a sent URL. A URL that cannot be
// followed is not known to be done: it counts as dead-lettered.
var markMoves = map[string]store.Move{
	store.StateConfirmed:   {From: store.ReqSent, To: store.ReqConfirmed},
	store.StateFailed:      {From: store.ReqSent, To: store.ReqWaiting, Resent: true, Keep: true},
	store.StateUnconfirmed: {From: store.ReqSent, To: store.ReqDead},
}

// moveRequests moves urls one step for the requests they count for: reqs, the task's own, and
// the requests linked to each URL.
func (w *Worker) moveRequests(ctx context.Context, reqs, urls []string, m store.Move) {
	if m.To == "" || len(urls) == 0 {
		return
	}
	m.Events = w.hooks.events()
	got, err := w.store.MoveURLs(ctx, reqs, urls, m)
	if err != nil {
		w.log.Warn("could not count URLs for their requests", zap.String("to", string(m.To)), zap.Int("urls", len(urls)), zap.Error(err))
	}
	w.requestsMoved(ctx, got)
}

// flushedRequests moves every linked URL to flushed: a flush-all was sent after its request.
func (w *Worker) flushedRequests(ctx context.Context) {
	got, err := w.store.FlushLinks(ctx, w.hooks.events())
	if err != nil {
		w.log.Warn("could not count a flush-all for the requests it covers", zap.Error(err))
	}
	w.requestsMoved(ctx, got)
}

// covered moves urls, which admission dropped, as their history says: an earlier send covers
// them, so they follow it. A URL with no send in its history was covered by a flush-all.
func (w *Worker) covered(ctx context.Context, reqs, urls []string) {
	groups := map[store.RequestState][]string{}
	for _, u := range urls {
		rec, found, err := w.store.History(ctx, u)
		st := store.ReqFlushed
		switch {
		case err != nil || !found:
		case rec.State == store.StateConfirmed:
			st = store.ReqConfirmed
		case rec.State == store.StateSent:
			st = store.ReqSent
		case rec.State == store.StateFailed:
			st = store.ReqWaiting
		case rec.State == store.StateDead || rec.State == store.StateUnconfirmed:
			st = store.ReqDead
		}
		groups[st] = append(groups[st], u)
	}
	for st, us := range groups {
		m := store.Move{From: store.ReqWaiting, To: st}
		switch {
		case st == store.ReqWaiting && len(reqs) == 0:
			continue // a resend of the covering send moves the linked requests on
		case st == store.ReqSent && !w.cfg.Confirm:
			m.SentDone = true
		case st == store.ReqSent, st == store.ReqWaiting:
			// The covering send's confirmation, or its resend, moves them on: the task's
			// requests become links of the URLs.
			m.Keep, m.Adopt = true, true
		}
		w.moveRequests(ctx, reqs, us, m)
	}
}

// without returns urls not in live nor in held.
func without(urls, live, held []string) []string {
	skip := make(map[string]bool, len(live)+len(held))
	for _, u := range live {
		skip[u] = true
	}
	for _, u := range held {
		skip[u] = true
	}
	var out []string
	for _, u := range urls {
		if !skip[u] {
			out = append(out, u)
		}
	}
	return out
}

// requestsMoved is what follows a move. The requests that became done are counted. With a
// secret, the move appended their events to the outbox: the outbox loop is woken. Without one,
// each event that had a receiver is counted as not sent.
func (w *Worker) requestsMoved(ctx context.Context, m store.Moved) {
	w.metrics.RequestsDone.Add(float64(len(m.Done)))
	w.hooks.m.OutboxDropped.Add(float64(m.Dropped))
	if w.hooks.sender != nil {
		select {
		case w.hooks.wake <- struct{}{}:
		default:
		}
		return
	}
	for _, d := range m.Dead {
		w.notify(ctx, webhook.EventURLDead, d[0], d[1])
	}
	for _, id := range m.Done {
		w.notify(ctx, webhook.EventRequestDone, id, "")
	}
}
