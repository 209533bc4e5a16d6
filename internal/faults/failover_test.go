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

	"github.com/cipurge/cipurge/internal/sandbox"
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
	sb, apiURL, c := startFailoverCluster(t)
	victim := c.masterOf(store.KeyPending)
	replica := c.replicaOf(victim)
	spread := c.spread(c.pickAccounts(3))
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
	killedAt, promoted := killMaster(t, victim, replica)
	rejoined := rejoin(t, victim, killedAt)
	testkit.WaitFor(t, 60*time.Second, "an enqueue acknowledged after the rejoin", func() bool { return loop.okAfter(killedAt.Add(rejoined)) })
	acked, runs, refused := loop.stop()

	all, finished := drained(t, sb, killedAt, in, acked)
	checkFollowed(t, workers)
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

// producerLoop writes again and again, each write with its own URLs, until stop. It keeps the
// URLs of the writes that were acknowledged and why the others failed.
type producerLoop struct {
	mu      sync.Mutex
	acked   []string
	refused []string
	runs    int
	lastOK  map[string]time.Time // when the last acknowledged write of each group began
	groups  int                  // the groups written to
	quit    chan struct{}
	done    chan struct{}
}

// startProducerLoop starts a loop of enqueue runs: per URLs named prefix-RUN, one every 100 ms or so.
func startProducerLoop(e env, prefix string, per int) *producerLoop {
	return startLoop(1, func(run int) (string, []string, string) {
		urls := testkit.ImageURLs(prefix+"-"+strconv.Itoa(run), per)
		res := runEnqueue(e, "", time.Minute, append([]string{"--no-progress"}, urls...)...)
		if res.code != 0 {
			return "", urls, fmt.Sprintf("exit %d after %.1fs: %s", res.code, res.took.Seconds(), strings.TrimSpace(res.stderr))
		}
		return "", urls, ""
	})
}

// startLoop calls write(run) every 100 ms or so until stop. write returns the group it wrote to
// (of groups), its URLs, and why it failed ("" when they were acknowledged).
func startLoop(groups int, write func(run int) (group string, urls []string, refusal string)) *producerLoop {
	l := &producerLoop{lastOK: map[string]time.Time{}, groups: groups, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for run := 0; ; run++ {
			select {
			case <-l.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			began := time.Now()
			group, urls, refusal := write(run)
			l.mu.Lock()
			l.runs++
			if refusal == "" {
				l.acked = append(l.acked, urls...)
				l.lastOK[group] = began
			} else {
				l.refused = append(l.refused, refusal)
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// okAfter reports whether every group had a write acknowledged that began after t.
func (l *producerLoop) okAfter(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.lastOK {
		if !at.After(t) {
			return false
		}
	}
	return len(l.lastOK) == l.groups
}

// stop ends the loop after its current run and returns what it saw.
func (l *producerLoop) stop() (acked []string, runs int, refused []string) {
	close(l.quit)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked, l.runs, l.refused
}

// startFailoverCluster starts the sandbox, with a latency of 20 ms, and a Cluster of 3 masters and
// 3 replicas that fails over within about 2 s (cluster-node-timeout 1000) and keeps an AOF.
func startFailoverCluster(t *testing.T) (*sandbox.Server, string, *cluster) {
	t.Helper()
	sb, apiURL := testkit.StartSandbox(t, apiKey)
	sb.SetLatency(20 * time.Millisecond)
	return sb, apiURL, startCluster(t, 3, 1, "--cluster-node-timeout", "1000", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
}

// spread names the master of each account's keys: "shop-0 on cluster-node-1".
func (c *cluster) spread(accts []string) []string {
	var out []string
	for _, a := range accts {
		out = append(out, a+" on "+c.masterOf(store.AccountPrefix(a)+"pending").name)
	}
	return out
}

// killMaster kills victim's process (SIGKILL) and waits until its replica is master. It returns
// when it killed it and how long the promotion took.
func killMaster(t *testing.T, victim, replica *redisProc) (time.Time, time.Duration) {
	t.Helper()
	killedAt := time.Now()
	victim.kill()
	waitInfo(t, replica, "role:master")
	return killedAt, time.Since(killedAt)
}

// rejoin starts the killed victim again and waits until it is a replica in sync. The new master
// has no replica until then: writes that wait for one fail. It returns the time since killedAt.
func rejoin(t *testing.T, victim *redisProc, killedAt time.Time) time.Duration {
	t.Helper()
	victim.start()
	waitInfo(t, victim, "master_link_status:up")
	return time.Since(killedAt)
}

// drained waits until every URL of in and acked is invalidated. It returns them all, and the
// time from killedAt to the last.
func drained(t *testing.T, sb *sandbox.Server, killedAt time.Time, in, acked []string) ([]string, time.Duration) {
	t.Helper()
	all := append(append([]string(nil), in...), acked...)
	testkit.WaitFor(t, 200*time.Second, "every acknowledged URL invalidated", func() bool { return len(missing(sb, all)) == 0 })
	return all, time.Since(killedAt)
}

// checkFollowed fails the test when a worker exited instead of following a failover, or met a
// CROSSSLOT error.
func checkFollowed(t *testing.T, workers []*proc) {
	t.Helper()
	for _, w := range workers {
		if w.Exited() {
			t.Errorf("%s exited instead of following the failover:\n%s", w.Name, testkit.Tail(w.logs(), 20))
		}
		if strings.Contains(w.logs(), "CROSSSLOT") {
			t.Errorf("%s hit a CROSSSLOT error:\n%s", w.Name, testkit.Tail(w.logs(), 20))
		}
	}
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
