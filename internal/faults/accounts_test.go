//go:build faults

package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestFaultClusterAccounts (issue 23, part 6): a Cluster of 3 masters and 3 replicas, and an
// ACCOUNTS_FILE of three accounts whose keys land on three different masters. Two worker
// processes run a lane per account, with REDIS_WAIT_REPLICAS=1. The master of the first account
// gets SIGKILL after a third of that account's drain, while a producer writes to every account.
// Checks: its replica is promoted; every URL of every account whose write returned is
// invalidated (0 acknowledged URLs lost); no worker exits; no CROSSSLOT error.
// The figures say what the other two accounts sent while the master was down.
// It runs over 80 lines on purpose: one scenario on real processes; each step needs the state the one before left.
func TestFaultClusterAccounts(t *testing.T) {
	t.Parallel()
	sb, apiURL, c := startFailoverCluster(t)
	accts := c.pickAccounts(3)
	spread := c.spread(accts)
	victim := c.masterOf(store.AccountPrefix(accts[0]) + "pending")
	replica := c.replicaOf(victim)
	file := "accounts:\n"
	for _, a := range accts {
		file += fmt.Sprintf("  - {name: %s, token: %s, api_key: %s, rate: 20, burst: 5}\n", a, strings.ReplaceAll(a, "-", ""), apiKey)
	}
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	must(t, os.WriteFile(path, []byte(file), 0o600))
	e := baseEnv(apiURL).With("ACCOUNTS_FILE="+path, "REDIS_CLUSTER_ADDRS="+strings.Join(c.addrs, ","),
		"REDIS_WAIT_REPLICAS=1", "REDIS_WAIT_TIMEOUT=1s")
	delete(e, "CLOUDIMAGE_API_KEY")
	delete(e, "CLOUDIMAGE_TOKEN")

	const perAccount = 1500 // 100 calls each: 5 s at 20 a second
	var in []string
	for _, a := range accts {
		urls := testkit.ImageURLs(a+"-drain", perAccount)
		if _, err := accountProducer(c.cc, a).AddKeys(context.Background(), "", urls); err != nil {
			t.Fatalf("enqueue for %s on the cluster: %v", a, err)
		}
		in = append(in, urls...)
	}
	loop := startAccountsLoop(c.cc, accts, 20)
	workers := []*proc{startWorker(t, "worker-a", e), startWorker(t, "worker-b", e)}
	first := "https://img.example.com/" + accts[0] + "-drain/"
	testkit.WaitFor(t, 60*time.Second, "a third of "+accts[0]+"'s drain sent", func() bool {
		return sentWith(sb, first, time.Time{}) >= perAccount/3
	})

	sentAtKill := sentWith(sb, first, time.Time{})
	killedAt, promoted := killMaster(t, victim, replica)
	var during []string
	for _, a := range accts[1:] {
		during = append(during, fmt.Sprintf("%s %d", a, sentWith(sb, "https://img.example.com/"+a+"-", killedAt)))
	}
	rejoined := rejoin(t, victim, killedAt)
	testkit.WaitFor(t, 60*time.Second, "a write of every account acknowledged after the rejoin", func() bool {
		return loop.okAfter(killedAt.Add(rejoined))
	})
	acked, runs, refused := loop.stop()

	all, finished := drained(t, sb, killedAt, in, acked)
	checkFollowed(t, workers)
	for _, r := range refused {
		if strings.Contains(r, "CROSSSLOT") {
			t.Errorf("a write failed with CROSSSLOT: %s", r)
		}
	}
	twice, extra := sentTwice(sb, all)
	report(t, "3 masters + 3 replicas, 3 accounts (%s), 2 workers with a lane each, REDIS_WAIT_REPLICAS=1; the master of %s (%s) killed after %d of its %d URLs; "+
		"its replica promoted %.1fs after the kill; URLs the other accounts sent between the kill and the promotion: %s; the killed node back in sync %.1fs after; "+
		"producer: %d writes, %d refused (%s), %d URLs acknowledged; all %d acknowledged URLs invalidated %.0fs after the kill, 0 lost; "+
		"%d URLs sent twice (%d extra sends); keys per master at the end %s",
		strings.Join(spread, ", "), accts[0], victim.name, sentAtKill, perAccount, promoted.Seconds(), strings.Join(during, ", "),
		rejoined.Seconds(), runs, len(refused), firstRefusal(refused), len(acked), len(all), finished.Seconds(), twice, extra, c.keysPerNode())
}

// accountProducer writes account's requests to rdb; each write waits for a replica.
func accountProducer(rdb redis.UniversalClient, account string) *producer.Producer {
	return producer.New(rdb, producer.Settings{Account: account, BatchSize: tasks.MaxURLsPerTask,
		Replicas: store.Replicas{N: 1, Timeout: time.Second}})
}

// sentWith counts the URLs with prefix that the sandbox accepted, in requests received after since.
func sentWith(sb *sandbox.Server, prefix string, since time.Time) int {
	n := 0
	for _, r := range sb.Accepted() {
		if r.At.Before(since) {
			continue
		}
		for _, u := range r.URLs {
			if strings.HasPrefix(u, prefix) {
				n++
			}
		}
	}
	return n
}

// startAccountsLoop starts a loop that writes per URLs to each account in turn, each with its
// account's producer, one write every 100 ms or so.
func startAccountsLoop(rdb redis.UniversalClient, accts []string, per int) *producerLoop {
	ps := map[string]*producer.Producer{}
	for _, a := range accts {
		ps[a] = accountProducer(rdb, a)
	}
	return startLoop(len(accts), func(run int) (string, []string, string) {
		a := accts[run%len(accts)]
		urls := testkit.ImageURLs(fmt.Sprintf("%s-loop-%d", a, run), per)
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := ps[a].AddKeys(ctx, "", urls); err != nil {
			return a, urls, fmt.Sprintf("enqueue: %s after %.1fs: %v", a, time.Since(began).Seconds(), err)
		}
		return a, urls, ""
	})
}
