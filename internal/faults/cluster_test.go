//go:build faults

package faults

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestFaultCluster: the whole pipeline on a Redis Cluster of three masters on loopback
// (REDIS_CLUSTER_ADDRS): dedupe while pending, coalescing into requests of 15, a 400 isolated to
// one URL and dead-lettered, listed and replayed with enqueue dlq, and the rate limit shared by
// two workers. No CROSSSLOT error anywhere: the product's keys share the {cipurge} hash tag and
// asynq's keys the {queue} tag.
// It runs over 80 lines on purpose: one scenario on real processes; each step needs the state the one before left.
func TestFaultCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb, apiURL := testkit.StartSandbox(t, apiKey)
	nodes, addrs, cc := newCluster(t, 3)
	// The three masters really hold slots each, and the product's keys and a queue's keys each map
	// to one slot.
	slotOf := func(key string) int64 { s, err := cc.ClusterKeySlot(ctx, key).Result(); must(t, err); return s }
	if a, b := slotOf(store.KeyPending), slotOf(store.HistoryKey("https://img.example.com/x.jpg")); a != b {
		t.Fatalf("product keys in slots %d and %d", a, b)
	}

	e := baseEnv(apiURL).With("REDIS_CLUSTER_ADDRS="+strings.Join(addrs, ","), "PURGE_WINDOW=500ms", "PURGE_MAX_DELAY=2s", "PURGE_RATE=0")

	// Dedupe and coalescing: 60 URLs, then the same 60 again in another form, before any worker runs.
	set := testkit.ImageURLs("cluster", 60)
	res := mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, set...)...)
	if !strings.Contains(res.stderr, "60 enqueued") {
		t.Fatalf("enqueue on the cluster: exit %d: %s", res.code, res.stderr)
	}
	again := make([]string, len(set))
	for i, u := range set {
		again[i] = "https://demo.cloudimg.io/" + strings.TrimPrefix(u, "https://") + "?w=600"
	}
	res = mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, again...)...)
	if !strings.Contains(res.stderr, "0 enqueued") || !strings.Contains(res.stderr, "60 already pending") {
		t.Fatalf("the same URLs again: exit %d, want 0 enqueued and 60 already pending: %s", res.code, res.stderr)
	}
	// A request with one URL the API refuses: isolated and dead-lettered.
	batch := testkit.ImageURLs("cluster-dlq", 15)
	bad := batch[4]
	sb.RejectURL(bad)
	mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, batch...)...)
	w1 := startWorker(t, "worker-1", e)
	good := append(append(append([]string(nil), set...), batch[:4]...), batch[5:]...)
	testkit.WaitFor(t, 60*time.Second, "every good URL invalidated", func() bool { return len(missing(sb, good)) == 0 })
	var dl []*asynq.TaskInfo
	testkit.WaitFor(t, 30*time.Second, "the bad URL dead-lettered", func() bool {
		dl = archivedAll(t, cc)
		return len(dl) == 1
	})
	calls := 0
	for _, q := range sb.Accepted() {
		for _, u := range q.URLs {
			if strings.Contains(u, "/cluster/") {
				calls++
				break
			}
		}
	}
	if want := (len(set) + 14) / 15; calls > want {
		t.Errorf("60 URLs went out in %d calls, want at most %d", calls, want)
	}
	for _, u := range set {
		if n := sb.URLCount(u); n != 1 {
			t.Errorf("%s sent %d times, want once", u, n)
		}
	}
	p, err := tasks.DecodeURLs(dl[0].Payload)
	must(t, err)
	if len(p.URLs) != 1 || p.URLs[0] != bad {
		t.Errorf("dead letter holds %v, want only %s", p.URLs, bad)
	}
	res = runEnqueue(e, "", time.Minute, "dlq", "ls")
	if res.code != 0 || !strings.Contains(res.stdout, bad) || !strings.Contains(res.stdout, "400") {
		t.Errorf("enqueue dlq ls on the cluster: exit %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	sb.ClearFaults()
	res = runEnqueue(e, "", time.Minute, "dlq", "replay", dl[0].ID)
	if res.code != 0 {
		t.Fatalf("enqueue dlq replay on the cluster: exit %d: %s%s", res.code, res.stdout, res.stderr)
	}
	testkit.WaitFor(t, 30*time.Second, "the replayed URL invalidated", func() bool { return sb.URLCount(bad) == 1 })
	if res := runEnqueue(e, "", time.Minute, "status"); res.code != 0 {
		t.Errorf("enqueue status on the cluster: exit %d: %s%s", res.code, res.stdout, res.stderr)
	}
	w1.stop(t)

	// The shared rate limit: two workers, one URL a call, 4 calls a second with a burst of 2.
	const rate, burst = 4, 2
	limited := e.With(fmt.Sprintf("PURGE_RATE=%d", rate), fmt.Sprintf("PURGE_BURST=%d", burst), "PURGE_BATCH_SIZE=1", "PURGE_WINDOW=200ms")
	rl := testkit.ImageURLs("cluster-rate", 16)
	mustEnqueue(t, limited, time.Minute, append([]string{"--no-progress"}, rl...)...)
	wa, wb := startWorker(t, "worker-rate-a", limited), startWorker(t, "worker-rate-b", limited)
	testkit.WaitFor(t, 60*time.Second, "the rate-limited URLs invalidated", func() bool { return len(missing(sb, rl)) == 0 })
	var times []time.Time
	for _, q := range sb.Accepted() {
		if len(q.URLs) == 1 && strings.Contains(q.URLs[0], "/cluster-rate/") {
			times = append(times, q.At)
		}
	}
	worst := 0
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < time.Second; j++ {
			n++
		}
		worst = max(worst, n)
	}
	if worst > rate+burst {
		t.Errorf("%d calls within one second; the shared limit allows %d", worst, rate+burst)
	}
	for _, w := range []*proc{w1, wa, wb} {
		if strings.Contains(w.logs(), "CROSSSLOT") {
			t.Errorf("%s hit a CROSSSLOT error:\n%s", w.Name, testkit.Tail(w.logs(), 20))
		}
	}
	perNode := make([]string, len(nodes))
	for i, n := range nodes {
		k, err := n.client().DBSize(ctx).Result()
		must(t, err)
		perNode[i] = strconv.FormatInt(k, 10)
	}
	report(t, "3 masters: 60 URLs enqueued, the same 60 in CDN form again -> 0 enqueued, 60 already pending; 60 URLs sent in %d calls, each once; "+
		"a 400 for 1 URL of 15 -> 14 invalidated, 1 dead-lettered, listed and replayed with enqueue dlq; "+
		"2 workers at PURGE_RATE=%d PURGE_BURST=%d: at most %d calls in any second (%d calls); keys per node at the end %s; no CROSSSLOT error",
		calls, rate, burst, worst, len(times), strings.Join(perNode, "/"))
}

// newCluster starts n redis-server nodes and makes them a cluster of n masters without replicas
// (redis-cli --cluster create); it returns them, their addresses and a cluster client, closed when
// the test ends.
func newCluster(t *testing.T, n int) ([]*redisProc, []string, *redis.ClusterClient) {
	t.Helper()
	c := startCluster(t, n, 0, "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no")
	return c.nodes, c.addrs, c.cc
}

// cluster is a Redis Cluster on loopback: its nodes, their addresses and a client of it.
type cluster struct {
	t     *testing.T
	nodes []*redisProc
	addrs []string
	cc    *redis.ClusterClient
}

// startCluster starts masters*(1+replicas) redis-server nodes with args and makes them a cluster
// (redis-cli --cluster create --cluster-replicas replicas). It returns once every node reports
// cluster_state:ok and every replica's link to its master is up. Each node is stopped by pid when
// the test ends.
func startCluster(t *testing.T, masters, replicas int, args ...string) *cluster {
	t.Helper()
	ctx := context.Background()
	c := &cluster{t: t}
	for i := range masters * (1 + replicas) {
		n := newRedis(t, fmt.Sprintf("cluster-node-%d", i+1), append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}, args...)...)
		c.nodes = append(c.nodes, n)
		c.addrs = append(c.addrs, n.addr())
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	create := exec.CommandContext(cctx, "redis-cli", append(append([]string{"--cluster", "create"}, c.addrs...),
		"--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.nodes {
		nc := n.client()
		testkit.WaitFor(t, 30*time.Second, n.name+" reporting cluster_state:ok and its link up", func() bool {
			info, err := nc.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
			repl, err := nc.Info(ctx, "replication").Result()
			return err == nil && (strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up"))
		})
	}
	c.cc = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs})
	t.Cleanup(func() { c.cc.Close() })
	return c
}

// node returns the node at addr (host:port), or nil.
func (c *cluster) node(addr string) *redisProc {
	for _, n := range c.nodes {
		if n.addr() == addr {
			return n
		}
	}
	return nil
}

// masterOf returns the node that is the master of key's slot now, as the node itself says.
func (c *cluster) masterOf(key string) *redisProc {
	c.t.Helper()
	ctx := context.Background()
	slot, err := c.cc.ClusterKeySlot(ctx, key).Result()
	must(c.t, err)
	for _, n := range c.nodes {
		shards, err := n.client().ClusterShards(ctx).Result()
		if err != nil {
			continue // a node that is down
		}
		for _, sh := range shards {
			if !holds(sh.Slots, slot) {
				continue
			}
			for _, nd := range sh.Nodes {
				if nd.Role == "master" && nd.Health == "online" {
					if m := c.node(fmt.Sprintf("%s:%d", nd.IP, nd.Port)); m != nil {
						return m
					}
				}
			}
		}
		break
	}
	c.t.Fatalf("no online master holds the slot %d of %s", slot, key)
	return nil
}

// replicaOf returns the replica of master m, as m's INFO replication says.
func (c *cluster) replicaOf(m *redisProc) *redisProc {
	c.t.Helper()
	info, err := m.client().Info(context.Background(), "replication").Result()
	must(c.t, err)
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "slave0:") {
			continue
		}
		var ip, port string
		for _, kv := range strings.Split(strings.TrimSpace(strings.TrimPrefix(line, "slave0:")), ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "ip":
				ip = v
			case "port":
				port = v
			}
		}
		if r := c.node(ip + ":" + port); r != nil {
			return r
		}
	}
	c.t.Fatalf("%s has no replica: %s", m.name, info)
	return nil
}

// keysPerNode is each master's DBSIZE, "-" for a node that is a replica or down, in node order.
func (c *cluster) keysPerNode() string {
	ctx := context.Background()
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = "-"
		nc := n.client()
		if repl, err := nc.Info(ctx, "replication").Result(); err != nil || !strings.Contains(repl, "role:master") {
			continue
		}
		if k, err := nc.DBSize(ctx).Result(); err == nil {
			out[i] = n.name + "=" + strconv.FormatInt(k, 10)
		}
	}
	return strings.Join(out, " ")
}

// pickAccounts returns n account names whose keys (store.AccountPrefix) hash to slots of n
// different masters, in the order of the masters' first names found.
func (c *cluster) pickAccounts(n int) []string {
	c.t.Helper()
	var names []string
	seen := map[string]bool{}
	for i := 0; len(names) < n && i < 1000; i++ {
		name := "shop-" + strconv.Itoa(i)
		m := c.masterOf(store.AccountPrefix(name) + "pending")
		if !seen[m.name] {
			seen[m.name] = true
			names = append(names, name)
		}
	}
	if len(names) < n {
		c.t.Fatalf("found accounts on %d masters only: %v", len(names), names)
	}
	return names
}

// holds reports whether the slot ranges hold slot.
func holds(ranges []redis.SlotRange, slot int64) bool {
	for _, r := range ranges {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}

// TestFaultClusterEvictionGuard: on a Cluster every master's maxmemory-policy counts. One master
// refuses CONFIG GET (an ACL denies it) while another has allkeys-lru: enqueue is refused (exit 2,
// naming allkeys-lru), the worker is not ready, nothing is acknowledged. Once that master has
// noeviction, enqueue goes through and says once that it cannot read the first master's policy.
func TestFaultClusterEvictionGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, apiURL := testkit.StartSandbox(t, apiKey)
	nodes, addrs, cc := newCluster(t, 3)
	must(t, nodes[0].client().Do(ctx, "ACL", "SETUSER", "default", "-config").Err())
	must(t, nodes[1].client().ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())
	e := baseEnv(apiURL).With("REDIS_CLUSTER_ADDRS=" + strings.Join(addrs, ","))
	in := testkit.ImageURLs("cluster-guard", 30)
	refused := runEnqueue(e, "", time.Minute, append([]string{"--no-progress"}, in...)...)
	if refused.code != 2 || !strings.Contains(refused.stderr, "allkeys-lru") || !strings.Contains(refused.stderr, "CONFIG SET maxmemory-policy noeviction") {
		t.Errorf("enqueue with one master refusing CONFIG GET and one allkeys-lru: exit %d, want 2 naming allkeys-lru: %s", refused.code, refused.stderr)
	}
	w := startWorker(t, "worker", e)
	code, body := testkit.Get(t, "http://"+w.httpAddr(t)+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "allkeys-lru") {
		t.Errorf("/readyz with one master allkeys-lru: %d %s", code, body)
	}
	w.stop(t)
	pending, _, err := store.New(cc).PendingCount(ctx)
	must(t, err)
	if pending != 0 {
		t.Errorf("%d URLs acknowledged into a cluster with an allkeys-lru master", pending)
	}

	must(t, nodes[1].client().ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	ok := runEnqueue(e, "", time.Minute, append([]string{"--no-progress"}, in...)...)
	if ok.code != 0 || !strings.Contains(ok.stderr, "30 enqueued") {
		t.Errorf("enqueue once no master has allkeys-*: exit %d: %s", ok.code, ok.stderr)
	}
	if n := strings.Count(ok.stderr, "note: cannot read Redis's maxmemory-policy"); n != 1 || !strings.Contains(ok.stderr, "NOPERM") {
		t.Errorf("enqueue said %d times that it cannot read the policy of the master that refuses CONFIG GET, want once naming NOPERM: %s", n, ok.stderr)
	}
	report(t, "3 masters, one refusing CONFIG GET (NOPERM), one allkeys-lru: enqueue exit %d, /readyz %d, %d URLs acknowledged; "+
		"after CONFIG SET maxmemory-policy noeviction on that master: enqueue exit %d, the refusal said once", refused.code, code, pending, ok.code)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
