package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// steadyRate waits for the first accepted call, then measures the accepted calls per second over
// steady after warmup, and the most calls in any 1 s from the first call to the end. It stops ws.
func (b *bench) steadyRate(ws []*proc, warmup, steady time.Duration) (got float64, peak int, err error) {
	defer b.stopWorkers(ws)
	var first time.Time
	deadline := time.Now().Add(time.Minute)
	for first.IsZero() {
		if acc := b.sb.Accepted(); len(acc) > 0 {
			first = acc[0].At
			break
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			return 0, 0, fmt.Errorf("%w: no API call within a minute of starting %d workers", errBroken, len(ws))
		}
		time.Sleep(20 * time.Millisecond)
	}
	from := first.Add(warmup)
	to := from.Add(steady)
	for time.Now().Before(to.Add(500 * time.Millisecond)) {
		if err := b.ctx.Err(); err != nil {
			return 0, 0, err
		}
		for _, p := range ws {
			if p.Exited() {
				return 0, 0, fmt.Errorf("a worker exited: %v\n%s", p.Err(), tailFile(p.Log, 20))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.stopWorkers(ws)
	var times []time.Time
	for _, r := range b.sb.Accepted() {
		if r.At.Before(to) {
			times = append(times, r.At)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return perSecond(countIn(times, from, to), steady), maxInWindow(times, time.Second), nil
}

// paceCase is one drain against a slow API: PURGE_RATE, the API's latency, confirmations, and
// whether the backlog is a bulk re-ingest or interactive requests.
type paceCase struct {
	rate    int
	latency time.Duration
	confirm bool
	bulk    bool
}

func (c paceCase) String() string {
	mode := "interactive backlog"
	if c.bulk {
		mode = "bulk re-ingest"
	}
	conf := "confirmations off"
	if c.confirm {
		conf = "confirmations on (first check after 1 s)"
	}
	return fmt.Sprintf("PURGE_RATE=%d, API %s, %s, %s, one worker, other settings default", c.rate, c.latency, mode, conf)
}

// rowPace drains a backlog against the sandbox slowed to each case's latency, one worker with
// the default PURGE_CONCURRENCY and PURGE_BURST, and compares the calls per second achieved with
// PURGE_RATE: the latency must not set the pace.
func (b *bench) rowPace() error {
	cases := []paceCase{
		{20, 300 * time.Millisecond, false, false}, {20, 300 * time.Millisecond, true, true},
		{20, time.Second, false, false}, {20, time.Second, true, false}, {20, time.Second, false, true},
		{20, 100 * time.Millisecond, false, false}, {20, 2 * time.Second, false, false}, {100, time.Second, false, false},
		{10, 300 * time.Millisecond, true, true},
	}
	if b.o.paceFast {
		cases = slices.DeleteFunc(cases, func(c paceCase) bool { return c.rate != 100 })
	} else if b.o.smoke {
		cases = cases[:2]
	}
	defer b.sb.SetLatency(0)
	for _, c := range cases {
		if err := b.reset(); err != nil {
			return err
		}
		steady := time.Duration(b.sz.paceSeconds) * time.Second
		n := (int((b.sz.paceWarmup + steady).Seconds()) + 10) * c.rate * tasks.MaxURLsPerTask
		ds, err := writeUniques(filepath.Join(b.tmp, "pace.txt"), "pace"+strconv.Itoa(c.rate)+c.latency.String(), n, false)
		if err != nil {
			return err
		}
		b.logf("pace: %s", c)
		args := []string{"-f", ds.path}
		if c.bulk {
			args = append([]string{"--bulk"}, args...)
		}
		if _, _, err := b.enqueue(args...); err != nil {
			return err
		}
		b.sb.SetLatency(c.latency)
		env := []string{"PURGE_RATE=" + strconv.Itoa(c.rate), "PURGE_CONFIRM=" + strconv.FormatBool(c.confirm), "PURGE_CONFIRM_DELAY=1s"}
		ws, _, err := b.startWorkers(1, env...)
		if err != nil {
			return err
		}
		got, peak, err := b.steadyRate(ws, b.sz.paceWarmup, steady)
		if err != nil {
			return err
		}
		checks := b.sb.Stats().StatusRequests
		b.sb.SetLatency(0)
		product := fmt.Sprintf("%s calls/s; at most %d in any 1 s", strconv.FormatFloat(got, 'f', 2, 64), peak)
		if c.confirm {
			product += fmt.Sprintf("; %d status checks", checks)
		}
		want := 0.95
		if c.confirm {
			want = 0.9
		}
		b.add(result{row: "pace", workload: c.String() + fmt.Sprintf(", %s measured after %s", steady, b.sz.paceWarmup),
			product:  product,
			baseline: fmt.Sprintf("%d calls/s configured; rate + burst = %d", c.rate, c.rate+5),
			ratio:    ratio(got, float64(c.rate)), target: fmt.Sprintf(">= %gx, none above %d", want, c.rate+5),
			verdict: verdict(got >= want*float64(c.rate) && peak <= c.rate+5)})
	}
	return b.reset()
}

// rowTrickle enqueues one URL a second at the defaults (PURGE_RATE=10, PURGE_WINDOW=2s) and
// measures from starting `enqueue URL` to the API call: a partial batch must not wait for company
// when calls are to spare.
func (b *bench) rowTrickle() error {
	if err := b.reset(); err != nil {
		return err
	}
	n := b.sz.trickleSamples
	b.logf("trickle: %d URLs, one a second, one worker at the defaults", n)
	ws, _, err := b.startWorkers(1, "PURGE_RATE=10")
	if err != nil {
		return err
	}
	defer b.stopWorkers(ws)
	var (
		mu     sync.Mutex
		starts = map[string]time.Time{}
		wg     sync.WaitGroup
		errs   []error
	)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := range n {
		u := imageKey("trickle", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			starts[u] = time.Now()
			mu.Unlock()
			if _, _, err := b.enqueue(u); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
		<-tick.C
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	deadline := time.Now().Add(30 * time.Second)
	for b.sb.Stats().URLs < n {
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			return fmt.Errorf("%w: %d of %d trickled URLs sent 30 s after the last", errBroken, b.sb.Stats().URLs, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var lat []time.Duration
	for _, r := range b.sb.Accepted() {
		for _, u := range r.URLs {
			if s, ok := starts[u]; ok {
				lat = append(lat, r.At.Sub(s))
			}
		}
	}
	p95 := percentile(lat, 95)
	b.add(result{row: "trickle", workload: fmt.Sprintf("1 URL/s for %d s at the defaults (PURGE_RATE=10, PURGE_WINDOW=2s, PURGE_MAX_DELAY=10s), from starting `enqueue URL` to the API call", n),
		product:  latencies(lat),
		baseline: "PURGE_WINDOW 2s",
		ratio:    "", target: "p95 <= 3.5 s", verdict: verdict(p95 <= 3500*time.Millisecond)})
	return b.reset()
}

// rowHistory measures used_memory per URL queued in request tasks (formed by the batcher, not yet
// sent: the interactive queue is paused) and per URL of history after a drain.
func (b *bench) rowHistory() error {
	n := b.sz.footprintURLs
	ds, err := writeUniques(filepath.Join(b.tmp, "history.txt"), "history", n, true)
	if err != nil {
		return err
	}
	if err := b.reset(); err != nil {
		return err
	}
	// Queued: the batcher forms every request task (no rate limit, so no lookahead bound), and
	// nothing runs them while the queue is paused.
	m0, err := b.usedMemory()
	if err != nil {
		return err
	}
	if _, _, err := b.enqueue("-f", ds.path); err != nil {
		return err
	}
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	if err := insp.PauseQueue(tasks.QueueInteractive); err != nil {
		return err
	}
	ws, _, err := b.startWorkers(1, "PURGE_RATE=0")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(b.sz.drainTimeout)
	for {
		if left, _ := b.rdb.ZCard(b.ctx, store.KeysFor(tasks.DefaultAccount).Pending).Result(); left == 0 {
			break
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.stopWorkers(ws)
			return fmt.Errorf("%w: the batcher did not form every task", errBroken)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	mq, err := b.usedMemory()
	if err != nil {
		b.stopWorkers(ws)
		return err
	}
	if err := insp.UnpauseQueue(tasks.QueueInteractive); err != nil {
		b.stopWorkers(ws)
		return err
	}
	if _, _, _, err := b.drained(ds.keys, ws); err != nil {
		b.stopWorkers(ws)
		return err
	}
	b.stopWorkers(ws)
	mh, err := b.usedMemory()
	if err != nil {
		return err
	}
	freed, keys, err := b.dropHistory()
	if err != nil {
		return err
	}
	per := func(d int64) string { return strconv.FormatFloat(float64(d)/float64(n), 'f', 0, 64) + " B/URL" }
	b.logf("history: queued %s bytes; after the drain %s bytes, of which the %s history keys freed %s, for %s URLs",
		group(mq-m0), group(mh-m0), group(int64(keys)), group(freed), group(int64(n)))
	mh = m0 + freed
	b.add(result{row: "Redis footprint, queued", workload: fmt.Sprintf("used_memory per URL in request tasks formed by the batcher, not yet sent, %s URLs (with their history's queued record)", group(int64(n))),
		product: per(mq - m0), baseline: "", ratio: "", target: "report"})
	b.add(result{row: "Redis footprint, history", workload: fmt.Sprintf("used_memory per URL sent, after draining %s URLs (history kept PURGE_HISTORY_TTL): what deleting its %s history keys (store.IsHistoryKey) frees", group(int64(n)), group(int64(keys))),
		product: per(mh - m0), baseline: "", ratio: "", target: "<= 100 B/URL", verdict: verdict(mh-m0 <= int64(100*n))})
	return b.reset()
}

// rowScale enqueues and drains each size of unique URLs (interactive, one worker, no limit), so
// that the cost curve is visible.
func (b *bench) rowScale() error {
	for _, n := range b.sz.scaleURLs {
		ds, err := writeUniques(filepath.Join(b.tmp, "scale.txt"), "scale"+strconv.Itoa(n), n, true)
		if err != nil {
			return err
		}
		if err := b.reset(); err != nil {
			return err
		}
		b.logf("scale: enqueue and drain %s URLs", group(int64(n)))
		_, etook, err := b.enqueue("-f", ds.path)
		if err != nil {
			return err
		}
		if err := b.wantPending(n); err != nil {
			return err
		}
		ws, start, err := b.startWorkers(1, b.drainEnv()...)
		if err != nil {
			return err
		}
		last, calls, twice, err := b.drained(ds.keys, ws)
		var rss int64
		if err == nil {
			rss, _ = peakRSS(ws[0].Pid())
		}
		b.stopWorkers(ws)
		if err != nil {
			return err
		}
		dtook := last.Sub(start)
		b.add(result{row: "scale " + group(int64(n)), workload: fmt.Sprintf("enqueue -f, then drain, %s unique URLs, one worker, no limit (%s calls, %d URLs twice)", group(int64(n)), group(int64(calls)), twice),
			product:  fmt.Sprintf("enqueue %s (%s); drain %s (%s); worker peak RSS %.1f MiB", rate(perSecond(n, etook), "URLs/s"), secs(etook), rate(perSecond(n, dtook), "URLs/s"), secs(dtook), float64(rss)/(1<<20)),
			baseline: "", ratio: "", target: "report"})
	}
	return b.reset()
}

// dropHistory measures the history alone: it logs the MEMORY USAGE of every key family left,
// history and not, largest first, then deletes the history keys (store.IsHistoryKey) and returns
// the used_memory that freed. What else a drain leaves (asynq's queue keys, counters, the
// workers' records, scripts, dictionaries sized for the queued tasks) stays out of the figure.
func (b *bench) dropHistory() (freed int64, keys int, err error) {
	before, err := b.usedMemory()
	if err != nil {
		return 0, 0, err
	}
	fam := map[string]int64{}
	var hist []string
	iter := b.rdb.Scan(b.ctx, 0, "*", 1000).Iterator()
	for iter.Next(b.ctx) {
		k := iter.Val()
		u, _ := b.rdb.MemoryUsage(b.ctx, k).Result() // 0 if it expired since the scan
		f := k
		if i := strings.IndexByte(k[min(len(k), len(store.Prefix)):], ':'); i > 0 {
			f = k[:len(store.Prefix)+i+1] + "*"
		}
		if store.IsHistoryKey(k) {
			f = "history " + f
			hist = append(hist, k)
		}
		fam[f] += u
	}
	if err := iter.Err(); err != nil {
		return 0, 0, err
	}
	names := make([]string, 0, len(fam))
	for f := range fam {
		names = append(names, f)
	}
	sort.Slice(names, func(i, j int) bool { return fam[names[i]] > fam[names[j]] })
	for i, f := range names {
		if i == 8 {
			break
		}
		b.logf("history: MEMORY USAGE of %s: %s bytes", f, group(fam[f]))
	}
	for len(hist) > 0 { // DEL, not UNLINK: the memory is freed before it is read
		k := hist[:min(len(hist), 1000)]
		if err := b.rdb.Del(b.ctx, k...).Err(); err != nil {
			return 0, 0, err
		}
		hist, keys = hist[len(k):], keys+len(k)
	}
	after, err := b.usedMemory()
	return before - after, keys, err
}
