package worker

import (
	"sync"
	"time"
)

// startWindow holds this worker's own call starts of the last second, for one budget.
// The shared count in Redis (store.Start) bounds the starts of every worker, at Redis's time.
// Its answer reaches this process later, and a loaded machine delays some answers more than
// others. So the same cap is kept here too, at the time the call really starts.
// A call then waits until its own second has room. It never gives its reservation up.
type startWindow struct {
	mu   sync.Mutex
	at   []time.Time // the last len(at) starts; at[next] is the oldest
	next int
}

// take records a start at now when the second before now holds fewer than capacity starts, and
// returns 0. Otherwise it records nothing and returns how long to wait for room.
func (s *startWindow) take(now time.Time, capacity int) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.at) != capacity {
		s.at, s.next = make([]time.Time, capacity), 0
	}
	if wait := s.at[s.next].Add(time.Second).Sub(now); wait > 0 {
		return wait
	}
	s.at[s.next] = now
	s.next = (s.next + 1) % capacity
	return 0
}
