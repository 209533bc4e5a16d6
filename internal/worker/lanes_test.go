package worker

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
)

// lane is one account's worker and the sandbox that stands in for its Cloudimage token.
type lane struct {
	name string
	w    *Worker
	sb   *sandbox.Server
	p    *producer.Producer
}

// startLane starts account's sandbox (with faults; key, when set, is the only key it takes) and
// its worker, which sends with apiKey.
func startLane(t *testing.T, rdb *testredis.Server, account, faults, key, apiKey string, cfg Config) *lane {
	t.Helper()
	f, err := sandbox.ParseFaults(faults)
	if err != nil {
		t.Fatal(err)
	}
	sb, base, stop, err := sandbox.Start(sandbox.Options{Key: key, Latency: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	sb.ApplyFaults(f)
	api, err := apiclient.New(apiKey, apiclient.WithBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Account = account
	w := mustNew(t, cfg, rdb.Client(), api, zaptest.NewLogger(t).Named(account), nil)
	p := producer.New(rdb.Client(), producer.Settings{BatchSize: cfg.BatchSize, Account: account})
	return &lane{name: account, w: w, sb: sb, p: p}
}

// TestLanesIsolateAccounts (issue 23, part 3): three accounts send from one Redis, each through
// its own lane. shop-a is rate limited (429s) and has a bulk backlog; shop-b's key is rejected
// (401) and has a bulk backlog too; shop-c is healthy. Every interactive URL of shop-c is sent,
// within the window plus 2 s of its enqueue; shop-a's pause and shop-b's stop never reach shop-c.
//
// The bound is checked on data, not on a timer: each URL's latency is the sandbox's receive time
// (Request.At) minus the time just before the URL was added, both on this process's clock.
// It is not flaky on a loaded machine for three reasons. The bound (window + 2 s) is five times
// what the design needs (window + 0.4 s). shop-c's lane has its own slots and limiter, so the
// backlog cannot queue ahead of it. And shop-a's and shop-b's load on Redis is bounded by their
// pause and stop. A URL over the bound is a failure with its figure, to read, not to retry.
func TestLanesIsolateAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three lanes for about 10 s")
	}
	srv := testredis.Start(t)
	const window = time.Second
	cfg := Config{Window: window, MaxDelay: window, BatchSize: 15, Concurrency: 4, Limit: store.Limit{Rate: 20, Burst: 5},
		AuthProbe: time.Second, BackoffBase: time.Second, BackoffMax: 2 * time.Second}
	a := startLane(t, srv, "shop-a", "429=30s retry-after=2 after=500ms", "", "key-a", cfg)
	b := startLane(t, srv, "shop-b", "", "the-right-key", "a-revoked-key", cfg)
	c := startLane(t, srv, "shop-c", "", "", "key-c", cfg)
	ctx := context.Background()
	for _, l := range []*lane{a, b} {
		now, err := l.p.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.p.EnqueueBulk(ctx, "backlog", "", now, testkit.ImageURLs(l.name+"-bulk", 20000)); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := runWith(t, nil, a.w, b.w, c.w)
	defer stop()
	testkit.WaitFor(t, 30*time.Second, "shop-a rate limited and shop-b stopped", func() bool {
		_, left, _ := a.w.store.PauseState(runCtx)
		return left > 0 && b.w.SendingStopped()
	})
	enqueued := map[string]time.Time{}
	for round := range 8 {
		urls := testkit.ImageURLs(fmt.Sprintf("shop-c-%d", round), 5)
		at := time.Now()
		if _, err := c.p.AddKeys(ctx, "", urls); err != nil {
			t.Fatal(err)
		}
		for _, u := range urls {
			enqueued[u] = at
		}
		time.Sleep(400 * time.Millisecond)
	}
	testkit.WaitFor(t, 30*time.Second, "every interactive URL of shop-c sent", func() bool { return len(firstSends(c.sb)) >= len(enqueued) })
	checkLatency(t, enqueued, firstSends(c.sb), window+2*time.Second)
	checkIsolated(t, runCtx, a, b, c)
}

// firstSends returns when the sandbox first accepted each URL.
func firstSends(sb *sandbox.Server) map[string]time.Time {
	out := map[string]time.Time{}
	for _, r := range sb.Accepted() {
		for _, u := range r.URLs {
			if at, ok := out[u]; !ok || r.At.Before(at) {
				out[u] = r.At
			}
		}
	}
	return out
}

// checkLatency fails for each URL sent later than bound after its enqueue, and logs the spread.
func checkLatency(t *testing.T, enqueued, sent map[string]time.Time, bound time.Duration) {
	t.Helper()
	var lat []time.Duration
	for u, at := range enqueued {
		s, ok := sent[u]
		if !ok {
			t.Errorf("%s was never sent", u)
			continue
		}
		d := s.Sub(at)
		lat = append(lat, d)
		if d > bound {
			t.Errorf("%s sent %s after its enqueue, over the bound %s", u, d, bound)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		t.Logf("shop-c interactive latency, %d URLs: min %s, median %s, max %s (bound %s)", len(lat), lat[0], lat[len(lat)/2], lat[len(lat)-1], bound)
	}
}

// checkIsolated: the faults of shop-a and shop-b hit them and them only.
func checkIsolated(t *testing.T, ctx context.Context, a, b, c *lane) {
	t.Helper()
	codes := func(sb *sandbox.Server) map[int]int {
		m := map[int]int{}
		for _, r := range sb.Requests() {
			m[r.Code]++
		}
		return m
	}
	if n := codes(a.sb)[http.StatusTooManyRequests]; n == 0 {
		t.Error("shop-a's sandbox answered no 429: the test did not rate-limit it")
	}
	if n := codes(b.sb)[http.StatusUnauthorized]; n == 0 || len(b.sb.Accepted()) != 0 {
		t.Errorf("shop-b: %d 401s and %d accepted; want 401s only", n, len(b.sb.Accepted()))
	}
	for code, n := range codes(c.sb) {
		if code >= 300 {
			t.Errorf("shop-c's sandbox answered %d %d times: another account's fault reached it", code, n)
		}
	}
	if reason, left, err := c.w.store.PauseState(ctx); err != nil || left > 0 {
		t.Errorf("shop-c is paused (%q, %s, %v): shop-a's pause reached it", reason, left, err)
	}
	if c.w.SendingStopped() || a.w.SendingStopped() {
		t.Error("shop-b's rejected key stopped another lane")
	}
	if r := c.w.Ready(ctx); !r.Ready || r.Paused != "" {
		t.Errorf("shop-c's readiness: %+v", r)
	}
}

// TestLanesReadiness (issue 23, part 3): one lane is ready as its worker is; with several, the
// process stays ready while one account sends and names the accounts that stopped.
func TestLanesReadiness(t *testing.T) {
	rdb := testredis.Start(t).Client()
	ctx := context.Background()
	var ws []*Worker
	for _, name := range []string{"shop-a", "shop-b", "shop-c"} {
		ws = append(ws, mustNew(t, Config{Account: name}, rdb, &slowAPI{}, zaptest.NewLogger(t), nil))
	}
	one := NewLanes(ws[0])
	if got, want := one.Ready(ctx), ws[0].Ready(ctx); got.Ready != want.Ready || got.Send != want.Send || got.StoppedAccounts != nil {
		t.Errorf("one lane: %+v, its worker: %+v", got, want)
	}
	l := NewLanes(ws...)
	if r := l.Ready(ctx); !r.Ready || r.Send != "ok" || len(r.StoppedAccounts) != 0 || l.SendingStopped() {
		t.Errorf("three sending lanes: %+v", r)
	}
	ws[1].gate.block(causeKey, "Cloudimage rejects the API key", "401")
	r := l.Ready(ctx)
	if !r.Ready || len(r.StoppedAccounts) != 1 || r.StoppedAccounts[0] != "shop-b" || !strings.HasPrefix(r.Key, "shop-b: rejected") ||
		!l.KeyRejected() || ws[0].SendingStopped() || ws[2].SendingStopped() {
		t.Errorf("shop-b's key rejected: %+v; want ready, shop-b stopped and named, the others sending", r)
	}
	ws[0].gate.block(causeKey, "Cloudimage rejects the API key", "401")
	ws[2].gate.block(causeKey, "Cloudimage rejects the API key", "401")
	if r := l.Ready(ctx); r.Ready || len(r.StoppedAccounts) != 3 || !strings.Contains(r.Reason, "every account stopped") {
		t.Errorf("every key rejected: %+v; want not ready", r)
	}
}
