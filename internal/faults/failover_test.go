//go:build faults

package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestFaultClusterFailover: a Cluster of 3 masters and 3 replicas on loopback
// (cluster-node-timeout 1000, AOF). Producers and workers run with REDIS_WAIT_REPLICAS=1. The
// master of the product's keys gets SIGKILL after a third of a drain's calls, while a producer
// loop keeps enqueuing. Checks: its replica is promoted; every URL of every enqueue that exited 0
// is invalidated (0 acknowledged URLs lost); an enqueue that failed said why; no CROSSSLOT error.
// The killed node is started again and rejoins as a replica, so the replica wait holds again.
// It runs over 80 lines on purpose: one scenario on real processes; each step needs the state the one before left.
func TestFaultClusterFailover(t *testing.T) {
	t.Parallel()
	sb, apiURL := testkit.StartSandbox(t, apiKey)
	sb.SetLatency(20 * time.Millisecond)
	c := startCluster(t, 3, 1, "--cluster-node-timeout", "1000", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
	victim := c.masterOf(store.KeyPending)
	replica := c.replicaOf(victim)
	accts := c.pickAccounts(3)
	var spread []string
	for _, a := range accts {
		spread = append(spread, a+" on "+c.masterOf(store.AccountPrefix(a)+"pending").name)
	}
	e := baseEnv(apiURL).With("REDIS_CLUSTER_ADDRS="+strings.Join(c.addrs, ","), "REDIS_WAIT_REPLICAS=1", "REDIS_WAIT_TIMEOUT=1s",
		"PURGE_RATE=20", "PURGE_BURST=5")

	in := testkit.ImageURLs("failover", 3000) // 200 calls: 10 s at 20 a second
	if res := mustEnqueue(t, e, time.Minute, "--no-progress", "-f", writeLines(t, in)); !strings.Contains(res.stderr, "3,000 enqueued") {
		t.Fatalf("enqueue on the cluster: exit %d: %s", res.code, res.stderr)
	}
	loop := startProducerLoop(e, "failover-loop", 20)
	workers := []*proc{startWorker(t, "worker-a", e), startWorker(t, "worker-b", e)}
	testkit.WaitFor(t, 60*time.Second, "a third of the calls accepted", func() bool { return sb.Stats().Accepted >= 200/3 })

	acceptedAtKill := sb.Stats().Accepted
	killedAt := time.Now()
	victim.kill()
	waitInfo(t, replica, "role:master")
	promoted := time.Since(killedAt)
	// The new master has no replica until the killed node is back: writes that wait for one fail.
	victim.start()
	waitInfo(t, victim, "master_link_status:up")
	rejoined := time.Since(killedAt)
	testkit.WaitFor(t, 60*time.Second, "an enqueue acknowledged after the rejoin", func() bool { return loop.okAfter(killedAt.Add(rejoined)) })
	acked, runs, refused := loop.stop()

	all := append(append([]string(nil), in...), acked...)
	testkit.WaitFor(t, 200*time.Second, "every acknowledged URL invalidated", func() bool { return len(missing(sb, all)) == 0 })
	finished := time.Since(killedAt)
	for _, w := range workers {
		if w.Exited() {
			t.Errorf("%s exited instead of following the failover:\n%s", w.Name, testkit.Tail(w.logs(), 20))
		}
		if strings.Contains(w.logs(), "CROSSSLOT") {
			t.Errorf("%s hit a CROSSSLOT error:\n%s", w.Name, testkit.Tail(w.logs(), 20))
		}
	}
	for _, r := range refused {
		t.Logf("refused: %s", reason(r))
		if strings.Contains(r, "CROSSSLOT") || !strings.Contains(r, "enqueue: ") {
			t.Errorf("an enqueue failed without a clear reason: %s", r)
		}
	}
	twice, extra := sentTwice(sb, all)
	report(t, "3 masters + 3 replicas, REDIS_WAIT_REPLICAS=1; the master of the product's keys (%s; %s on %s, %s on %s) killed after %d of 200 calls; "+
		"its replica promoted %.1fs after the kill; the killed node back in sync %.1fs after; producer loop: %d runs, %d refused (%s), %d URLs acknowledged; "+
		"all %d acknowledged URLs invalidated %.0fs after the kill, 0 lost; %d URLs sent twice (%d extra sends); keys per master at the end %s; "+
		"three account names whose keys land on three masters: %s",
		victim.name, taskq.PendingKey(tasks.QueueInteractive), c.masterOf(taskq.PendingKey(tasks.QueueInteractive)).name,
		taskq.PendingKey(tasks.QueueBulk), c.masterOf(taskq.PendingKey(tasks.QueueBulk)).name, acceptedAtKill,
		promoted.Seconds(), rejoined.Seconds(), runs, len(refused), firstRefusal(refused), len(acked),
		len(all), finished.Seconds(), twice, extra, c.keysPerNode(), strings.Join(spread, ", "))
}

// producerLoop runs enqueue again and again, each run with its own URLs, until stop. It keeps
// the URLs of the runs that exited 0 (acknowledged) and the stderr of the others.
type producerLoop struct {
	mu      sync.Mutex
	acked   []string
	refused []string
	runs    int
	lastOK  time.Time // when the last acknowledged run began
	quit    chan struct{}
	done    chan struct{}
}

// startProducerLoop starts the loop: runs of per URLs named prefix-RUN, one every 100 ms or so.
func startProducerLoop(e env, prefix string, per int) *producerLoop {
	l := &producerLoop{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for run := 0; ; run++ {
			select {
			case <-l.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			urls := testkit.ImageURLs(prefix+"-"+strconv.Itoa(run), per)
			began := time.Now()
			res := runEnqueue(e, "", time.Minute, append([]string{"--no-progress"}, urls...)...)
			l.mu.Lock()
			l.runs++
			if res.code == 0 {
				l.acked = append(l.acked, urls...)
				l.lastOK = began
			} else {
				l.refused = append(l.refused, fmt.Sprintf("exit %d after %.1fs: %s", res.code, res.took.Seconds(), strings.TrimSpace(res.stderr)))
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// okAfter reports whether a run that began after t was acknowledged.
func (l *producerLoop) okAfter(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastOK.After(t)
}

// stop ends the loop after its current run and returns what it saw.
func (l *producerLoop) stop() (acked []string, runs int, refused []string) {
	close(l.quit)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked, l.runs, l.refused
}

// firstRefusal is the reason of the first of msgs, or "none".
func firstRefusal(msgs []string) string {
	if len(msgs) == 0 {
		return "none"
	}
	return reason(msgs[0])
}

// reason is the line of an enqueue's stderr that says why it failed, else its first line.
func reason(msg string) string {
	for _, line := range strings.Split(msg, "\n") {
		if strings.HasPrefix(line, "enqueue: ") {
			return truncate(line, 240)
		}
	}
	return firstLine(msg)
}

// waitInfo waits until n's INFO replication holds want.
func waitInfo(t *testing.T, n *redisProc, want string) {
	t.Helper()
	nc := n.client()
	testkit.WaitFor(t, 30*time.Second, n.name+" with "+want, func() bool {
		info, err := nc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, want)
	})
}
