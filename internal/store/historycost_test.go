package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestHistoryCommandsPerURL counts the commands Redis runs, scripts' own included (INFO
// commandstats), to record 1,500 URLs sent 15 per call (after 20,000 others) and to mark each
// call confirmed as a status check does. Recording a send was 5.5 commands per URL at 060b371
// and marking 3 (a record read and written per URL). Now a send writes its call once and each
// URL's record, and a status check marks its call once. These URLs have no per-URL hash (no
// queued request, reason or task): one with one costs a DEL more. Admitting them reads their
// buckets: 2.4 commands per URL at 68eb20c, which read each URL's per-URL hash too.
func TestHistoryCommandsPerURL(t *testing.T) {
	const n = 1500
	const mostAdmit, mostSend, mostMark = 1.6, 2.7, 0.4
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Warm: 20,000 other URLs create nearly every bucket, as any steady flow does.
	warm := footprintKeys(n + 20_000)
	urls, warm := warm[:n], warm[n:]
	for i := 0; i < len(warm); i += 15 {
		if err := s.Sent(ctx, warm[i:min(i+15, len(warm))], now-10, now, "4fc96d31-8d3a-4b7e-9f0a-2b1c3d4e5f60", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	uuid := func(i int) string { return fmt.Sprintf("4fc96d31-8d3a-4b7e-9f0a-%012d", i) }
	count := func(step func(i int) error) float64 {
		rdb.ConfigResetStat(ctx)
		for i := 0; i < n; i += 15 {
			if err := step(i); err != nil {
				t.Fatal(err)
			}
		}
		info := rdb.Info(ctx, "commandstats").Val()
		var total int64
		for _, line := range strings.Split(info, "\n") {
			name, _, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
			if !ok || !strings.HasPrefix(line, "cmdstat_") || strings.HasPrefix(name, "eval") || name == "info" || strings.HasPrefix(name, "config") {
				continue
			}
			total += commandCalls(t, ctx, rdb, name)
		}
		return float64(total) / n
	}
	admit := count(func(i int) error {
		a, err := s.Admit(ctx, urls[i:i+15], now-10, store.Interactive, store.Limit{})
		if err == nil && len(a.Live(urls[i:i+15])) != 15 {
			err = fmt.Errorf("admit dropped URLs never sent: %+v", a)
		}
		return err
	})
	send := count(func(i int) error { return s.Sent(ctx, urls[i:i+15], now-10, now, uuid(i/15), time.Hour) })
	mark := count(func(i int) error {
		return s.MarkState(ctx, urls[i:i+15], uuid(i/15), store.StateConfirmed, "", time.Hour)
	})
	t.Logf("Redis commands per URL: %.2f to admit a send (at most %.1f), %.2f to record it (at most %.1f), %.2f to mark it (at most %.1f)",
		admit, mostAdmit, send, mostSend, mark, mostMark)
	if admit > mostAdmit || send > mostSend || mark > mostMark {
		t.Errorf("%.2f commands per URL to admit a send, %.2f to record it, %.2f to mark it; at most %.1f, %.1f and %.1f", admit, send, mark, mostAdmit, mostSend, mostMark)
	}
	if r, _, _ := s.History(ctx, urls[n-1]); r.State != store.StateConfirmed || r.UUID != uuid((n-1)/15) {
		t.Fatalf("the last URL after its mark: %+v", r)
	}
}

// commandCalls returns how many times Redis ran cmd (INFO commandstats), in scripts too.
func commandCalls(t *testing.T, ctx context.Context, rdb *redis.Client, cmd string) int64 {
	t.Helper()
	info := rdb.Info(ctx, "commandstats").Val()
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			var n int64
			for _, c := range rest {
				if c < '0' || c > '9' {
					break
				}
				n = n*10 + int64(c-'0')
			}
			return n
		}
	}
	return 0
}
