package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// The benchmarks of this file run each script of the hot paths against a private redis-server
// and report, besides the wall time per operation (which includes the loopback round trip), the
// time Redis itself spent per operation (redis-µs/op, from INFO commandstats): on a busy system
// Redis is the shared, single-threaded resource, so that is the figure that bounds throughput.
//
//	go test -run '^$' -bench . -benchmem ./internal/store/

// benchStore starts a private Redis for b.
func benchStore(b *testing.B) (*store.Store, *redis.Client, context.Context) {
	b.Helper()
	c := testredis.Start(b).Client()
	return store.New(c), c, context.Background()
}

// benchKeys returns n canonical keys shaped like real ones (about 60 bytes).
func benchKeys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "https://img.example.com/" + prefix + "/2026/11/product-" + strconv.Itoa(100000+i) + "-front.jpg"
	}
	return out
}

// scriptUsec returns the total time Redis has spent in scripts and in the commands the store
// sends directly, in microseconds, from INFO commandstats. (Commands a script runs are counted
// both on their own and in the script's time: only the scripts are summed.)
func scriptUsec(b *testing.B, c *redis.Client) int64 {
	b.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var usec int64
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "cmdstat_evalsha", "cmdstat_eval", "cmdstat_time", "cmdstat_hlen", "cmdstat_hmget", "cmdstat_hincrby":
		default:
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "usec="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				usec += n
			}
		}
	}
	return usec
}

// reportRedisTime returns a function that reports the Redis time per benchmark operation since
// this call, less what the benchmark excluded with exclude.
func reportRedisTime(b *testing.B, c *redis.Client) (done func(), exclude func(func())) {
	b.Helper()
	start := scriptUsec(b, c)
	var skipped int64
	exclude = func(f func()) {
		b.StopTimer()
		u := scriptUsec(b, c)
		f()
		skipped += scriptUsec(b, c) - u
		b.StartTimer()
	}
	done = func() {
		b.StopTimer()
		b.ReportMetric(float64(scriptUsec(b, c)-start-skipped)/float64(b.N), "redis-µs/op")
	}
	return done, exclude
}

// BenchmarkAddPending adds 500 new keys per operation (one enqueue command call of 500 lines).
func BenchmarkAddPending(b *testing.B) {
	s, c, ctx := benchStore(b)
	keys := benchKeys("add", 500)
	done, _ := reportRedisTime(b, c)
	i := 0
	for b.Loop() {
		for j := range keys {
			keys[j] = "https://img.example.com/add/" + strconv.Itoa(i) + "/" + strconv.Itoa(j) + ".jpg"
		}
		if _, err := s.AddPending(ctx, "", keys); err != nil {
			b.Fatal(err)
		}
		i++
	}
	done()
	b.ReportMetric(float64(b.N*len(keys))/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkBatcherStep is one batcher step without the asynq enqueues: DueEntries of 1,500 due
// keys, Sources, and RemovePending with their task IDs.
func BenchmarkBatcherStep(b *testing.B) {
	s, c, ctx := benchStore(b)
	const n = 1500
	w := store.Window{Window: 0, MaxDelay: 0, Batch: 15, MaxClaim: n}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "urls-" + strconv.Itoa(i/15)
	}
	done, exclude := reportRedisTime(b, c)
	i := 0
	for b.Loop() {
		exclude(func() {
			if _, err := s.AddPending(ctx, "", benchKeys("step"+strconv.Itoa(i), n)); err != nil {
				b.Fatal(err)
			}
		})
		i++
		entries, _, err := s.DueEntries(ctx, w)
		if err != nil || len(entries) != n {
			b.Fatalf("%d due entries, want %d: %v", len(entries), n, err)
		}
		if _, err := s.Sources(ctx, entries); err != nil {
			b.Fatal(err)
		}
		if err := s.RemovePending(ctx, entries, ids, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// BenchmarkAdmit is the admission of one 15-URL request (no rate limit), URLs never sent.
func BenchmarkAdmit(b *testing.B) { benchAdmit(b, "admit", store.Limit{}) }

// BenchmarkAdmitLimited is the same with the shared GCRA limit (never reached).
func BenchmarkAdmitLimited(b *testing.B) {
	benchAdmit(b, "admitlim", store.Limit{Rate: 1e9, Burst: 1e6})
}

// benchAdmit admits one 15-URL request under lim per iteration; every one must go.
func benchAdmit(b *testing.B, prefix string, lim store.Limit) {
	s, c, ctx := benchStore(b)
	urls := benchKeys(prefix, 15)
	done, _ := reportRedisTime(b, c)
	for b.Loop() {
		a, err := s.Admit(ctx, urls, 1, store.Interactive, lim)
		if err != nil || a.Verdict != store.Go {
			b.Fatalf("verdict %v: %v", a, err)
		}
	}
	done()
}

// BenchmarkSent records one accepted 15-URL request: history per URL, counters.
func BenchmarkSent(b *testing.B) {
	s, c, ctx := benchStore(b)
	done, _ := reportRedisTime(b, c)
	i := 0
	for b.Loop() {
		urls := benchKeys("sent"+strconv.Itoa(i%1000), 15)
		if err := s.Sent(ctx, urls, 1, int64(2+i), "uuid", time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
	done()
}
