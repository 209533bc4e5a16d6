package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// redisCount counts what a client sends: commands, script calls and the keys passed to scripts.
type redisCount struct {
	mu                   sync.Mutex
	cmds, scripts, sKeys int64
}

func (c *redisCount) add(cmds []redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range cmds {
		c.cmds++
		name := strings.ToLower(cmd.Name())
		if name != "evalsha" && name != "eval" {
			continue
		}
		c.scripts++
		if args := cmd.Args(); len(args) > 2 {
			n, _ := strconv.ParseInt(fmt.Sprint(args[2]), 10, 64)
			c.sKeys += n
		}
	}
}

func (c *redisCount) take() (cmds, scripts, keys int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmds, scripts, keys = c.cmds, c.scripts, c.sKeys
	c.cmds, c.scripts, c.sKeys = 0, 0, 0
	return
}

func (c *redisCount) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *redisCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (c *redisCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.add(cmds)
		return next(ctx, cmds)
	}
}

// costLimits are the most each step may cost per URL (per lookup for lookup): commands, script
// calls, and keys passed to scripts. docs/performance.md states them ("Redis work per URL").
// URLs go 15 to a call. An admit passes the URL's hash and at most HistoryEpochs+2 epoch buckets
// per URL, plus a share of the call's fixed keys. A status check's mark passes, per call, the
// epochs' call tables and the first URL's buckets. The batch passes a few fixed keys per call of
// up to 1,000 URLs: its queued records go into one hash. A lookup reads the hash and the buckets
// with one command each, plus TIME, its call's entry and its queued record.
var costLimits = map[string][3]float64{
	"enqueue": {0.01, 0.01, 0.01},
	"batch":   {0.03, 0.02, 0.01},
	"admit":   {0.07, 0.07, 1 + store.HistoryEpochs + 2 + 0.5},
	"readmit": {0.07, 0.07, 1 + store.HistoryEpochs + 2 + 0.5},
	"send":    {0.07, 0.07, 2.41},
	"confirm": {0.07, 0.07, 2 * (store.HistoryEpochs + 2) / 15.0},
	"lookup":  {3 + store.HistoryEpochs + 2, 0, 0},
}

// costSlack is how much more a step may cost at 90 days than at one hour: two keys or commands
// per URL. At one hour an epoch is the TTL itself, so a range reaches fewer epoch buckets than the
// HistoryEpochs+2 a longer TTL may reach. The cost per hour of TTL would be 2,160 times higher.
const costSlack = 2

// TestRedisCostPerURL counts the Redis commands and script keys of each step a URL goes through
// with a go-redis hook, at a history TTL of one hour and of 90 days. The steps: enqueue, batch
// into request tasks, admit, send, confirm, one status lookup, and an admit of a request made
// almost a TTL ago (readmit). It fails when a step costs more than costLimits, or more at 90
// days than at one hour beyond costSlack: the cost of a URL must not grow with
// PURGE_HISTORY_TTL, nor with how long ago the URL was sent.
func TestRedisCostPerURL(t *testing.T) {
	const n = 1500 // 100 calls of 15
	got := map[time.Duration]map[string][3]float64{}
	for _, ttl := range []time.Duration{time.Hour, 90 * 24 * time.Hour} {
		rdb := testredis.Start(t).Client()
		ctx := context.Background()
		// The layout a worker at this TTL writes, as after it ran for longer than a TTL.
		if err := rdb.HSet(ctx, store.KeyHistoryLayout, store.FieldLayoutTTL, ttl.Milliseconds(), store.FieldLayoutMigrated, 1).Err(); err != nil {
			t.Fatal(err)
		}
		count := &redisCount{}
		rdb.AddHook(count)
		got[ttl] = measureCost(t, ctx, store.New(rdb), count, ttl, n)
	}
	short, long := got[time.Hour], got[90*24*time.Hour]
	what := [3]string{"commands", "script calls", "script keys"}
	for step, lim := range costLimits {
		for i := range lim {
			t.Logf("%-8s %-12s per URL: %.3f at 1 h, %.3f at 90 days (at most %.2f)", step, what[i], short[step][i], long[step][i], lim[i])
			if long[step][i] > short[step][i]+costSlack {
				t.Errorf("%s: %s per URL grow with the TTL: %.3f at 1 h, %.3f at 90 days", step, what[i], short[step][i], long[step][i])
			}
			if m := max(short[step][i], long[step][i]); m > lim[i] {
				t.Errorf("%s: %.3f %s per URL, at most %.2f", step, m, what[i], lim[i])
			}
		}
	}
}

// measureCost runs n URLs through every step and returns each step's cost per URL. Each script
// runs once before the count, so that the count holds EVALSHA alone (a first call loads it).
// It runs over 80 lines on purpose: its steps run in the pipeline's order, each on the state the one before left.
func measureCost(t *testing.T, ctx context.Context, s *store.Store, count *redisCount, ttl time.Duration, n int) map[string][3]float64 {
	t.Helper()
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("https://img.example.com/media/2026/11/%08d-product-photo.jpg", i)
	}
	warm := []string{"https://img.example.com/warm.jpg"}
	step := func(name string, f func() error) { // warms the scripts of f, then counts it
		t.Helper()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	out := map[string][3]float64{}
	took := func(name string, per int) {
		c, s, k := count.take()
		out[name] = [3]float64{float64(c) / float64(per), float64(s) / float64(per), float64(k) / float64(per)}
	}
	win := store.Window{Batch: 15, MaxClaim: 1500}
	// Warm every script on one URL, then drop what the warm-up counted.
	step("warm", func() error {
		if _, err := s.AddPending(ctx, "", warm); err != nil {
			return err
		}
		e, _, err := s.DueEntries(ctx, win)
		if err != nil {
			return err
		}
		if err := s.RemovePending(ctx, e, []string{"t"}, ttl); err != nil {
			return err
		}
		a, err := s.Admit(ctx, warm, 1, store.Interactive, store.Limit{})
		if err != nil {
			return err
		}
		if err := s.Sent(ctx, warm, 1, a.Now, "4fc96d31-8d3a-4b7e-9f0a-000000000000", ttl); err != nil {
			return err
		}
		if err := s.MarkState(ctx, warm, "4fc96d31-8d3a-4b7e-9f0a-000000000000", store.StateConfirmed, "", ttl); err != nil {
			return err
		}
		_, _, err = s.History(ctx, warm[0])
		return err
	})
	count.take()

	step("enqueue", func() error { _, err := s.AddPending(ctx, "", urls); return err })
	took("enqueue", n)
	var entries []store.Entry
	step("batch", func() error {
		e, _, err := s.DueEntries(ctx, win)
		if err != nil {
			return err
		}
		if len(e) != n {
			return fmt.Errorf("%d due, want %d", len(e), n)
		}
		if _, err := s.Sources(ctx, e); err != nil {
			return err
		}
		ids := make([]string, len(e))
		for i := range ids {
			ids[i] = "urls_" + strconv.Itoa(i/15)
		}
		entries = e
		return s.RemovePending(ctx, e, ids, ttl)
	})
	took("batch", n)
	calls := make([][]string, 0, n/15)
	for i := 0; i < n; i += 15 {
		part := make([]string, 0, 15)
		for _, e := range entries[i:min(i+15, n)] {
			part = append(part, e.Key)
		}
		calls = append(calls, part)
	}
	req := entries[n-1].RequestedAt
	var now int64
	step("admit", func() error {
		for _, c := range calls {
			a, err := s.Admit(ctx, c, req, store.Interactive, store.Limit{})
			if err != nil {
				return err
			}
			if a.Verdict != store.Go || len(a.Live(c)) != len(c) {
				return fmt.Errorf("admit: %+v", a)
			}
			now = a.Now
		}
		return nil
	})
	took("admit", n)
	uuid := func(i int) string { return fmt.Sprintf("4fc96d31-8d3a-4b7e-9f0a-%012d", i) }
	step("send", func() error {
		for i, c := range calls {
			if err := s.Sent(ctx, c, req, now, uuid(i), ttl); err != nil {
				return err
			}
		}
		return nil
	})
	took("send", n)
	step("confirm", func() error {
		for i, c := range calls {
			if err := s.MarkState(ctx, c, uuid(i), store.StateConfirmed, "", ttl); err != nil {
				return err
			}
		}
		return nil
	})
	took("confirm", n)
	step("lookup", func() error {
		for i, u := range urls[:150] {
			r, ok, err := s.History(ctx, u)
			if err != nil {
				return err
			}
			if !ok || r.State != store.StateConfirmed || r.UUID != uuid(i/15) {
				return fmt.Errorf("lookup %s: %+v, %v", u, r, ok)
			}
		}
		return nil
	})
	took("lookup", 150)
	old := now - ttl.Milliseconds() + 1000
	step("readmit", func() error {
		for _, c := range calls {
			a, err := s.Admit(ctx, c, old, store.Interactive, store.Limit{})
			if err != nil {
				return err
			}
			if a.Verdict != store.Satisfied {
				return fmt.Errorf("a request before the sends: %+v", a)
			}
		}
		return nil
	})
	took("readmit", n)
	return out
}
