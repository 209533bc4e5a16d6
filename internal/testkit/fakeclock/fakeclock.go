// Package fakeclock is a clock that tests move by hand, safe for concurrent use (the code under
// test may read it from its own goroutines). It imports nothing of the product, so that the tests
// of any package can use it. Only tests import it.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a settable clock: pass its Now where the code under test takes a clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads t until it is advanced.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
