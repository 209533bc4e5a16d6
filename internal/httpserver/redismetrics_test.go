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
func TestMetricsRedisWritableAndPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	must(t, h.RDB.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	w := h.startWorker()
	wait := func(bound time.Duration, name, labels string, want float64) {
		t.Helper()
		testkit.WaitFor(t, bound, fmt.Sprintf("%s{%s} %g in /metrics", name, labels, want), func() bool {
			v, ok := metricValue(get(t, w.base+"/metrics").body, name, labels)
			return ok && v == want
		})
	}
	wait(30*time.Second, "cipurge_redis_writable", "", 1)

	// The guard reads the policy every 10 s at most, so each change shows within a bounded wait.
	for _, c := range []struct {
		policy string
		evicts float64
	}{{"noeviction", 0}, {"volatile-lru", 1}, {"allkeys-lru", 2}, {"noeviction", 0}} {
		must(t, h.RDB.ConfigSet(ctx, "maxmemory-policy", c.policy).Err())
		wait(60*time.Second, "cipurge_redis_maxmemory_policy_evicts", `policy="`+c.policy+`"`, c.evicts)
		if n := strings.Count(get(t, w.base+"/metrics").body, "\ncipurge_redis_maxmemory_policy_evicts{"); n != 1 {
			t.Errorf("%d series of cipurge_redis_maxmemory_policy_evicts with %s, want 1", n, c.policy)
		}
	}

	// Out of memory under noeviction: Redis answers PING and reads, refuses writes.
	must(t, h.RDB.ConfigSet(ctx, "maxmemory", "1").Err())
	wait(60*time.Second, "cipurge_redis_writable", "", 0)
	must(t, h.RDB.ConfigSet(ctx, "maxmemory", "0").Err())
	wait(60*time.Second, "cipurge_redis_writable", "", 1)
}
