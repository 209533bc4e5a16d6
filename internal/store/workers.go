package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// WorkerState is what each worker publishes about itself (KeyWorkers), so that `enqueue status`
// and /status report the settings the fleet really runs with, not the reader's environment.
type WorkerState struct {
	ID          string  `json:"id"`
	Version     string  `json:"version"`
	Rate        float64 `json:"rate"` // the configured rate, calls/s (0: no limit)
	Burst       int     `json:"burst"`
	BatchSize   int     `json:"batch_size"`
	Concurrency int     `json:"concurrency"`
	Window      string  `json:"window"`
	Confirm     bool    `json:"confirm"`
	ConfirmRate float64 `json:"confirm_rate"`      // status checks per second, the budget in effect
	LatencyMS   int64   `json:"latency_ms"`        // the API's latency this worker observes (moving average)
	MaxInFlight int     `json:"max_in_flight"`     // invalidation calls its task slots can carry at once
	StartedAt   int64   `json:"started_at"`        // ms
	Stopped     string  `json:"stopped,omitempty"` // why this worker stopped sending (key, TLS, endpoint), if it did
	// BusySince is since when (Redis clock, ms) this worker's rate monitor has seen, at every
	// sample, work waiting to be sent (tasks waiting for a slot, URLs held past their batching
	// wait) and no shared pause; 0 when its last sample did not. While it holds, the fleet sends
	// as fast as it can: its achieved rate is what it can send, not what it was asked to.
	BusySince int64 `json:"busy_since,omitempty"`
	SeenAt    int64 `json:"-"` // the Redis clock when it last published, ms
	// Lanes are the worker's lanes when it sends for several accounts, each with its own rate,
	// budget, busy clock and stop. The fields above are then the first lane's, but Stopped, which
	// names every lane that stopped. Workers reads a worker as its lane of the store's account.
	Lanes []LaneState `json:"lanes,omitempty"`
}

// LaneState is what one lane of a worker says of its account.
type LaneState struct {
	Account     string  `json:"account"`
	Rate        float64 `json:"rate"`
	Burst       int     `json:"burst"`
	ConfirmRate float64 `json:"confirm_rate"`
	BusySince   int64   `json:"busy_since,omitempty"`
	Stopped     string  `json:"stopped,omitempty"`
}

// lane returns w as its lane of account says. ok is false when w does not send for account.
// A record with no lanes is a worker of one lane, which sends for the account default.
// So is an earlier version's record.
func (w WorkerState) lane(account string) (_ WorkerState, ok bool) {
	if len(w.Lanes) == 0 {
		return w, account == tasks.DefaultAccount
	}
	for _, l := range w.Lanes {
		if l.Account == account {
			w.Rate, w.Burst, w.ConfirmRate, w.BusySince, w.Stopped = l.Rate, l.Burst, l.ConfirmRate, l.BusySince, l.Stopped
			return w, true
		}
	}
	return w, false
}

// PublishWorker records w, stamped with the Redis clock.
func (s *Store) PublishWorker(ctx context.Context, w WorkerState) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	if err := publishWorkerScript.Run(ctx, s.rdb, []string{KeyWorkers}, w.ID, b).Err(); err != nil {
		return fmt.Errorf("publish worker: %w", err)
	}
	return nil
}

// RemoveWorker removes worker id's record (a clean shutdown).
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	return s.rdb.HDel(ctx, KeyWorkers, id).Err()
}

// How the workers' records age: each worker publishes its record every WorkerPublishEvery; a
// record counts as a worker alive for three times as long (one or two missed writes are not a
// death), and one that old is forgotten after an hour. The one definition of "a worker is alive",
// for the status and the workers' own rate monitor.
const (
	WorkerPublishEvery = 5 * time.Second
	workerAliveFor     = 3 * WorkerPublishEvery
	workerForgetAfter  = time.Hour
)

// Workers returns the records of the workers alive at now (Redis clock, ms): refreshed within
// workerAliveFor. It deletes those older than workerForgetAfter.
// A worker of several lanes reads as its lane of the store's account: its rate, its stop.
// A worker with no lane of that account does not send for it and is left out.
func (s *Store) Workers(ctx context.Context, now int64) ([]WorkerState, error) {
	aliveMS, forgetMS := workerAliveFor.Milliseconds(), workerForgetAfter.Milliseconds()
	m, err := s.rdb.HGetAll(ctx, KeyWorkers).Result()
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	var out []WorkerState
	var stale []string
	for id, v := range m {
		stamp, state, _ := strings.Cut(v, " ")
		ms, _ := strconv.ParseInt(stamp, 10, 64)
		switch age := now - ms; {
		case age > forgetMS:
			stale = append(stale, id)
			continue
		case age > aliveMS:
			continue
		}
		var w WorkerState
		if json.Unmarshal([]byte(state), &w) != nil {
			continue
		}
		w.ID, w.SeenAt = id, ms
		if w, ok := w.lane(s.k.Account); ok {
			out = append(out, w)
		}
	}
	if len(stale) > 0 {
		_ = s.rdb.HDel(ctx, KeyWorkers, stale...).Err()
	}
	return out, nil
}
