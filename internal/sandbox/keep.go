package sandbox

import (
	"encoding/json"
	"strings"
	"time"
)

// Keeper keeps the invalidations a sandbox accepted outside its process, so that a sandbox
// started again still answers their status checks as the real API would: the worker's sandbox
// mode keeps them in its Redis (store.SandboxRecords). Both methods are best effort: a Keep that
// fails loses that record's status after a restart, nothing else.
type Keeper interface {
	Keep(uuid string, record []byte)
	Recall(uuid string) (record []byte, ok bool)
}

// kept is an accepted request as its status needs it: what a Keeper stores (JSON), and what
// fill reads for a record in memory too.
type kept struct {
	At     int64         `json:"at"` // unix nanoseconds
	Scope  string        `json:"scope"`
	URLs   []string      `json:"urls"`
	Failed uint16        `json:"failed,omitempty"` // bit i set: URLs[i] ends under "failed"
	Error  bool          `json:"error,omitempty"`  // ends in ERROR
	Status string        `json:"status,omitempty"` // a status fault reported instead of DONE
	Lasts  time.Duration `json:"lasts,omitempty"`  // how long past the status delay it is reported (0: for ever)
}

// keptOf is rec with its URLs and status fault spelt out; s.mu is held.
func (s *Server) keptOf(rec *record) *kept {
	k := &kept{At: rec.at, Scope: rec.scope, URLs: make([]string, len(rec.urls)), Failed: rec.failed, Error: rec.error}
	for i, ix := range rec.urls {
		k.URLs[i] = s.urls[ix]
	}
	if rec.status > 0 && int(rec.status) <= len(s.statusFaults) {
		f := s.statusFaults[rec.status-1]
		k.Status, k.Lasts = f.status, f.lasts
	}
	return k
}

// keep hands an accepted request to the Keeper, if there is one.
func (s *Server) keep(uuid string, k *kept) {
	if s.keeper == nil || k == nil {
		return
	}
	if b, err := json.Marshal(k); err == nil {
		s.keeper.Keep(uuid, b)
	}
}

// recall asks the Keeper for a request this process does not hold.
func (s *Server) recall(uuid string) *kept {
	if s.keeper == nil {
		return nil
	}
	b, ok := s.keeper.Recall(uuid)
	if !ok {
		return nil
	}
	var k kept
	if json.Unmarshal(b, &k) != nil {
		return nil
	}
	return &k
}

// fill writes the status of k, elapsed after it was received, with the status delay d.
func (k *kept) fill(out *statusBody, elapsed, d time.Duration) {
	inv := &out.Invalidation
	inv.Scope = k.Scope
	inv.URLs.Invalidated, inv.URLs.Failed = []string{}, []string{}
	if d > 0 && elapsed < d {
		inv.Status = stages[max(int(elapsed*4/d), 0)]
		inv.URLs.Received = k.URLs
		return
	}
	if k.Status != "" && (k.Lasts == 0 || elapsed < d+k.Lasts) {
		inv.Status = k.Status
		if strings.HasPrefix(k.Status, StatusError) {
			inv.URLs.Failed = k.URLs
		} else {
			inv.URLs.Received = k.URLs
		}
		return
	}
	if k.Error {
		inv.Status = StatusError
		inv.URLs.Failed = k.URLs
		return
	}
	inv.Status = StatusDone
	for i, u := range k.URLs {
		if k.Failed&(1<<i) != 0 {
			inv.URLs.Failed = append(inv.URLs.Failed, u)
		} else {
			inv.URLs.Invalidated = append(inv.URLs.Invalidated, u)
		}
	}
}
