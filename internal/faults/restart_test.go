//go:build faults

package faults

import (
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
)

// TestFaultRedisRestart: producers enqueue in a loop and two workers drain while Redis (AOF,
// appendfsync everysec) is killed with SIGKILL and started again on the same port and data.
// Every URL whose enqueue exited 0 is invalidated; every enqueue caught by the outage exits 2
// with a message, in bounded time; the workers reconnect by themselves (same processes).
// It runs over 80 lines on purpose: one scenario on real processes; each step needs the state the one before left.
func TestFaultRedisRestart(t *testing.T) {
	t.Parallel()
	const perRun = 50
	sb, apiURL := testkit.StartSandbox(t, apiKey)
	sb.SetLatency(20 * time.Millisecond)
	rp := newRedis(t, "redis-aof", "--appendonly", "yes", "--appendfsync", "everysec", "--save", "")
	e := baseEnv(apiURL).With("REDIS_URL="+rp.url(), "PURGE_RATE=50", "PURGE_BURST=5")
	workers := []*proc{startWorker(t, "worker-a", e), startWorker(t, "worker-b", e)}

	type run struct {
		urls  []string
		res   result
		start time.Time
	}
	var (
		mu   sync.Mutex
		runs []run
	)
	count := func(after time.Time) (ok, failed int) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range runs {
			if r.start.Before(after) {
				continue
			}
			if r.res.code == 0 {
				ok++
			} else {
				failed++
			}
		}
		return ok, failed
	}
	stop := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			us := testkit.ImageURLs("restart-"+strconv.Itoa(i), perRun)
			start := time.Now()
			res := runEnqueue(e, strings.Join(us, "\n")+"\n", 60*time.Second, "--no-progress", "-f", "-")
			mu.Lock()
			runs = append(runs, run{urls: us, res: res, start: start})
			mu.Unlock()
		}
	}()
	stopProducer := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-producerDone
	}
	t.Cleanup(stopProducer)

	testkit.WaitFor(t, 60*time.Second, "20 enqueue runs done and sending under way", func() bool {
		ok, _ := count(time.Time{})
		return ok >= 20 && sb.Stats().Accepted >= 10
	})
	// One more producer reads its input slowly from a pipe: the first 1,000 URLs are enqueued
	// before the kill, the next ones after it, so the outage hits it in the middle of its work.
	slowIn := testkit.ImageURLs("restart-slow", 2000)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	slowDone := make(chan result, 1)
	go func() { slowDone <- runEnqueueFrom(e, pr, 60*time.Second, "--no-progress", "-f", "-") }()
	t.Cleanup(func() { pw.Close(); pr.Close() })
	if _, err := io.WriteString(pw, strings.Join(slowIn[:1000], "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "the slow producer's first 1,000 URLs enqueued (and some sent)", func() bool {
		return len(missing(sb, slowIn[:500])) < 500 && len(missing(sb, slowIn[500:1000])) < 500
	})

	acceptedBefore := sb.Stats().Accepted
	killedAt := time.Now()
	rp.kill()
	_, _ = io.WriteString(pw, strings.Join(slowIn[1000:], "\n")+"\n") // fails once the producer has given up
	pw.Close()
	var slow result
	select {
	case slow = <-slowDone:
	case <-time.After(70 * time.Second):
		t.Fatal("the slow producer did not finish within 70s of the outage")
	}
	if slow.code != 2 || !strings.Contains(slow.stderr, "1,000 enqueued") || !strings.Contains(slow.stderr, "run the same command again") {
		t.Errorf("the producer caught in the middle of its input: exit %d, want 2, 1,000 enqueued and advice:\n%s", slow.code, slow.stderr)
	}
	testkit.WaitFor(t, 90*time.Second, "two enqueue runs reporting the outage", func() bool {
		_, failed := count(killedAt.Add(-5 * time.Second))
		return failed >= 2
	})
	restartedAt := time.Now()
	rp.start()
	down := restartedAt.Sub(killedAt)
	testkit.WaitFor(t, 90*time.Second, "20 enqueue runs done after the restart", func() bool {
		ok, _ := count(restartedAt)
		return ok >= 20
	})
	stopProducer()

	// The slow producer's summary acknowledged its first 1,000 URLs before it failed.
	acked := append([]string(nil), slowIn[:1000]...)
	var lostRuns []string
	var failedRuns []run
	for _, r := range runs {
		if r.res.code == 0 {
			acked = append(acked, r.urls...)
		} else {
			failedRuns = append(failedRuns, r)
			lostRuns = append(lostRuns, r.urls...)
		}
	}
	testkit.WaitFor(t, 200*time.Second, "every acknowledged URL invalidated", func() bool { return len(missing(sb, acked)) == 0 })
	drained := time.Since(restartedAt)

	var slowest time.Duration
	for _, r := range failedRuns {
		slowest = max(slowest, r.res.took)
		if r.res.code != 2 || r.res.timedOut {
			t.Errorf("an enqueue caught by the outage: exit %d (timed out: %v) after %s, want exit 2 with a message:\n%s",
				r.res.code, r.res.timedOut, r.res.took.Round(time.Millisecond), r.res.stderr)
		}
		last := testkit.Tail(r.res.stderr, 1)
		if !strings.HasPrefix(last, "enqueue: ") || strings.Contains(r.res.stderr, "goroutine ") {
			t.Errorf("an enqueue caught by the outage did not end with a one-line error:\n%s", r.res.stderr)
		}
	}
	for _, w := range workers {
		if w.Exited() {
			t.Errorf("%s exited during the outage instead of reconnecting:\n%s", w.Name, testkit.Tail(w.logs(), 20))
		}
	}
	twice, extra := sentTwice(sb, acked)
	report(t, "%d enqueue runs of %d URLs: %d exited 0 (%d URLs acknowledged), %d caught by the outage exited 2 (slowest after %s); "+
		"Redis down %.1fs after %d API calls; every acknowledged URL invalidated %.0fs after the restart; %d of the %d URLs of failed runs were invalidated anyway; "+
		"%d acknowledged URLs sent twice (%d extra sends); both workers reconnected without a restart; "+
		"a producer cut off in the middle of its input exited 2 after %s having acknowledged 1,000 URLs",
		len(runs), perRun, len(runs)-len(failedRuns), len(acked), len(failedRuns), slowest.Round(time.Millisecond),
		down.Seconds(), acceptedBefore, drained.Seconds(), len(lostRuns)-len(missing(sb, lostRuns)), len(lostRuns), twice, extra, slow.took.Round(time.Millisecond))
	if len(failedRuns) > 0 {
		t.Logf("an enqueue caught by the outage said: %s", testkit.Tail(failedRuns[0].res.stderr, 1))
	}
	t.Logf("the producer cut off in the middle said:\n%s", slow.stderr)
}
