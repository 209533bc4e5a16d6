package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/redisinfo"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// redisWork is what Redis did over a stretch: CPU time (INFO cpu), commands and script calls
// (INFO stats and commandstats, after CONFIG RESETSTAT).
type redisWork struct {
	cpu            time.Duration
	cmds, evalshas int64
	reads          int64         // read events Redis handled (INFO stats total_reads_processed): round trips
	took           time.Duration // wall time from startWork to endWork
	at0            time.Time
	cpuAt0         float64 // INFO cpu at the start (s)
	top            string  // the commands Redis spent most time on (topCommands)
	split          string  // Redis time per script and command, with -split (splitSlowlog)
}

// redisCPU returns used_cpu_sys + used_cpu_user of INFO cpu, in seconds.
func (b *bench) redisCPU() (float64, error) {
	var sum float64
	for _, f := range []string{"used_cpu_sys", "used_cpu_user"} {
		v, err := redisinfo.Field(b.ctx, b.rdb, "cpu", f)
		if err != nil {
			return 0, err
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("INFO cpu %s: %w", f, err)
		}
		sum += x
	}
	return sum, nil
}

// startWork resets Redis's counters and notes its CPU time.
func (b *bench) startWork() (*redisWork, error) {
	if err := b.rdb.ConfigResetStat(b.ctx).Err(); err != nil {
		return nil, err
	}
	c, err := b.redisCPU()
	return &redisWork{cpuAt0: c, at0: time.Now()}, err
}

// endWork reads what Redis did since startWork.
func (b *bench) endWork(w *redisWork) error {
	c, err := b.redisCPU()
	if err != nil {
		return err
	}
	w.cpu = time.Duration((c - w.cpuAt0) * float64(time.Second))
	v, err := redisinfo.Field(b.ctx, b.rdb, "stats", "total_commands_processed")
	if err != nil {
		return err
	}
	w.cmds, _ = strconv.ParseInt(v, 10, 64)
	w.took = time.Since(w.at0)
	if v, err := redisinfo.Field(b.ctx, b.rdb, "stats", "total_reads_processed"); err == nil {
		w.reads, _ = strconv.ParseInt(v, 10, 64)
	}
	if v, err := redisinfo.Field(b.ctx, b.rdb, "commandstats", "cmdstat_evalsha"); err == nil {
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		w.evalshas, _ = strconv.ParseInt(calls, 10, 64)
	}
	if s, err := b.rdb.Info(b.ctx, "commandstats").Result(); err == nil {
		w.top = topCommands(s, 15)
	}
	return nil
}

// confirmsDone waits until the confirm queue is empty and the sandbox has had at least one status
// request per accepted call.
func (b *bench) confirmsDone() error {
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	deadline := time.Now().Add(b.sz.drainTimeout)
	for {
		// The confirm queue exists once a check was handed to asynq: the check loop runs most itself.
		size := 0
		qs, err := insp.Queues()
		if err == nil && slices.Contains(qs, tasks.QueueConfirm) {
			var qi *asynq.QueueInfo
			if qi, err = insp.GetQueueInfo(tasks.QueueConfirm); err == nil {
				size = qi.Size
			}
		}
		st := b.sb.Stats()
		if err == nil && size == 0 && st.StatusRequests >= st.Accepted {
			return nil
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			return fmt.Errorf("%w: %d status requests for %d calls after %s", errBroken, st.StatusRequests, st.Accepted, b.sz.drainTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// confirmCost drains n URLs (interactive, one worker, PURGE_RATE=0) with confirmations on or off
// and returns what Redis did from the enqueue to the last status check (or the last send).
func (b *bench) confirmCost(n int, confirm bool) (*redisWork, error) {
	ds, err := writeUniques(filepath.Join(b.tmp, "confirm.txt"), "confirm"+strconv.FormatBool(confirm), n, true)
	if err != nil {
		return nil, err
	}
	if err := b.reset(); err != nil {
		return nil, err
	}
	ws, _, err := b.startWorkers(1, append(b.drainEnv(), "PURGE_CONFIRM="+strconv.FormatBool(confirm), "PURGE_CONFIRM_DELAY=1s")...)
	if err != nil {
		return nil, err
	}
	defer b.stopWorkers(ws)
	if b.o.split {
		if err := b.slowlogAll(); err != nil {
			return nil, err
		}
	}
	w, err := b.startWork()
	if err != nil {
		return nil, err
	}
	if _, _, err := b.enqueue("-f", ds.path); err != nil {
		return nil, err
	}
	if _, _, _, err := b.drained(ds.keys, ws); err != nil {
		return nil, err
	}
	if confirm {
		if err := b.confirmsDone(); err != nil {
			return nil, err
		}
	}
	if err := b.endWork(w); err != nil {
		return nil, err
	}
	if b.o.split {
		w.split, err = b.splitSlowlog(n)
	}
	return w, err
}

// drainWhileChecks runs an interactive drain of n URLs with confirmations on or off (first check
// after delay), then, as its status checks come due, a bulk re-ingest of m other URLs, and times
// that drain from the exec of `enqueue --bulk` to the last call. It returns URLs/s and the status
// checks the sandbox answered during it.
func (b *bench) drainWhileChecks(n, m int, delay time.Duration, confirm bool) (float64, int, error) {
	first, err := writeUniques(filepath.Join(b.tmp, "checks.txt"), "checks"+strconv.FormatBool(confirm), n, true)
	if err != nil {
		return 0, 0, err
	}
	bulk, err := writeUniques(filepath.Join(b.tmp, "checksbulk.txt"), "checksbulk"+strconv.FormatBool(confirm), m, true)
	if err != nil {
		return 0, 0, err
	}
	if err := b.reset(); err != nil {
		return 0, 0, err
	}
	ws, _, err := b.startWorkers(1, append(b.drainEnv(), "PURGE_CONFIRM="+strconv.FormatBool(confirm), "PURGE_CONFIRM_DELAY="+delay.String())...)
	if err != nil {
		return 0, 0, err
	}
	defer b.stopWorkers(ws)
	if _, _, err := b.enqueue("-f", first.path); err != nil {
		return 0, 0, err
	}
	if _, _, _, err := b.drained(first.keys, ws); err != nil {
		return 0, 0, err
	}
	acc := b.sb.Accepted()
	due := acc[0].At.Add(delay)
	for _, r := range acc {
		if r.At.Add(delay).Before(due) {
			due = r.At.Add(delay)
		}
	}
	time.Sleep(time.Until(due))
	checks := b.sb.Stats().StatusRequests
	start := time.Now()
	if _, _, err := b.enqueue("--bulk", "-f", bulk.path); err != nil {
		return 0, 0, err
	}
	last, _, _, err := b.drained(bulk.keys, ws)
	if err != nil {
		return 0, 0, err
	}
	checks = b.sb.Stats().StatusRequests - checks
	return perSecond(m, last.Sub(start)), checks, nil
}

// checksReps is how many times each side of the drain-beside-checks row runs. A single drain
// of 50,000 URLs lasts seconds, and a shared machine moves it by half. The row takes the median.
const checksReps = 3

// medianOf returns the median of xs (the mean of the middle two when even).
func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianInt(xs []int) int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// rowConfirm measures what status checks cost: Redis CPU, commands and script calls per URL from
// enqueue to confirmed DONE, beside the same drain without confirmations; and a bulk drain while
// thousands of status checks come due, beside the same drain without confirmations. Both pairs
// run in this one run.
func (b *bench) rowConfirm() error {
	n := b.sz.confirmURLs
	b.logf("confirm: Redis work per URL, %s URLs, confirmations off then on", group(int64(n)))
	off, err := b.confirmCost(n, false)
	if err != nil {
		return err
	}
	on, err := b.confirmCost(n, true)
	if err != nil {
		return err
	}
	per := func(w *redisWork) string {
		return fmt.Sprintf("%.1f µs CPU, %.1f commands, %.2f EVALSHA per URL", float64(w.cpu.Microseconds())/float64(n),
			float64(w.cmds)/float64(n), float64(w.evalshas)/float64(n))
	}
	onUS := float64(on.cpu.Microseconds()) / float64(n)
	b.add(result{row: "confirm cost", workload: fmt.Sprintf("Redis (INFO cpu, INFO commandstats) from `enqueue -f` of %s URLs to the last confirmed DONE, one worker, PURGE_RATE=0, first check after 1 s", group(int64(n))),
		product: "on: " + per(on), baseline: "off: " + per(off), ratio: ratio(float64(on.cpu), float64(off.cpu)),
		target: "<= 25 µs per URL with confirmations on", verdict: verdict(onUS <= 25)})
	for _, w := range []struct {
		side string
		w    *redisWork
	}{{"off", off}, {"on", on}} {
		b.logf("confirm cost, %s: %.2f round trips (INFO stats total_reads_processed) per URL, %.1f s from enqueue to the end",
			w.side, float64(w.w.reads)/float64(n), w.w.took.Seconds())
	}
	b.logf("confirm cost, off: the commands Redis spent most time on\n%s", off.top)
	b.logf("confirm cost, on: the commands Redis spent most time on\n%s", on.top)
	if b.o.split {
		b.logf("confirm cost, off: Redis time per script and command (SLOWLOG)\n%s", off.split)
		b.logf("confirm cost, on: Redis time per script and command (SLOWLOG)\n%s", on.split)
	}
	if b.o.costOnly {
		return b.reset()
	}

	first, bulk, delay := b.sz.checksURLs, b.sz.checksBulkURLs, b.sz.checksDelay
	reps := checksReps
	if b.o.smoke {
		reps = 1
	}
	b.logf("confirm: bulk drain of %s URLs as the checks of a %s-URL drain come due, confirmations off and on, %d pairs",
		group(int64(bulk)), group(int64(first)), reps)
	var onRuns, offRuns []float64
	var checks []int
	for i := range reps {
		// Alternate which side goes first: a load that changes during the run favours neither.
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		for _, confirm := range order {
			p, c, err := b.drainWhileChecks(first, bulk, delay, confirm)
			if err != nil {
				return err
			}
			b.logf("confirm: pair %d, confirmations %t: %s, %d status checks during it", i+1, confirm, rate(p, "URLs/s"), c)
			if confirm {
				onRuns, checks = append(onRuns, p), append(checks, c)
			} else {
				offRuns = append(offRuns, p)
			}
		}
	}
	pOn, pOff := medianOf(onRuns), medianOf(offRuns)
	pairs := make([]string, reps)
	for i := range reps {
		pairs[i] = ratio(onRuns[i], offRuns[i])
	}
	b.add(result{row: "drain beside checks", workload: fmt.Sprintf("`enqueue --bulk` plus drain of %s URLs while the status checks of a %s-URL interactive drain come due (first check after %s), one worker, PURGE_RATE=0; median of %d runs a side, in pairs of alternating order (pairs: %s)",
		group(int64(bulk)), group(int64(first)), delay, reps, strings.Join(pairs, ", ")),
		product:  rate(pOn, "URLs/s") + fmt.Sprintf(" (median %s status checks during it)", group(int64(medianInt(checks)))),
		baseline: rate(pOff, "URLs/s") + " (PURGE_CONFIRM=false)",
		ratio:    ratio(pOn, pOff), target: ">= 0.9x", verdict: verdict(pOn >= 0.9*pOff)})
	return b.reset()
}
