package worker

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// authGate stops this worker from sending after Cloudimage rejects its key (401/403), without
// burning retries or filling the dead-letter queue: work stays queued, one task per probe interval
// tries the key again, and the first success opens the gate. It says so once, loudly, each way.
type authGate struct {
	mu        sync.Mutex
	probe     time.Duration
	log       *zap.Logger
	broken    bool
	since     time.Time
	lastProbe time.Time
	now       func() time.Time
}

func newAuthGate(probe time.Duration, log *zap.Logger) *authGate {
	return &authGate{probe: probe, log: log, now: time.Now}
}

// admit reports whether a task may send now. While the key is rejected it lets one task through
// per probe interval; the others wait the returned duration.
func (g *authGate) admit() (wait time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.broken {
		return 0, true
	}
	now := g.now()
	if next := g.lastProbe.Add(g.probe); now.Before(next) {
		return next.Sub(now), false
	}
	g.lastProbe = now
	return 0, true
}

// rejected records a 401/403.
func (g *authGate) rejected(status int, detail string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.lastProbe = now
	if g.broken {
		return
	}
	g.broken, g.since = true, now
	g.log.Error("Cloudimage rejected the API key: sending stopped; requests stay queued and are sent when the key works again. Check CLOUDIMAGE_API_KEY and restart, or fix the key in the Cloudimage console",
		zap.Int("status", status), zap.String("detail", detail), zap.Duration("probe_every", g.probe))
}

// accepted records a call the API accepted.
func (g *authGate) accepted() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.broken {
		return
	}
	g.log.Warn("Cloudimage accepts the API key again: sending resumed", zap.Duration("stopped_for", g.now().Sub(g.since).Round(time.Second)))
	g.broken = false
}

func (g *authGate) state() (broken bool, since time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.broken, g.since
}
