//go:build faults

package faults

import (
	"strconv"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
)

// TestFaultKillLoop: three workers drain 6,000 images while one of them is killed with SIGKILL every
// 3 s for 30 s and replaced by a new one. Nothing is lost (the dead workers' tasks come back through
// asynq's recoverer) and at most 2% of the URLs are sent twice (only requests in flight in a killed
// worker can be); the test prints the figure.
func TestFaultKillLoop(t *testing.T) {
	t.Parallel()
	const (
		n       = 6000
		every   = 3 * time.Second
		loopFor = 30 * time.Second
	)
	sb, _, e := newRig(t)
	sb.SetLatency(20 * time.Millisecond)
	e = e.With("PURGE_RATE=12", "PURGE_BURST=2", "PURGE_CONCURRENCY=5", "LOG_LEVEL=warn")
	in := testkit.ImageURLs("killloop", n)
	mustEnqueue(t, e, time.Minute, "--no-progress", "-f", writeLines(t, in))
	workers := []*proc{startWorker(t, "worker-0", e), startWorker(t, "worker-1", e), startWorker(t, "worker-2", e)}
	start := time.Now()
	kills := 0
	for time.Since(start) < loopFor {
		time.Sleep(every) // the fault's schedule, not a wait for a result
		i := kills % len(workers)
		workers[i].Kill()
		kills++
		workers[i] = startWorker(t, "worker-"+strconv.Itoa(kills+2), e)
	}
	testkit.WaitFor(t, 240*time.Second, "every URL invalidated after the kill loop", func() bool { return len(missing(sb, in)) == 0 })
	twice, extra := sentTwice(sb, in)
	report(t, "%d URLs, %d SIGKILLs in %s (one every %s, each replaced): 0 lost, %d URLs sent twice (%.2f%%, %d extra sends), every URL invalidated %.0fs after the start",
		n, kills, loopFor, every, twice, 100*float64(twice)/n, extra, time.Since(start).Seconds())
	if float64(twice) > 0.02*n {
		t.Errorf("%d URLs sent twice, more than 2%% of %d", twice, n)
	}
}
