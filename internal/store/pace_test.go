package store_test

import (
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// TestAdmitReserves: the limiter answers each call once with its send time (a reservation), one
// emission interval after the previous; a call that would wait past the horizon is not counted.
func TestAdmitReserves(t *testing.T) {
	s, ctx := newStore(t)
	lim := store.Limit{Rate: 10, Burst: 1, Horizon: time.Second}
	var last time.Duration = -1
	for i := range 11 { // waits 0, 100 ms, ..., 1000 ms: all within the horizon
		a, err := s.Admit(ctx, nil, 0, store.Background, lim)
		if err != nil || a.Verdict != store.Go {
			t.Fatalf("call %d: %+v %v; want a reservation", i, a, err)
		}
		if i > 0 && a.Wait <= last {
			t.Fatalf("call %d reserved %s after %s: reservations must follow each other", i, a.Wait, last)
		}
		last = a.Wait
	}
	if last < 900*time.Millisecond {
		t.Fatalf("the 11th call waits %s; want about 1s at 10 calls/s", last)
	}
	a, err := s.Admit(ctx, nil, 0, store.Background, lim)
	if err != nil || a.Verdict != store.Throttled || a.Wait <= time.Second {
		t.Fatalf("past the horizon: %+v %v; want throttled for more than 1s", a, err)
	}
	b, _ := s.Admit(ctx, nil, 0, store.Background, lim)
	if b.Verdict != store.Throttled || b.Wait < a.Wait-50*time.Millisecond {
		t.Fatalf("a throttled call was counted: the next one waits %s after %s", b.Wait, a.Wait)
	}
}

// TestStatusChecksHaveTheirOwnBudget: with every invalidation slot taken and an interactive
// request waiting, a status check still goes, on its own limit.
func TestStatusChecksHaveTheirOwnBudget(t *testing.T) {
	s, ctx := newStore(t)
	lim := store.Limit{Rate: 1, Burst: 1}
	interactiveWaits(t, s, ctx, lim)
	for i := range 2 {
		a, err := s.Admit(ctx, nil, 0, store.Status, store.Limit{Rate: 1, Burst: 2})
		if err != nil || a.Verdict != store.Go || a.Wait != 0 {
			t.Fatalf("status check %d: %+v %v; want go now on its own budget", i, a, err)
		}
	}
	if a, _ := s.Admit(ctx, nil, 0, store.Status, store.Limit{Rate: 1, Burst: 2}); a.Verdict != store.Throttled {
		t.Fatalf("third status check: %v; want throttled by its own budget", a.Verdict)
	}
}

// TestOutageBackoffProbesEvery: an outage pauses base after the first failure, then exactly
// every per round: one probe per round, so at most one call per every.
func TestOutageBackoffProbesEvery(t *testing.T) {
	s, ctx := newStore(t)
	base, every := 50*time.Millisecond, 300*time.Millisecond
	d1, err := s.OutageBackoff(ctx, "outage", base, every)
	if err != nil || d1 != base {
		t.Fatalf("first round %s (%v), want %s", d1, err, base)
	}
	for round := 2; round <= 4; round++ {
		for {
			if _, left, _ := s.PauseState(ctx); left <= 0 {
				break
			}
			// polls the condition; the Redis clock gives no signal to wait on
			time.Sleep(10 * time.Millisecond)
		}
		d, err := s.OutageBackoff(ctx, "outage", base, every)
		if err != nil || d != every {
			t.Fatalf("round %d: %s (%v), want %s", round, d, err, every)
		}
	}
}

// TestDueEntriesSpare: a partial batch goes after the window when the batcher says nothing waits
// to be sent and the limiter is idle, even while a younger request waits; not when calls are
// scarce.
func TestDueEntriesSpare(t *testing.T) {
	s, ctx := newStore(t)
	lim := store.Limit{Rate: 4, Burst: 1}
	w := store.Window{Window: 100 * time.Millisecond, MaxDelay: time.Hour, Batch: 15, MaxClaim: 1500, Limit: lim}
	if _, err := s.AddPending(ctx, "", keys("old", 3)); err != nil {
		t.Fatal(err)
	}
	// past the window on the Redis clock: only real time makes the old entries due
	time.Sleep(150 * time.Millisecond)
	if _, err := s.AddPending(ctx, "", keys("young", 1)); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := s.DueEntries(ctx, w); len(due) != 0 {
		t.Fatalf("without spare capacity %d went before MaxDelay", len(due))
	}
	w.Spare = true
	// Calls are scarce: the limiter has no call to give now.
	if a, _ := s.Admit(ctx, nil, 0, store.Background, lim); a.Verdict != store.Go {
		t.Fatal("could not take the only call")
	}
	if due, _, _ := s.DueEntries(ctx, w); len(due) != 0 {
		t.Fatalf("with the limiter busy %d went before MaxDelay", len(due))
	}
	time.Sleep(300 * time.Millisecond) // the limiter is idle again
	if _, err := s.AddPending(ctx, "", keys("younger", 1)); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.DueEntries(ctx, w)
	if err != nil || len(due) != 4 {
		t.Fatalf("with spare capacity %d due (%v), want the 4 that waited a window", len(due), err)
	}
}

// TestClaimWholeBatches: the claim is a whole number of batches for every batch size, so the
// batcher knows a full claim when it sees one (PURGE_BATCH_SIZE 7 and 13 looped once per tick).
func TestClaimWholeBatches(t *testing.T) {
	for _, b := range []int{1, 7, 13, 14, 15} {
		w := store.Window{Batch: b, MaxClaim: 1500}
		if c := w.Claim(); c%b != 0 || c > 1500 || c < 1500-b {
			t.Errorf("batch %d: claim %d", b, c)
		}
	}
}

// TestPrefixesHaveTheirOwnBudget (issue 24): prefix requests are counted against their own limit
// (KeyRatePrefix): they go while the URL rate is used up and an interactive request waits, they
// do not share the status checks' budget, and they never take the URL rate.
func TestPrefixesHaveTheirOwnBudget(t *testing.T) {
	s, ctx := newStore(t)
	lim := store.Limit{Rate: 1, Burst: 1}
	interactiveWaits(t, s, ctx, lim)
	own := store.Limit{Rate: 1, Burst: 1}
	if a, err := s.Admit(ctx, nil, 0, store.Folder, own); err != nil || a.Verdict != store.Go || a.Wait != 0 {
		t.Fatalf("prefix: %+v %v; want go now on its own budget", a, err)
	}
	if a, _ := s.Admit(ctx, nil, 0, store.Folder, own); a.Verdict != store.Throttled {
		t.Fatalf("second prefix: %v; want throttled by its own budget", a.Verdict)
	}
	if a, _ := s.Admit(ctx, nil, 0, store.Status, own); a.Verdict != store.Go || a.Wait != 0 {
		t.Fatalf("a status check after the prefixes: %+v; want go now (a budget of its own)", a)
	}
	rate, err := s.Client().Get(ctx, store.KeyRate).Int64()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, _ = s.Admit(ctx, nil, 0, store.Folder, own)
	}
	if after, _ := s.Client().Get(ctx, store.KeyRate).Int64(); after != rate {
		t.Errorf("prefixes moved the URL rate's arrival time from %d to %d", rate, after)
	}
}

// TestStartCountsASlidingSecond: the starts under a rate are counted in a sliding second shared
// by every worker. Past the cap a call is told to wait for room, and is not counted. Status
// checks are not counted. A shared pause outranks a reservation.
func TestStartCountsASlidingSecond(t *testing.T) {
	s, ctx := newStore(t)
	lim := store.Limit{Rate: 3, Burst: 2}
	if c := store.StartCap(lim); c != 3 {
		t.Fatalf("cap at 3 calls/s, burst 2: %d, want 3", c)
	}
	for i := range 3 {
		if wait, _, left, err := s.Start(ctx, store.Background, lim); err != nil || wait != 0 || left != 0 {
			t.Fatalf("start %d: wait %s, pause %s, %v; want started", i, wait, left, err)
		}
	}
	for i := range 2 {
		wait, _, _, err := s.Start(ctx, store.Interactive, lim)
		if err != nil || wait <= 0 || wait > time.Second {
			t.Fatalf("start %d past the cap: wait %s, %v; want a wait of at most 1s", 4+i, wait, err)
		}
	}
	if wait, _, _, err := s.Start(ctx, store.Status, lim); err != nil || wait != 0 {
		t.Fatalf("a status check: wait %s, %v; status checks are not counted", wait, err)
	}
	if wait, _, _, err := s.Start(ctx, store.Folder, lim); err != nil || wait != 0 {
		t.Fatalf("a prefix request: wait %s, %v; prefixes have a second of their own", wait, err)
	}
	if err := s.Pause(ctx, "429", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, reason, left, err := s.Start(ctx, store.Background, lim); err != nil || left <= 0 || reason != "429" {
		t.Fatalf("during a pause: %q %s %v; want the pause", reason, left, err)
	}
}
