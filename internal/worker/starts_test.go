package worker

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit/fakeclock"
)

// TestStartGateSpacesLateCalls drives this worker's own gate of starts with a fake clock. The
// calls are reserved as the shared limiter reserves them: the burst at once, then one per
// emission interval. Each wakes late, as on a loaded machine: most by a ms or two, some in groups
// after a stall of the process. Each takes its slot from the gate once, and starts at it. The
// test counts the starts in every window: a window of length L holds at most
// ceil((L + tolerance) / emission), which is store.StartCap (rate + half the burst) for a second.
// A gate that let a stalled group start at once, or counted only whole seconds, fails the shorter
// windows and the ones just over a second. (The sliding second of 68eb20c, asked again after each
// wait, let 29 calls start in 1 ms here, and 153 in 1.1 s at 100 calls/s.)
func TestStartGateSpacesLateCalls(t *testing.T) {
	for _, lim := range []store.Limit{{Rate: 100, Burst: 5}, {Rate: 20, Burst: 5}, {Rate: 2.5, Burst: 1}, {Rate: 100, Burst: 1}} {
		emission, tolerance := store.StartSpacing(lim)
		clock := fakeclock.New(time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC))
		t0 := clock.Now()
		rng := rand.New(rand.NewPCG(1, uint64(lim.Rate*10)+uint64(lim.Burst)))
		n := int(lim.Rate * 30) // 30 s of calls
		ready := make([]time.Time, n)
		stallTo := time.Duration(0)
		for i := range ready {
			at := time.Duration(max(i-lim.Burst+1, 0)) * emission
			late := time.Duration(rng.IntN(2000)) * time.Microsecond
			if at < stallTo { // the process was stalled: every call reserved in it wakes at its end
				late = stallTo - at + late
			} else if rng.IntN(int(lim.Rate)+1) == 0 {
				stallTo = at + time.Duration(50+rng.IntN(400))*time.Millisecond
			}
			ready[i] = t0.Add(at + late)
		}
		slices.SortFunc(ready, time.Time.Compare)
		var g startGate
		starts := make([]time.Time, n)
		for i, at := range ready {
			clock.Advance(at.Sub(clock.Now()))
			starts[i] = clock.Now().Add(g.take(clock.Now(), lim))
		}
		slices.SortFunc(starts, time.Time.Compare)
		for _, l := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second, 1100 * time.Millisecond, 3 * time.Second} {
			bound := int(math.Ceil(float64(l+tolerance) / float64(emission)))
			if l == time.Second && bound != store.StartCap(lim) {
				t.Errorf("%v: the spacing allows %d starts a second, the cap is %d", lim, bound, store.StartCap(lim))
			}
			if got := mostIn(starts, l); got > bound {
				t.Errorf("%v: %d starts in one window of %s; the spacing allows %d", lim, got, l, bound)
			}
		}
		if got := mostIn(starts, time.Second); got > int(math.Ceil(lim.Rate))+lim.Burst {
			t.Errorf("%v: %d starts in one second, above rate + burst", lim, got)
		}
		t.Logf("%v: %d calls over %s, at most %d starts in a second (cap %d)", lim, n,
			starts[n-1].Sub(t0).Round(time.Millisecond), mostIn(starts, time.Second), store.StartCap(lim))
	}
}

// mostIn is the most times of sorted at in one half-open window [at[i], at[i]+l).
func mostIn(at []time.Time, l time.Duration) int {
	most := 0
	for i := range at {
		end, _ := slices.BinarySearchFunc(at, at[i].Add(l), time.Time.Compare) // the first not before
		most = max(most, end-i)
	}
	return most
}
