package status

import (
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// TestDrain: the drain estimate uses the achieved rate only when it measured what the workers can
// send (work waited all through the minute), their PURGE_RATE otherwise, and says which; calls a
// paused queue holds are named, never estimated.
func TestDrain(t *testing.T) {
	fleet := drainInput{workers: 2, configured: 10, rateName: "PURGE_RATE"}
	with := func(edit func(*drainInput)) drainInput {
		in := fleet
		edit(&in)
		return in
	}
	for _, c := range []struct {
		name     string
		in       drainInput
		seconds  float64
		rate     float64
		from     string
		notes    []string // the note contains each
		notNotes []string // and none of these
		suggest  bool
	}{
		{name: "nothing to drain", in: fleet},
		{name: "a quiet minute, then 3,000 URLs (200 calls): PURGE_RATE, not the 0.02 calls/s of the quiet minute",
			in:      with(func(in *drainInput) { in.calls, in.achieved = 200, 0.02 }),
			seconds: 20, rate: 10, from: "configured", notes: []string{"at the workers' PURGE_RATE=10", "0.02 calls/s measured demand, not capacity"}},
		{name: "a quiet minute, then 2,000 calls: no flush-all suggested",
			in:      with(func(in *drainInput) { in.calls, in.achieved = 2000, 0.02 }),
			seconds: 200, rate: 10, from: "configured"},
		{name: "nothing sent yet", in: with(func(in *drainInput) { in.calls = 30 }),
			seconds: 3, rate: 10, from: "configured", notes: []string{"PURGE_RATE=10"}, notNotes: []string{"demand"}},
		{name: "busy all minute below PURGE_RATE (latency, concurrency): the achieved rate",
			in:      with(func(in *drainInput) { in.calls, in.achieved, in.busy = 400, 4, true }),
			seconds: 100, rate: 4, from: "achieved", notes: []string{"achieved over the last minute", "below their PURGE_RATE=10"}},
		{name: "busy all minute at PURGE_RATE",
			in:      with(func(in *drainInput) { in.calls, in.achieved, in.busy = 400, 10, true }),
			seconds: 40, rate: 10, from: "achieved", notNotes: []string{"below"}},
		{name: "busy all minute, nothing sent: no estimate",
			in:    with(func(in *drainInput) { in.calls, in.busy = 400, true }),
			notes: []string{"nothing was sent", "no estimate"}},
		{name: "no limit, not measured yet: no estimate",
			in:    with(func(in *drainInput) { in.calls, in.configured, in.achieved = 400, 0, 3 }),
			notes: []string{"PURGE_RATE=0", "no estimate"}},
		{name: "no limit, busy all minute: the achieved rate",
			in:      with(func(in *drainInput) { in.calls, in.configured, in.achieved, in.busy = 500, 0, 25, true }),
			seconds: 20, rate: 25, from: "achieved"},
		{name: "no worker", in: with(func(in *drainInput) { in.calls, in.workers = 10, 0 }), notes: []string{"no worker is alive"}},
		{name: "every worker stopped", in: with(func(in *drainInput) { in.calls, in.stopped = 10, 2 }), notes: []string{"every worker stopped sending"}},
		{name: "only a paused queue holds work: no time to drain, and no contradiction",
			in:       with(func(in *drainInput) { in.held, in.pausedQueues = 5, []string{"purge"} }),
			notes:    []string{"the whole backlog is in paused queues (purge)", "does not drain until they are unpaused"},
			notNotes: []string{"PURGE_RATE"}},
		{name: "some in a paused queue: the rest drains, the held calls are named",
			in:      with(func(in *drainInput) { in.calls, in.held, in.pausedQueues = 10, 5, []string{"bulk"} }),
			seconds: 1, rate: 10, from: "configured", notes: []string{"5 API calls in paused queues (bulk) do not drain until unpaused"}},
		{name: "the shared pause comes first",
			in:      with(func(in *drainInput) { in.calls, in.pauseLeft = 10, 30 }),
			seconds: 31, rate: 10, from: "configured", notes: []string{"after the shared pause"}},
		{name: "a day at the measured capacity: flush-all suggested",
			in:      with(func(in *drainInput) { in.calls, in.achieved, in.busy = 100, 0.001, true }),
			seconds: 100_000, rate: 0.001, from: "achieved", suggest: true},
	} {
		e := drain(c.in)
		if e.seconds != c.seconds || e.rate != c.rate || e.rateFrom != c.from || e.suggestFlushAll != c.suggest {
			t.Errorf("%s: %gs at %g calls/s from %q, suggest %v; want %gs at %g from %q, suggest %v (%s)",
				c.name, e.seconds, e.rate, e.rateFrom, e.suggestFlushAll, c.seconds, c.rate, c.from, c.suggest, e.note)
		}
		if c.in.calls+c.in.held > 0 && e.note == "" {
			t.Errorf("%s: no note", c.name)
		}
		for _, n := range c.notes {
			if !strings.Contains(e.note, n) {
				t.Errorf("%s: note %q does not say %q", c.name, e.note, n)
			}
		}
		for _, n := range c.notNotes {
			if strings.Contains(e.note, n) {
				t.Errorf("%s: note %q says %q", c.name, e.note, n)
			}
		}
	}
}

// TestBusyThroughout: the achieved rate measured capacity only if a worker saw work waiting since
// before the minute it is measured over began.
func TestBusyThroughout(t *testing.T) {
	at := time.UnixMilli(10_000_000)
	ms := func(d time.Duration) int64 { return at.Add(-d).UnixMilli() }
	for _, c := range []struct {
		name    string
		workers []store.WorkerState
		want    bool
	}{
		{"no worker", nil, false},
		{"not busy", []store.WorkerState{{}}, false},
		{"busy for 30 s", []store.WorkerState{{BusySince: ms(30 * time.Second)}}, false},
		{"busy for 2 min", []store.WorkerState{{BusySince: ms(2 * time.Minute)}}, true},
		{"one of two busy for 2 min", []store.WorkerState{{}, {BusySince: ms(2 * time.Minute)}}, true},
	} {
		if got := busyThroughout(c.workers, at); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
