package httpserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
)

// TestMetricsRedisWritableAndPolicy: /metrics says what the worker already knows about Redis,
// without asking it per scrape: cipurge_redis_writable follows the worker's own writes (0 while
// Redis is out of memory under noeviction, 1 again once it has room), and
// cipurge_redis_maxmemory_policy_evicts names the policy the worker's guard last read (2 for
// allkeys-*, 1 for volatile-*, 0 for noeviction), one series at a time.
//
// Each change runs on a worker of its own, in parallel: the guard reads the policy every 10 s at
// most and the writable state is probed every 5 s, so one worker going through every change took
// 40 s.
func TestMetricsRedisWritableAndPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// run starts a worker whose Redis has policy, waits until /metrics says so, then changes it.
	evicts := map[string]float64{"noeviction": 0, "volatile-lru": 1, "allkeys-lru": 2}
	run := func(name, policy string, change func(t *testing.T, h *harness, wait func(name, labels string, want float64), series func() int)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			must(t, h.RDB.ConfigSet(ctx, "maxmemory-policy", policy).Err())
			w := h.startWorker()
			wait := func(name, labels string, want float64) {
				t.Helper()
				testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("%s{%s} %g in /metrics", name, labels, want), func() bool {
					v, ok := metricValue(get(t, w.base+"/metrics").body, name, labels)
					return ok && v == want
				})
			}
			series := func() int {
				return strings.Count(get(t, w.base+"/metrics").body, "\ncipurge_redis_maxmemory_policy_evicts{")
			}
			wait("cipurge_redis_writable", "", 1)
			wait("cipurge_redis_maxmemory_policy_evicts", `policy="`+policy+`"`, evicts[policy])
			change(t, h, wait, series)
		})
	}
	// A changed policy shows as the one series that names it.
	for _, c := range []struct{ from, to string }{{"noeviction", "volatile-lru"}, {"noeviction", "allkeys-lru"}, {"allkeys-lru", "noeviction"}} {
		run(c.from+" to "+c.to, c.from, func(t *testing.T, h *harness, wait func(string, string, float64), series func() int) {
			must(t, h.RDB.ConfigSet(ctx, "maxmemory-policy", c.to).Err())
			wait("cipurge_redis_maxmemory_policy_evicts", `policy="`+c.to+`"`, evicts[c.to])
			if n := series(); n != 1 {
				t.Errorf("%d series of cipurge_redis_maxmemory_policy_evicts with %s, want 1", n, c.to)
			}
		})
	}
	// Out of memory under noeviction: Redis answers PING and reads, refuses writes.
	run("out of memory", "noeviction", func(t *testing.T, h *harness, wait func(string, string, float64), _ func() int) {
		must(t, h.RDB.ConfigSet(ctx, "maxmemory", "1").Err())
		wait("cipurge_redis_writable", "", 0)
		must(t, h.RDB.ConfigSet(ctx, "maxmemory", "0").Err())
		wait("cipurge_redis_writable", "", 1)
	})
}
