package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// enqueueRow times `enqueue [extra] -f FILE` against the plain asynq loop over the same file.
func (b *bench) enqueueRow(name, workload, target string, want float64, ds *dataSet, check func(*cliSummary) error, extra ...string) error {
	if err := b.reset(); err != nil {
		return err
	}
	b.logf("%s: enqueue %s-f over %s lines", name, flagText(extra), group(int64(ds.lines)))
	s, took, err := b.enqueue(append(extra, "-f", ds.path)...)
	if err != nil {
		return err
	}
	if s.Lines != int64(ds.lines) || s.Rejected != 0 {
		return fmt.Errorf("%w: enqueue read %d lines (want %d), rejected %d", errBroken, s.Lines, ds.lines, s.Rejected)
	}
	if err := check(s); err != nil {
		return err
	}
	if err := b.reset(); err != nil {
		return err
	}
	b.logf("%s: baseline loop over the same file", name)
	base, n, err := enqueueLoop(b.ctx, b.rdb, ds.path)
	if err != nil {
		return err
	}
	if n != ds.lines {
		return fmt.Errorf("baseline enqueued %d of %d lines", n, ds.lines)
	}
	p, q := perSecond(ds.lines, took), perSecond(ds.lines, base)
	b.add(result{row: name, workload: workload,
		product:  rate(p, "lines/s") + " (" + secs(took) + ")",
		baseline: rate(q, "lines/s") + " (" + secs(base) + ")",
		ratio:    ratio(p, q), target: target, verdict: verdict(p >= want*q)})
	return b.reset()
}

func flagText(extra []string) string {
	if len(extra) == 0 {
		return ""
	}
	return strings.Join(extra, " ") + " "
}

func (b *bench) rowEnqueue() error {
	ds, err := writeDuplicates(filepath.Join(b.tmp, "dups.txt"), "dups", b.sz.enqueueLines)
	if err != nil {
		return err
	}
	return b.enqueueRow("enqueue",
		fmt.Sprintf("`enqueue -f` of %s lines, %s distinct images (2/3 duplicates or equivalent forms)", group(int64(ds.lines)), group(int64(ds.uniques))),
		">= 1.0x", 1.0, ds, func(s *cliSummary) error {
			if s.Enqueued != int64(ds.uniques) || s.Duplicates != int64(ds.lines-ds.uniques) {
				return fmt.Errorf("%w: %d enqueued and %d duplicates, want %d and %d", errBroken, s.Enqueued, s.Duplicates, ds.uniques, ds.lines-ds.uniques)
			}
			return b.wantPending(ds.uniques)
		})
}

func (b *bench) rowUnique() error {
	ds, err := writeUniques(filepath.Join(b.tmp, "unique.txt"), "unique", b.sz.uniqueLines, false)
	if err != nil {
		return err
	}
	return b.enqueueRow("enqueue, unique",
		fmt.Sprintf("`enqueue -f` of %s lines, every one a different image", group(int64(ds.lines))),
		">= 0.9x", 0.9, ds, func(s *cliSummary) error {
			if s.Enqueued != int64(ds.uniques) {
				return fmt.Errorf("%w: %d enqueued, want %d", errBroken, s.Enqueued, ds.uniques)
			}
			return b.wantPending(ds.uniques)
		})
}

func (b *bench) rowBulk() error {
	ds, err := writeUniques(filepath.Join(b.tmp, "bulk.txt"), "bulk", b.sz.bulkLines, false)
	if err != nil {
		return err
	}
	return b.enqueueRow("bulk enqueue",
		fmt.Sprintf("`enqueue --bulk -f` of %s lines, every one a different image", group(int64(ds.lines))),
		">= 10x", 10, ds, func(s *cliSummary) error {
			if s.Enqueued != int64(ds.uniques) {
				return fmt.Errorf("%w: %d enqueued, want %d", errBroken, s.Enqueued, ds.uniques)
			}
			return b.wantBulk(ds.uniques)
		}, "--bulk")
}

// wantPending checks that n URL requests wait in the pending set.
func (b *bench) wantPending(n int) error {
	got, err := b.rdb.ZCard(b.ctx, store.KeysFor(tasks.DefaultAccount).Pending).Result()
	if err != nil {
		return err
	}
	if got != int64(n) {
		return fmt.Errorf("%w: %d URL requests pending, want %d", errBroken, got, n)
	}
	return nil
}

// wantBulk checks that the bulk queue holds tasks for n URLs (at most tasks.BulkRequests
// requests of 15 URLs a task).
func (b *bench) wantBulk(n int) error {
	qi, err := asynq.NewInspectorFromRedisClient(b.rdb).GetQueueInfo(tasks.QueueBulk)
	if err != nil {
		return fmt.Errorf("%w: bulk queue: %v", errBroken, err)
	}
	per := tasks.MaxURLsPerTask * tasks.BulkRequests
	if least := (n + per - 1) / per; qi.Pending < least {
		return fmt.Errorf("%w: %d bulk tasks pending, want at least %d for %d URLs", errBroken, qi.Pending, least, n)
	}
	return nil
}

// drainEnv is the worker's environment in the drain rows.
func (b *bench) drainEnv() []string {
	return []string{"PURGE_RATE=0", "PURGE_CONCURRENCY=" + strconv.Itoa(b.o.concurrency), "PURGE_WINDOW=" + drainWindow.String()}
}

func (b *bench) rowDrain() error {
	n := b.sz.drainURLs
	ds, err := writeUniques(filepath.Join(b.tmp, "drain.txt"), "drain", n, true)
	if err != nil {
		return err
	}
	if err := b.reset(); err != nil {
		return err
	}
	b.logf("drain: enqueue %s URLs with no worker running", group(int64(n)))
	if s, _, err := b.enqueue("-f", ds.path); err != nil {
		return err
	} else if s.Enqueued != int64(n) {
		return fmt.Errorf("%w: %d enqueued, want %d", errBroken, s.Enqueued, n)
	}
	// The backlog has waited its coalescing window before the worker starts (the baseline's has
	// waited its grace period): the row measures the drain, not the window.
	time.Sleep(drainWindow + 100*time.Millisecond)
	b.logf("drain: one worker, PURGE_CONCURRENCY=%d, PURGE_RATE=0", b.o.concurrency)
	redisCPU := cpuTime(b.redisPid)
	ws, start, err := b.startWorkers(1, b.drainEnv()...)
	if err != nil {
		return err
	}
	last, calls, twice, err := b.drained(ds.keys, ws)
	if err != nil {
		b.stopWorkers(ws)
		return err
	}
	b.logf("  drain: %s wall, %s CPU in the worker, %s in redis-server", secs(last.Sub(start)),
		secs(cpuTime(ws[0].Pid())), secs(cpuTime(b.redisPid)-redisCPU))
	rss, rerr := peakRSS(ws[0].Pid())
	b.stopWorkers(ws)
	if rerr != nil {
		return rerr
	}
	took := last.Sub(start)
	p := perSecond(n, took)

	q, base, err := b.aggregationBaseline(ds)
	if err != nil {
		return err
	}
	b.add(result{row: "drain", workload: fmt.Sprintf("%s unique URLs, interactive path, one worker (PURGE_CONCURRENCY=%d), sandbox without latency or limit", group(int64(n)), b.o.concurrency),
		product:  rate(p, "URLs/s") + " (" + secs(took) + ")",
		baseline: rate(q, "URLs/s") + " (" + secs(base) + ", aggregation, GroupMaxSize " + strconv.Itoa(aggMaxSize) + ", grace 1 s)",
		ratio:    ratio(p, q), target: ">= 0.9x", verdict: verdict(p >= 0.9*q)})
	ideal := (n + 14) / 15
	b.add(result{row: "coalescing", workload: "the drain above",
		product:  fmt.Sprintf("%s API calls, %d URLs sent twice", group(int64(calls)), twice),
		baseline: fmt.Sprintf("ideal %s calls", group(int64(ideal))),
		ratio:    ratio(float64(calls), float64(ideal)), target: "<= 1.02x, none twice",
		verdict: verdict(float64(calls) <= 1.02*float64(ideal) && twice == 0)})
	b.add(result{row: "memory", workload: "worker peak RSS (VmHWM) during the drain", product: mib(rss),
		baseline: "", ratio: "", target: "<= 150 MiB", verdict: verdict(rss <= memoryTarget)})
	return b.reset()
}

// aggregationBaseline enqueues one grouped asynq task per URL of ds (not timed) and times
// asynq's aggregation draining them.
func (b *bench) aggregationBaseline(ds *dataSet) (float64, time.Duration, error) {
	if err := b.reset(); err != nil {
		return 0, 0, err
	}
	b.logf("drain: baseline: enqueue %s grouped tasks", group(int64(ds.lines)))
	if _, n, err := enqueueLoop(b.ctx, b.rdb, ds.path, asynq.Group(baselineGroup)); err != nil {
		return 0, 0, err
	} else if n != ds.lines {
		return 0, 0, fmt.Errorf("baseline enqueued %d of %d", n, ds.lines)
	}
	time.Sleep(time.Second + 100*time.Millisecond) // the grace period, as the product's window above
	b.logf("drain: baseline: aggregation drain")
	took, err := aggregationDrain(b.ctx, b.rdb, ds.lines, b.o.concurrency, b.sz.drainTimeout)
	if err != nil {
		return 0, 0, err
	}
	b.aggRate = perSecond(ds.lines, took)
	return b.aggRate, took, b.reset()
}

func (b *bench) rowBulkDrain() error {
	n := b.sz.bulkDrainURLs
	ds, err := writeUniques(filepath.Join(b.tmp, "bulkdrain.txt"), "bulkdrain", n, true)
	if err != nil {
		return err
	}
	if b.aggRate == 0 {
		if _, _, err := b.aggregationBaseline(ds); err != nil {
			return err
		}
	}
	if err := b.reset(); err != nil {
		return err
	}
	b.logf("bulk drain: one worker running, then enqueue --bulk of %s URLs", group(int64(n)))
	ws, _, err := b.startWorkers(1, b.drainEnv()...)
	if err != nil {
		return err
	}
	redisCPU := cpuTime(b.redisPid)
	start := time.Now()
	s, _, err := b.enqueue("--bulk", "-f", ds.path)
	if err != nil {
		b.stopWorkers(ws)
		return err
	}
	if s.Enqueued != int64(n) {
		b.stopWorkers(ws)
		return fmt.Errorf("%w: %d enqueued, want %d", errBroken, s.Enqueued, n)
	}
	last, calls, twice, err := b.drained(ds.keys, ws)
	if err == nil {
		b.logf("  bulk drain: %s wall, %s CPU in the worker, %s in redis-server", secs(last.Sub(start)),
			secs(cpuTime(ws[0].Pid())), secs(cpuTime(b.redisPid)-redisCPU))
	}
	b.stopWorkers(ws)
	if err != nil {
		return err
	}
	took := last.Sub(start)
	p := perSecond(n, took)
	b.add(result{row: "bulk drain", workload: fmt.Sprintf("`enqueue --bulk` plus drain of %s unique URLs (%s calls, %d URLs twice), one worker", group(int64(n)), group(int64(calls)), twice),
		product:  rate(p, "URLs/s") + " (" + secs(took) + ")",
		baseline: rate(b.aggRate, "URLs/s") + " (the aggregation drain)",
		ratio:    ratio(p, b.aggRate), target: ">= 3x", verdict: verdict(p >= 3*b.aggRate)})
	return b.reset()
}

func (b *bench) rowRate() error {
	if err := b.reset(); err != nil {
		return err
	}
	steady := time.Duration(b.sz.rateSeconds) * time.Second
	calls := int((b.sz.rateWarmup+steady).Seconds()+10) * rateLimit
	ds, err := writeUniques(filepath.Join(b.tmp, "rate.txt"), "rate", calls*15, false)
	if err != nil {
		return err
	}
	b.logf("rate: %s URLs of backlog, %d workers with PURGE_RATE=%d PURGE_BURST=%d, %s measured after %s",
		group(int64(ds.lines)), rateWorkers, rateLimit, rateBurst, steady, b.sz.rateWarmup)
	if _, _, err := b.enqueue("-f", ds.path); err != nil {
		return err
	}
	ws, _, err := b.startWorkers(rateWorkers, "PURGE_RATE="+strconv.Itoa(rateLimit), "PURGE_BURST="+strconv.Itoa(rateBurst))
	if err != nil {
		return err
	}
	defer b.stopWorkers(ws)
	got, peak, err := b.steadyRate(ws, b.sz.rateWarmup, steady)
	if err != nil {
		return err
	}
	b.add(result{row: "rate precision", workload: fmt.Sprintf("PURGE_RATE=%d PURGE_BURST=%d, %d worker processes, %s of backlog (first %s not counted)", rateLimit, rateBurst, rateWorkers, steady, b.sz.rateWarmup),
		product:  fmt.Sprintf("%s calls/s; at most %d calls in any 1 s", strconv.FormatFloat(got, 'f', 2, 64), peak),
		baseline: fmt.Sprintf("%d calls/s configured; rate + burst = %d", rateLimit, rateLimit+rateBurst),
		ratio:    ratio(got, rateLimit), target: fmt.Sprintf(">= 0.95x, none above %d", rateLimit+rateBurst),
		verdict: verdict(got >= 0.95*rateLimit && peak <= rateLimit+rateBurst)})
	return b.reset()
}

func (b *bench) rowLatency() error {
	if err := b.reset(); err != nil {
		return err
	}
	b.logf("latency: %d samples, one URL at a time, idle worker, PURGE_WINDOW=%s", b.sz.latencySamples, latencyWindow)
	ws, _, err := b.startWorkers(1, "PURGE_WINDOW="+latencyWindow.String())
	if err != nil {
		return err
	}
	defer b.stopWorkers(ws)
	var lat []time.Duration
	for i := range b.sz.latencySamples {
		u := imageKey("latency", i)
		start := time.Now()
		if _, _, err := b.enqueue(u); err != nil {
			return err
		}
		var at time.Time
		deadline := time.Now().Add(30 * time.Second)
		for at.IsZero() {
			if b.sb.URLCount(u) > 0 {
				for _, r := range b.sb.Accepted() {
					if slices.Contains(r.URLs, u) {
						at = r.At
					}
				}
				break
			}
			if time.Now().After(deadline) || b.ctx.Err() != nil {
				return fmt.Errorf("%w: %s was not sent within 30s of its enqueue", errBroken, u)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, at.Sub(start))
	}
	p95 := percentile(lat, 95)
	b.add(result{row: "latency", workload: fmt.Sprintf("one URL at a time on an idle worker, %d samples, from starting `enqueue URL` to the API call", len(lat)),
		product:  latencies(lat),
		baseline: "PURGE_WINDOW " + latencyWindow.String(),
		ratio:    "", target: "p95 <= window + 2 s", verdict: verdict(p95 <= latencyWindow+2*time.Second)})
	return b.reset()
}

func (b *bench) rowFootprint() error {
	n := b.sz.footprintURLs
	ds, err := writeUniques(filepath.Join(b.tmp, "footprint.txt"), "footprint", n, false)
	if err != nil {
		return err
	}
	measure := func(what string, fill func() error) (float64, error) {
		if err := b.reset(); err != nil {
			return 0, err
		}
		m0, err := b.usedMemory()
		if err != nil {
			return 0, err
		}
		if err := fill(); err != nil {
			return 0, err
		}
		m1, err := b.usedMemory()
		if err != nil {
			return 0, err
		}
		b.logf("footprint: %s: %s bytes for %s URLs", what, group(m1-m0), group(int64(n)))
		return float64(m1-m0) / float64(n), nil
	}
	base, err := measure("asynq, a task per URL", func() error {
		_, _, err := enqueueLoop(b.ctx, b.rdb, ds.path)
		return err
	})
	if err != nil {
		return err
	}
	grouped, err := measure("asynq, a grouped task per URL", func() error {
		_, _, err := enqueueLoop(b.ctx, b.rdb, ds.path, asynq.Group(baselineGroup))
		return err
	})
	if err != nil {
		return err
	}
	inter, err := measure("interactive", func() error {
		_, _, err := b.enqueue("-f", ds.path)
		if err == nil {
			err = b.wantPending(n)
		}
		return err
	})
	if err != nil {
		return err
	}
	bulk, err := measure("bulk", func() error {
		_, _, err := b.enqueue("--bulk", "-f", ds.path)
		if err == nil {
			err = b.wantBulk(n)
		}
		return err
	})
	if err != nil {
		return err
	}
	bytesPer := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + " B/URL" }
	baseText := bytesPer(base) + " (asynq task per URL; " + bytesPer(grouped) + " grouped)"
	b.add(result{row: "Redis footprint, interactive", workload: fmt.Sprintf("used_memory per waiting URL, %s URLs in the pending set", group(int64(n))),
		product: bytesPer(inter), baseline: baseText, ratio: ratio(inter, base), target: "report; small"})
	b.add(result{row: "Redis footprint, bulk", workload: fmt.Sprintf("used_memory per waiting URL, %s URLs in bulk request tasks", group(int64(n))),
		product: bytesPer(bulk), baseline: baseText, ratio: ratio(bulk, base), target: "report; small"})
	return b.reset()
}
