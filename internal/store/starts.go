package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Start is asked when a call the limiter admitted is about to start, at or after its reserved
// time. The GCRA of Admit bounds the reserved times, not the starts: a call woken late would
// bunch with the calls reserved after it. So Start counts the starts of the calls under a
// rate, in a sliding second shared by every worker. A call keeps its reservation however late it
// woke: it starts when the second has room. No 1-s window then holds more than StartCap(lim)
// starts, by construction.
//
// It answers, in one round trip, how long to wait for room (0: started, and counted), and the
// shared pause, which outranks a reservation. Status checks and calls with no rate limit are
// not counted: for them it only reads the pause.
func (s *Store) Start(ctx context.Context, prio Priority, lim Limit) (wait time.Duration, reason string, left time.Duration, err error) {
	keys := []string{s.k.Pause}
	switch {
	case lim.Rate <= 0 || prio == Status:
	case prio == Folder || prio == FolderBulk:
		keys = append(keys, s.k.StartsPrefix)
	default:
		keys = append(keys, s.k.Starts)
	}
	res, err := startScript.Run(ctx, s.rdb, keys, StartCap(lim), strconv.FormatUint(rand.Uint64(), 36)).Slice()
	if err != nil {
		return 0, "", 0, fmt.Errorf("start: %w", err)
	}
	if len(res) < 3 {
		return 0, "", 0, fmt.Errorf("start: short reply %v", res)
	}
	w, _ := res[0].(int64)
	l, _ := res[1].(int64)
	reason, _ = res[2].(string)
	return time.Duration(w) * time.Millisecond, reason, time.Duration(l) * time.Millisecond, nil
}

// StartCap is the most calls any 1-s window may see start under lim: the rate and half the burst
// beyond the first call. The GCRA lets through the burst, then one call per emission interval:
// rate + burst - 1 in any second when every call starts on time. The cap keeps the other half of
// that burst as a margin for the time from the count to the API, which a loaded machine
// stretches. It never falls below the rate, so a backlog is still sent at the rate.
func StartCap(lim Limit) int {
	return max(int(math.Ceil(lim.Rate))+max(lim.Burst-1, 0)/2, 1)
}

// StartBurst is how many calls may start at once under lim: StartCap(lim) less the calls the
// rate spaces over the rest of a second. At least 1.
func StartBurst(lim Limit) int {
	return max(StartCap(lim)-int(math.Ceil(lim.Rate))+1, 1)
}

// StartSpacing is a GCRA on the starts under lim: one start per emission interval (1/rate,
// rounded up to the microsecond), and a tolerance that lets StartBurst(lim) start at once. Starts
// that conform to it fill any window of length L with at most ceil((L + tolerance) / emission):
// StartCap(lim) in a second. With no rate both are 0.
func StartSpacing(lim Limit) (emission, tolerance time.Duration) {
	if lim.Rate <= 0 {
		return 0, 0
	}
	emission = time.Duration(math.Ceil(1e6/lim.Rate)) * time.Microsecond
	return emission, time.Duration(StartBurst(lim)-1) * emission
}
