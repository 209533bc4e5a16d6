package worker

import (
	"context"
	"testing"
	"time"
)

// TestStatusChecksYieldToFlatOutSending: a check waits while invalidations run unpaced by the
// limit, not while the limit paces them, and goes as soon as sending stops.
func TestStatusChecksYieldToFlatOutSending(t *testing.T) {
	w := &Worker{}
	if w.sendingFlatOut() {
		t.Fatal("flat out with nothing sending")
	}
	w.sentAt.Store(time.Now().UnixNano())
	if !w.sendingFlatOut() {
		t.Fatal("not flat out right after a send ended: checks slip in between two tasks")
	}
	w.sentAt.Store(time.Now().Add(-2 * sendGap).UnixNano())
	w.sending.Add(1)
	if !w.sendingFlatOut() {
		t.Fatal("not flat out with a send running and no wait for the limit")
	}
	w.limitedAt.Store(time.Now().UnixNano())
	if w.sendingFlatOut() {
		t.Fatal("flat out while the limit paces the sends")
	}
	w.limitedAt.Store(time.Now().Add(-2 * limitedFor).UnixNano())
	done := make(chan error, 1)
	go func() { done <- w.yieldToSends(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("the check went while sending flat out: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	w.sending.Add(-1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the check still waits after sending stopped")
	}
}
