package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Gate caps the request bodies the worker's JSON endpoints read at once: each holds up to its
// body limit in memory, so the cap bounds that memory (INTAKE_MAX_INFLIGHT times the limit).
// A nil *Gate caps nothing.
type Gate struct {
	slots   chan struct{}
	setting string
}

// NewGate returns a Gate of n slots (at least 1), named by setting in its 503.
func NewGate(n int, setting string) *Gate {
	return &Gate{slots: make(chan struct{}, max(1, n)), setting: setting}
}

// Enter takes a slot for r's body, or answers 503 with Retry-After when every slot is taken and
// returns false. Call leave when the answer is written.
func (g *Gate) Enter(w http.ResponseWriter, retryAfter time.Duration) (leave func(), ok bool) {
	if g == nil {
		return func() {}, true
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, true
	default:
	}
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	WriteJSON(w, http.StatusServiceUnavailable, Error{Code: "busy", Setting: g.setting, Limit: int64(cap(g.slots)),
		Message: fmt.Sprintf("%d requests are being read already (%s=%d): send this one again after %d s, or raise %s", cap(g.slots), g.setting, cap(g.slots), secs, g.setting)})
	return nil, false
}

// Taken reports how many slots are taken now.
func (g *Gate) Taken() int {
	if g == nil {
		return 0
	}
	return len(g.slots)
}

// Drain reads and discards what is left of r's body (wrapped by Wrap, so at most the limit)
// before a refusal is written. A client still sending then reads the answer: a server that
// closes with unread data may reset the connection before the client reads it.
func (l Limit) Drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
}
