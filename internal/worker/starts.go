package worker

import (
	"sync"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// startGate spaces this worker's own call starts, for one budget.
// The shared count in Redis (store.Start) bounds the starts of every worker in a sliding second.
// A second can hold its cap at its very edge, though: a group of calls a stall woke late starts
// at once, and the calls waiting for room all go when the second moves on.
// A few ms between the count and the API then add that whole group to another second.
// So each start also reserves a slot in a GCRA on this worker's starts (store.StartSpacing).
// The slots fill any window of length L with at most ceil((L + tolerance) / emission) starts:
// store.StartCap in a second, and a few more in a second and a few ms.
// A slot is reserved once, not asked for again, so a call woken late pushes no other back.
type startGate struct {
	mu   sync.Mutex
	next time.Time // the theoretical time of the next start; a slot may be up to the tolerance before it
}

// take reserves the slot of one start asked for at now under lim, and returns how long the call
// waits for it (0: it starts now).
func (g *startGate) take(now time.Time, lim store.Limit) time.Duration {
	emission, tolerance := store.StartSpacing(lim)
	g.mu.Lock()
	defer g.mu.Unlock()
	next := g.next
	if next.Before(now) {
		next = now
	}
	g.next = next.Add(emission)
	return max(next.Add(-tolerance).Sub(now), 0)
}
