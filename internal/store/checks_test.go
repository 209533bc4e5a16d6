package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestChecksComeDueOnceAndAgainAfterTheirLease: a check is taken only once due, by one taker at a
// time. One taken and not done comes due again after its lease; one done is gone.
func TestChecksComeDueOnceAndAgainAfterTheirLease(t *testing.T) {
	s := store.New(testredis.Start(t).Client())
	ctx := context.Background()
	t0 := time.UnixMilli(1_000_000_000_000)
	for i, c := range []string{"a", "b", "c"} {
		if err := s.AddCheck(ctx, []byte(c), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	take := func(at time.Time, want ...string) []string {
		t.Helper()
		got, err := s.TakeChecks(ctx, at, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("at %s: took %q, want %q", at.Sub(t0), got, want)
		}
		return got
	}
	take(t0.Add(-time.Millisecond))
	took := take(t0.Add(time.Second), "a", "b")
	take(t0.Add(time.Second)) // taken: not again within the lease
	if err := s.DoneChecks(ctx, took[:1]); err != nil {
		t.Fatal(err)
	}
	take(t0.Add(time.Minute+time.Second), "c", "b") // c came due; b's taker never finished it
	if n, err := s.ChecksWaiting(ctx); err != nil || n != 2 {
		t.Errorf("%d checks waiting (%v), want 2: b and c, taken, not done", n, err)
	}
}
