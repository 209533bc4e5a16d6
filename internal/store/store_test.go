package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

func newStore(t *testing.T) (*store.Store, context.Context) {
	t.Helper()
	return store.New(testredis.Start(t).Client()), context.Background()
}

// interactiveWaits takes the one slot of lim (burst 1) with an interactive call, so that a second
// interactive call waits for the limiter: it is throttled.
func interactiveWaits(t *testing.T, s *store.Store, ctx context.Context, lim store.Limit) {
	t.Helper()
	if a, _ := s.Admit(ctx, nil, 0, store.Interactive, lim); a.Verdict != store.Go {
		t.Fatalf("first call: %v", a.Verdict)
	}
	if a, _ := s.Admit(ctx, nil, 0, store.Interactive, lim); a.Verdict != store.Throttled {
		t.Fatalf("second interactive call: %v, want throttled", a.Verdict)
	}
}

func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://img.example.com/%s/%d.jpg", prefix, i)
	}
	return out
}

func TestAddPendingDedupes(t *testing.T) {
	s, ctx := newStore(t)
	added, err := s.AddPending(ctx, "", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !added[0] || !added[1] {
		t.Fatalf("first add: %v", added)
	}
	added, err = s.AddPending(ctx, "cms", []string{"b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if added[0] || !added[1] {
		t.Fatalf("second add: %v, want [false true]", added)
	}
	n, _, err := s.PendingCount(ctx)
	if err != nil || n != 3 {
		t.Fatalf("pending %d (%v), want 3", n, err)
	}
}

// TestDueEntriesWindowRule: an entry is due once it has waited a full window; whole batches go at
// once; a partial batch goes when nothing younger waits to join it (or it has waited MaxDelay).
func TestDueEntriesWindowRule(t *testing.T) {
	s, ctx := newStore(t)
	w := store.Window{Window: 300 * time.Millisecond, MaxDelay: 5 * time.Second, Batch: 15, MaxClaim: 1500}
	if _, err := s.AddPending(ctx, "", keys("old", 20)); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.DueEntries(ctx, w)
	if err != nil || len(due) != 0 {
		t.Fatalf("entries younger than the window were due: %d (%v)", len(due), err)
	}
	// the window runs on the Redis clock: real time must pass for entries to become due
	time.Sleep(350 * time.Millisecond)
	if _, err := s.AddPending(ctx, "", keys("young", 1)); err != nil {
		t.Fatal(err)
	}
	due, _, err = s.DueEntries(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 15 {
		t.Fatalf("%d due with a younger entry waiting; want one whole batch of 15", len(due))
	}
	// Nothing is removed until RemovePending.
	if again, _, _ := s.DueEntries(ctx, w); len(again) != 15 {
		t.Fatalf("DueEntries removed entries: %d due on the second call", len(again))
	}
	if err := s.RemovePending(ctx, due, make([]string, len(due)), time.Hour); err != nil {
		t.Fatal(err)
	}
	// the youngest entry's window runs on the Redis clock: only real time makes the partial batch due
	time.Sleep(350 * time.Millisecond)
	due, _, err = s.DueEntries(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 6 {
		t.Fatalf("%d due once nothing younger waits; want the remaining 6", len(due))
	}
}

func TestDueEntriesMaxDelay(t *testing.T) {
	s, ctx := newStore(t)
	w := store.Window{Window: 100 * time.Millisecond, MaxDelay: 400 * time.Millisecond, Batch: 15, MaxClaim: 1500}
	if _, err := s.AddPending(ctx, "", keys("first", 3)); err != nil {
		t.Fatal(err)
	}
	// A steady trickle keeps a younger entry waiting; the partial batch must still go by MaxDelay.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; ; i++ {
		if _, err := s.AddPending(ctx, "", []string{fmt.Sprintf("trickle-%d", i)}); err != nil {
			t.Fatal(err)
		}
		due, _, err := s.DueEntries(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) > 0 {
			if due[0].Key != keys("first", 3)[0] {
				t.Errorf("oldest first: got %s", due[0].Key)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a partial batch waited past MaxDelay while a trickle kept arriving")
		}
		// polls the condition; the Redis clock gives no signal to wait on
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdmitDropsSatisfied: a URL sent after it was requested, or covered by a flush-all sent after
// it was requested, is dropped; with every URL dropped nothing is counted against the limit.
func TestAdmitDropsSatisfied(t *testing.T) {
	s, ctx := newStore(t)
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sent(ctx, []string{"a"}, now-10, now, "u1", time.Hour); err != nil {
		t.Fatal(err)
	}
	lim := store.Limit{Rate: 1, Burst: 1}
	a, err := s.Admit(ctx, []string{"a", "b"}, now-5, store.Interactive, lim)
	if err != nil {
		t.Fatal(err)
	}
	if a.Verdict != store.Go || !a.Dropped[0] || a.Dropped[1] {
		t.Fatalf("verdict %v dropped %v; want go with a dropped", a.Verdict, a.Dropped)
	}
	// A request made after the send is not satisfied by it.
	a, err = s.Admit(ctx, []string{"a"}, now+1, store.Interactive, store.Limit{})
	if err != nil || a.Verdict != store.Go || a.Dropped[0] {
		t.Fatalf("a request after the send: %+v %v", a, err)
	}
	// Every URL satisfied: nothing to send, and the limiter is untouched.
	a, err = s.Admit(ctx, []string{"a"}, now-5, store.Interactive, lim)
	if err != nil || a.Verdict != store.Satisfied {
		t.Fatalf("all satisfied: %+v %v", a, err)
	}
	if _, err := s.AllSent(ctx, now+100, "all-1", 0); err != nil {
		t.Fatal(err)
	}
	a, err = s.Admit(ctx, []string{"b", "c"}, now+50, store.Interactive, store.Limit{})
	if err != nil || a.Verdict != store.Satisfied {
		t.Fatalf("requests before a flush-all: %+v %v; want satisfied", a, err)
	}
}

func TestAdmitRateLimit(t *testing.T) {
	s, ctx := newStore(t)
	lim := store.Limit{Rate: 2, Burst: 3}
	goes := 0
	for range 5 {
		a, err := s.Admit(ctx, nil, 0, store.Interactive, lim)
		if err != nil {
			t.Fatal(err)
		}
		if a.Verdict == store.Go {
			goes++
			continue
		}
		if a.Verdict != store.Throttled || a.Wait <= 0 || a.Wait > 500*time.Millisecond {
			t.Fatalf("denied with %v wait %s; want throttled within one emission interval", a.Verdict, a.Wait)
		}
	}
	if goes != 3 {
		t.Fatalf("%d calls admitted at once; the burst is 3", goes)
	}
}

// TestAdmitPriority: while an interactive request waits for the limiter, background work yields.
func TestAdmitPriority(t *testing.T) {
	s, ctx := newStore(t)
	lim := store.Limit{Rate: 1, Burst: 1}
	interactiveWaits(t, s, ctx, lim)
	a, err := s.Admit(ctx, nil, 0, store.Background, lim)
	if err != nil || a.Verdict != store.Yield {
		t.Fatalf("background while interactive waits: %v %v, want yield", a.Verdict, err)
	}
}

func TestPauseIsSharedAndOnlyLengthens(t *testing.T) {
	s, ctx := newStore(t)
	if err := s.Pause(ctx, "429", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(ctx, "shorter", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	a, err := s.Admit(ctx, []string{"x"}, 0, store.Interactive, store.Limit{})
	if err != nil || a.Verdict != store.Paused || a.Wait < time.Second || a.Reason != "429" {
		t.Fatalf("%+v %v; want paused about 2s for 429", a, err)
	}
}

// TestBackoffStepsPerRound: failures during a pause belong to its round; the next round doubles.
func TestBackoffStepsPerRound(t *testing.T) {
	s, ctx := newStore(t)
	base := 100 * time.Millisecond
	d1, err := s.Backoff(ctx, "outage", base, time.Second)
	if err != nil || d1 < base || d1 > base*6/5 {
		t.Fatalf("first step %s (%v), want 100-120ms", d1, err)
	}
	for range 5 { // five more requests fail in the same round
		d, err := s.Backoff(ctx, "outage", base, time.Second)
		if err != nil || d > d1 {
			t.Fatalf("a failure during the pause lengthened it: %s > %s (%v)", d, d1, err)
		}
	}
	// the pause runs on the Redis clock: only real time ends it
	time.Sleep(d1 + 20*time.Millisecond)
	d2, err := s.Backoff(ctx, "outage", base, time.Second)
	if err != nil || d2 < 2*base || d2 > 2*base*6/5 {
		t.Fatalf("second round %s (%v), want 200-240ms", d2, err)
	}
	// A success resets the rounds.
	now, _ := s.Now(ctx)
	if err := s.Sent(ctx, []string{"x"}, now, now, "u", time.Hour); err != nil {
		t.Fatal(err)
	}
	// the pause runs on the Redis clock: only real time ends it
	time.Sleep(d2 + 20*time.Millisecond)
	if d3, _ := s.Backoff(ctx, "outage", base, time.Second); d3 > base*6/5 {
		t.Errorf("after a success the backoff started at %s, want the base again", d3)
	}
}

func TestLease(t *testing.T) {
	s, ctx := newStore(t)
	ok, err := s.Lease(ctx, store.KeyBatcher, "a", time.Second)
	if err != nil || !ok {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, _ := s.Lease(ctx, store.KeyBatcher, "b", time.Second); ok {
		t.Fatal("b took a's lease")
	}
	if ok, _ := s.Lease(ctx, store.KeyBatcher, "a", time.Second); !ok {
		t.Fatal("a could not renew")
	}
	if err := s.Release(ctx, store.KeyBatcher, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Lease(ctx, store.KeyBatcher, "b", time.Second); !ok {
		t.Fatal("b could not take a released lease")
	}
}

// TestOutageProbe: after an outage round, one request probes; the others wait for its answer; a
// success ends it.
func TestOutageProbe(t *testing.T) {
	s, ctx := newStore(t)
	d, err := s.Backoff(ctx, "outage", 50*time.Millisecond, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// the pause runs on the Redis clock: only real time ends it
	time.Sleep(d + 20*time.Millisecond)
	first, err := s.Admit(ctx, []string{"a"}, 0, store.Interactive, store.Limit{})
	if err != nil || first.Verdict != store.Go {
		t.Fatalf("the probe: %+v %v", first, err)
	}
	for _, prio := range []store.Priority{store.Interactive, store.Background} {
		if a, _ := s.Admit(ctx, []string{"b"}, 0, prio, store.Limit{}); a.Verdict != store.Paused {
			t.Fatalf("a second request during the probe: %v, want paused", a.Verdict)
		}
	}
	// The probe fails: a new round, and after it again one probe.
	d, _ = s.Backoff(ctx, "outage", 50*time.Millisecond, time.Second)
	// the next round's pause runs on the Redis clock: only real time ends it
	time.Sleep(d + 20*time.Millisecond)
	if a, _ := s.Admit(ctx, []string{"b"}, 0, store.Interactive, store.Limit{}); a.Verdict != store.Go {
		t.Fatalf("the next round's probe: %v", a.Verdict)
	}
	// The probe succeeds: everyone goes again.
	now, _ := s.Now(ctx)
	if err := s.Sent(ctx, []string{"b"}, 0, now, "u", time.Hour); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if a, _ := s.Admit(ctx, []string{"c"}, 0, store.Interactive, store.Limit{}); a.Verdict != store.Go {
			t.Fatalf("after a success: %v, want go", a.Verdict)
		}
	}
}

// TestQueuedInTask: the batcher records the task each URL waits in, a lookup shows it, a split
// names the new task, and the send drops it, but not the record of a later request queued in
// another task since. A send recorded before the batcher's record hides that record.
func TestQueuedInTask(t *testing.T) {
	s, ctx := newStore(t)
	w := store.Window{Batch: 15, MaxClaim: 1500}
	queue := func(u, task string) int64 {
		t.Helper()
		if _, err := s.AddPending(ctx, "", []string{u}); err != nil {
			t.Fatal(err)
		}
		due, _, err := s.DueEntries(ctx, w)
		if err != nil || len(due) != 1 {
			t.Fatalf("%d due: %v", len(due), err)
		}
		if err := s.RemovePending(ctx, due, []string{task}, time.Hour); err != nil {
			t.Fatal(err)
		}
		return due[0].RequestedAt
	}
	look := func(u string) store.Record {
		t.Helper()
		r, _, err := s.History(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	send := func(u string, req int64) {
		t.Helper()
		if err := s.Sent(ctx, []string{u}, req, req+1, "4fc96d31-8d3a-4b7e-9f0a-000000000001", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MoveURLs(ctx, nil, []string{u}, store.Move{From: store.ReqWaiting, To: store.ReqSent, Keep: true, Covers: req}); err != nil {
			t.Fatal(err)
		}
	}
	u := "https://img.example.com/queued.jpg"
	req1 := queue(u, "urls_one")
	if r := look(u); r.QueuedAt != req1 || r.Task != "urls_one" {
		t.Fatalf("queued URL looked up as %+v; want queued at %d in urls_one", r, req1)
	}
	if err := s.Requeued(ctx, []string{u}, "urls_part"); err != nil {
		t.Fatal(err)
	}
	if r := look(u); r.QueuedAt != req1 || r.Task != "urls_part" {
		t.Fatalf("split URL looked up as %+v; want queued at %d in urls_part", r, req1)
	}
	time.Sleep(5 * time.Millisecond) // a later request has a later Redis time
	req2 := queue(u, "urls_two")
	send(u, req1)
	if r := look(u); r.QueuedAt != req2 || r.Task != "urls_two" || r.RequestedAt != req1 {
		t.Fatalf("after the first task's send: %+v; want queued at %d in urls_two, sent for %d", r, req2, req1)
	}
	send(u, req2)
	if r := look(u); r.QueuedAt != 0 || r.Task != "" || r.RequestedAt != req2 {
		t.Fatalf("after the second send: %+v; want nothing queued", r)
	}
	if n := s.Client().HLen(ctx, store.KeyQueued).Val(); n != 0 {
		t.Fatalf("%d queued records left after the sends; want 0", n)
	}
	// A task that ran before the batcher recorded it: the send hides the record.
	v := "https://img.example.com/early.jpg"
	if _, err := s.AddPending(ctx, "", []string{v}); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.DueEntries(ctx, w)
	if err != nil || len(due) != 1 {
		t.Fatalf("%d due: %v", len(due), err)
	}
	send(v, due[0].RequestedAt)
	if err := s.RemovePending(ctx, due, []string{"urls_early"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if r := look(v); r.QueuedAt != 0 || r.Task != "" || r.SentAt == 0 {
		t.Fatalf("a URL sent before its queued record: %+v; want sent, not queued", r)
	}
}
