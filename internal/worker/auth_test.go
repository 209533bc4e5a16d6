package worker

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge/internal/testkit/fakeclock"
)

// TestSendGate: an open gate admits every task; block closes it and says so once, however many
// tasks are refused; while closed it lets one task through per probe interval and tells the others
// how long to wait; open reopens it and says so once.
func TestSendGate(t *testing.T) {
	const probe = 30 * time.Second
	core, logs := observer.New(zapcore.DebugLevel)
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	g := newSendGate(probe, zap.New(core))
	g.now = clock.Now

	if wait, _, ok := g.admit(); !ok || wait != 0 {
		t.Fatalf("open gate: admit = %s, %v; want 0, true", wait, ok)
	}
	if blocked, _, _, _ := g.state(); blocked {
		t.Fatal("a new gate is blocked")
	}

	const reason = "Cloudimage rejects the API key"
	g.block(causeKey, reason, "401")
	started := clock.Now()
	clock.Advance(probe / 3)
	g.block(causeKey, reason, "401 again") // a second refusal: no second line, the probe restarts
	if n := logs.FilterMessageSnippet("sending stopped").Len(); n != 1 {
		t.Errorf("%d 'sending stopped' lines for two refusals, want 1", n)
	}
	blocked, cause, why, since := g.state()
	if !blocked || cause != causeKey || why != reason || !since.Equal(started) {
		t.Errorf("state = %v, %q, %q, %s; want true, %q, %q, %s", blocked, cause, why, since, causeKey, reason, started)
	}

	clock.Advance(probe / 3)
	wait, r, ok := g.admit()
	if ok || r != reason || wait != probe-probe/3 {
		t.Errorf("closed gate before the probe interval: admit = %s, %q, %v; want %s, %q, false", wait, r, ok, probe-probe/3, reason)
	}
	clock.Advance(wait)
	if wait, _, ok := g.admit(); !ok || wait != 0 {
		t.Errorf("closed gate at the probe interval: admit = %s, %v; want one probe through", wait, ok)
	}
	if wait, _, ok := g.admit(); ok || wait != probe {
		t.Errorf("right after a probe: admit = %s, %v; want to wait a whole interval (%s)", wait, ok, probe)
	}

	clock.Advance(time.Second)
	g.open()
	g.open()
	if n := logs.FilterMessageSnippet("sending resumed").Len(); n != 1 {
		t.Errorf("%d 'sending resumed' lines for two successes, want 1", n)
	}
	if blocked, _, _, _ := g.state(); blocked {
		t.Error("gate still blocked after open")
	}
	for range 3 {
		if wait, _, ok := g.admit(); !ok || wait != 0 {
			t.Fatalf("reopened gate: admit = %s, %v; want 0, true", wait, ok)
		}
	}
	if n := logs.Len(); n != 2 {
		t.Errorf("%d log lines in all, want 2 (stopped, resumed)", n)
	}
}
