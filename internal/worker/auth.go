package worker

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// sendGate stops this worker from sending when retrying cannot help until someone fixes the setup:
// Cloudimage rejects the key (401/403), the API's TLS certificate is not trusted, or the API URL
// answers 404/405/410 (see classify in policy.go). Work stays
// queued (no retries burned, no dead letters), one task per probe interval tries again, and the
// first success opens the gate. It says so once, loudly, each way. The gate is per process: each
// worker has its own key and trust store.
type sendGate struct {
	mu        sync.Mutex
	probe     time.Duration
	log       *zap.Logger
	blocked   bool
	cause     string // causeKey, causeTLS or causeEndpoint (policy.go)
	reason    string
	since     time.Time
	lastProbe time.Time
	now       func() time.Time
}

func newSendGate(probe time.Duration, log *zap.Logger) *sendGate {
	return &sendGate{probe: probe, log: log, now: time.Now}
}

// admit reports whether a task may send now. While the gate is closed it lets one task through
// per probe interval; the others wait the returned duration.
func (g *sendGate) admit() (wait time.Duration, reason string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.blocked {
		return 0, "", true
	}
	now := g.now()
	if next := g.lastProbe.Add(g.probe); now.Before(next) {
		return next.Sub(now), g.reason, false
	}
	g.lastProbe = now
	return 0, "", true
}

// block closes the gate for cause, with reason in words (detail: the API's answer, if any).
func (g *sendGate) block(cause, reason, detail string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.lastProbe = now
	if g.blocked {
		return
	}
	g.blocked, g.cause, g.reason, g.since = true, cause, reason, now
	g.log.Error("sending stopped: "+reason+". Requests stay queued and are sent when it works again",
		zap.String("detail", detail), zap.Duration("probe_every", g.probe))
}

// open records a call the API accepted.
func (g *sendGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.blocked {
		return
	}
	g.log.Warn("sending resumed: the Cloudimage API accepts requests again", zap.String("was", g.reason),
		zap.Duration("stopped_for", g.now().Sub(g.since).Round(time.Second)))
	g.blocked = false
}

func (g *sendGate) state() (blocked bool, cause, reason string, since time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blocked, g.cause, g.reason, g.since
}
