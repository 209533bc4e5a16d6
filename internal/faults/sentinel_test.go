//go:build faults

package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/testkit"
)

// TestFaultSentinel: a master, a replica and three sentinels (quorum 2) on loopback. The worker
// and enqueue connect through REDIS_SENTINEL_ADDRS/REDIS_SENTINEL_MASTER; the master is killed
// with SIGKILL mid-drain; the sentinels promote the replica, the workers follow the failover by
// themselves and finish, and enqueue reaches the new master.
// It runs over 80 lines on purpose: one scenario on real processes; each step needs the state the one before left.
func TestFaultSentinel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const masterName = "mymaster"
	sb, apiURL := testkit.StartSandbox(t, apiKey)
	sb.SetLatency(20 * time.Millisecond)
	master := newRedis(t, "master", "--save", "", "--appendonly", "no")
	replica := newRedis(t, "replica", "--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	testkit.WaitFor(t, 20*time.Second, "the replica in sync", func() bool {
		info, err := replica.client().Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	var sentinels []*redisProc
	var addrs []string
	for i := range 3 {
		conf := filepath.Join(t.TempDir(), "sentinel.conf")
		body := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\nsentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 5000\nsentinel parallel-syncs %[1]s 1\n", masterName, master.port)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s := newRedis(t, fmt.Sprintf("sentinel-%d", i+1), conf, "--sentinel")
		sentinels = append(sentinels, s)
		addrs = append(addrs, s.addr())
	}
	// Each sentinel must know the replica and the two other sentinels before a failover can happen.
	for _, s := range sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.addr()})
		t.Cleanup(func() { sc.Close() })
		testkit.WaitFor(t, 30*time.Second, s.name+" knowing the replica and the other sentinels", func() bool {
			reps, err1 := sc.Replicas(ctx, masterName).Result()
			others, err2 := sc.Sentinels(ctx, masterName).Result()
			return err1 == nil && err2 == nil && len(reps) == 1 && len(others) == 2
		})
	}
	masterAddr := func() string {
		sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0].addr()})
		defer sc.Close()
		a, err := sc.GetMasterAddrByName(ctx, masterName).Result()
		if err != nil || len(a) != 2 {
			return ""
		}
		return a[0] + ":" + a[1]
	}

	e := baseEnv(apiURL).With("REDIS_SENTINEL_ADDRS="+strings.Join(addrs, ","), "REDIS_SENTINEL_MASTER="+masterName,
		"PURGE_RATE=20", "PURGE_BURST=5")
	in := testkit.ImageURLs("sentinel", 3000) // 200 requests: 10 s at 20 a second
	if res := mustEnqueue(t, e, time.Minute, "--no-progress", "-f", writeLines(t, in)); !strings.Contains(res.stderr, "3,000 enqueued") {
		t.Fatalf("enqueue through Sentinel: exit %d: %s", res.code, res.stderr)
	}
	workers := []*proc{startWorker(t, "worker-a", e), startWorker(t, "worker-b", e)}
	testkit.WaitFor(t, 60*time.Second, "a third of the requests accepted", func() bool { return sb.Stats().Accepted >= 200/3 })

	acceptedAtKill := sb.Stats().Accepted
	killedAt := time.Now()
	master.kill()
	testkit.WaitFor(t, 60*time.Second, "the sentinels promoting the replica", func() bool { return masterAddr() == replica.addr() })
	failover := time.Since(killedAt)

	// Producers reach the new master through the sentinels too.
	after := testkit.ImageURLs("sentinel-after", 300)
	res := mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, after...)...)
	if !strings.Contains(res.stderr, "300 enqueued") {
		t.Fatalf("enqueue after the failover: exit %d: %s", res.code, res.stderr)
	}
	all := append(append([]string(nil), in...), after...)
	testkit.WaitFor(t, 200*time.Second, "every URL invalidated after the failover", func() bool { return len(missing(sb, all)) == 0 })
	finished := time.Since(killedAt)
	for _, w := range workers {
		if w.Exited() {
			t.Errorf("%s exited instead of following the failover:\n%s", w.Name, testkit.Tail(w.logs(), 20))
		}
	}
	if dl := archivedAll(t, replica.client()); len(dl) != 0 {
		t.Errorf("%d tasks dead-lettered: %s", len(dl), dl[0].LastErr)
	}
	twice, extra := sentTwice(sb, all)
	report(t, "3,000 URLs through Sentinel, 2 workers; master killed after %d of 200 calls; the sentinels promoted the replica %.1fs after the kill; "+
		"300 more URLs enqueued through the new master; all 3,300 invalidated %.0fs after the kill; %d URLs sent twice (%d extra sends); both workers followed without a restart",
		acceptedAtKill, failover.Seconds(), finished.Seconds(), twice, extra)
}
