package worker

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/cipurge/cipurge/internal/store"
)

// Lanes are the lanes of one worker process: a Worker per account (Config.Account). Each lane
// has its own asynq servers and slots, API client, limiter, pause, stop after a 401/403, batcher
// lease, dead letters and flush-all. Nothing in one lane reads another lane's keys, but for the
// webhook events of a request whose URLs span accounts, which read every part of it.
// With one lane, Lanes behaves exactly as its Worker.
type Lanes struct{ ws []*Worker }

// NewLanes returns the lanes of ws, one per account, in the order given.
// The process shares what is not an account's: the first lane publishes the process's one
// state (store.WorkerState, with every lane's stop) and runs the one webhook delivery server.
// The lanes share its worker ID: the status counts processes, and each lane's rate monitor
// counts the task slots of the account's lane in each process.
// The other lanes run their own outbox loop, which hands their events to that server.
func NewLanes(ws ...*Worker) *Lanes {
	if len(ws) > 1 {
		ws[0].lanes = ws
		for _, w := range ws[1:] {
			w.id, w.follows = ws[0].id, true
		}
		parts := make([]*store.Store, len(ws))
		for i, w := range ws {
			parts[i] = w.store
		}
		for _, w := range ws {
			w.hooks.parts = parts
		}
	}
	return &Lanes{ws: ws}
}

// Workers returns the lanes' workers.
func (l *Lanes) Workers() []*Worker { return l.ws }

// Run runs every lane until ctx is done and returns their errors, joined.
func (l *Lanes) Run(ctx context.Context) error {
	if len(l.ws) == 1 {
		return l.ws[0].Run(ctx)
	}
	errs := make([]error, len(l.ws))
	var wg sync.WaitGroup
	for i, w := range l.ws {
		wg.Go(func() { errs[i] = w.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// KeyRejected reports whether Cloudimage rejects the API key of any lane.
func (l *Lanes) KeyRejected() bool { return l.any((*Worker).KeyRejected) }

// SendingStopped reports whether any lane stopped sending.
func (l *Lanes) SendingStopped() bool { return l.any((*Worker).SendingStopped) }

func (l *Lanes) any(f func(*Worker) bool) bool {
	for _, w := range l.ws {
		if f(w) {
			return true
		}
	}
	return false
}

// Ready is the readiness of the process. With one lane it is that lane's.
// With several, it is ready while Redis is fine and one lane still sends.
// StoppedAccounts names the lanes that stopped; Key, Send, Paused and Note name their account.
func (l *Lanes) Ready(ctx context.Context) Readiness {
	if len(l.ws) == 1 {
		return l.ws[0].Ready(ctx)
	}
	out := Readiness{Ready: true, Key: "ok", Send: "ok"}
	var keys, sends, paused, notes, reasons []string
	sending := 0
	for _, w := range l.ws {
		r := w.Ready(ctx)
		name := w.q.Account
		if out.Redis == "" || out.Redis == "ok" {
			out.Redis = r.Redis
		}
		if r.Send == "ok" {
			sending++
		} else {
			out.StoppedAccounts = append(out.StoppedAccounts, name)
			sends = append(sends, name+": "+r.Send)
		}
		if r.Key != "ok" {
			keys = append(keys, name+": "+r.Key)
		}
		if r.Paused != "" {
			paused = append(paused, name+": "+r.Paused)
		}
		if r.Note != "" {
			notes = append(notes, name+": "+r.Note)
		}
		if r.Redis != "ok" && r.Reason != "" {
			reasons = append(reasons, r.Reason)
		}
		out.PausedQueues = append(out.PausedQueues, r.PausedQueues...)
	}
	if len(keys) > 0 {
		out.Key = strings.Join(keys, "; ")
	}
	if len(sends) > 0 {
		out.Send = strings.Join(sends, "; ")
	}
	out.Paused, out.Note = strings.Join(paused, "; "), strings.Join(notes, ". ")
	if out.Redis != "ok" {
		out.Ready, out.Reason = false, out.Redis
		if len(reasons) > 0 {
			out.Reason = reasons[0]
		}
	} else if sending == 0 {
		out.Ready = false
		out.Reason = "every account stopped sending: " + out.Send
	}
	return out
}
