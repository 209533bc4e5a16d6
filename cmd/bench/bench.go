package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/redisinfo"
	"github.com/cipurge/cipurge/internal/sandbox"
)

// sizes are the workloads of one run.
type sizes struct {
	enqueueLines   int           // enqueue row: lines, two thirds duplicates or equivalent forms
	uniqueLines    int           // enqueue, unique row
	bulkLines      int           // bulk enqueue row (every line a different image)
	drainURLs      int           // drain row
	bulkDrainURLs  int           // bulk drain row
	rateSeconds    int           // rate row: the steady part that is measured
	rateWarmup     time.Duration // rate row: the start that is not (the burst)
	latencySamples int           // latency row
	footprintURLs  int           // Redis footprint rows
	paceSeconds    int           // pace rows: the steady part that is measured
	paceWarmup     time.Duration // pace rows: the start that is not
	trickleSamples int           // trickle row: URLs, one a second
	scaleURLs      []int         // scale rows: enqueue and drain at each size
	memoryLines    int           // enqueue memory row: distinct lines
	drainTimeout   time.Duration // a drain that takes longer is a broken pipeline
	confirmURLs    int           // confirm row: URLs from enqueue to confirmed, with and without checks
	checksURLs     int           // confirm row: the interactive drain whose status checks come due
	checksBulkURLs int           // confirm row: the bulk drain timed while they come due
	checksDelay    time.Duration // confirm row: PURGE_CONFIRM_DELAY of that drain
	lanesSamples   int           // lanes row: interactive URLs of one account, each side
	lanesBacklog   int           // lanes row: the other account's bulk backlog
}

var fullSizes = sizes{
	enqueueLines: 1_000_000, uniqueLines: 300_000, bulkLines: 1_000_000, drainURLs: 300_000, bulkDrainURLs: 300_000,
	rateSeconds: 60, rateWarmup: 5 * time.Second, latencySamples: 50, footprintURLs: 100_000, drainTimeout: 10 * time.Minute,
	paceSeconds: 20, paceWarmup: 5 * time.Second, trickleSamples: 60, scaleURLs: []int{100_000, 1_000_000}, memoryLines: 4_000_000,
	confirmURLs: 15_000, checksURLs: 100_000, checksBulkURLs: 50_000, checksDelay: 10 * time.Second,
	lanesSamples: 40, lanesBacklog: 300_000,
}

var smokeSizes = sizes{
	enqueueLines: 30_000, uniqueLines: 10_000, bulkLines: 30_000, drainURLs: 10_000, bulkDrainURLs: 10_000,
	rateSeconds: 10, rateWarmup: 2 * time.Second, latencySamples: 5, footprintURLs: 5_000, drainTimeout: time.Minute,
	paceSeconds: 5, paceWarmup: 3 * time.Second, trickleSamples: 5, scaleURLs: []int{10_000}, memoryLines: 40_000,
	confirmURLs: 3_000, checksURLs: 10_000, checksBulkURLs: 5_000, checksDelay: 3 * time.Second,
	lanesSamples: 8, lanesBacklog: 10_000,
}

// Settings of the rows, printed with the table.
const (
	// defaultConcurrency is the worker's PURGE_CONCURRENCY in the drain rows: see the note in
	// docs/performance.md for the values measured.
	defaultConcurrency = 20
	baselineGoroutines = 8               // the plain asynq.Client.Enqueue loop
	aggMaxSize         = 5000            // the aggregation baseline's GroupMaxSize
	rateLimit          = 20              // PURGE_RATE of the rate row
	rateBurst          = 5               // PURGE_BURST of the rate row
	rateWorkers        = 3               // worker processes in the rate row
	latencyWindow      = 2 * time.Second // PURGE_WINDOW of the latency row: the default
	drainWindow        = 2 * time.Second // PURGE_WINDOW of the drain rows: the default
	memoryTarget       = 150 << 20
	// enqueueMemoryTarget bounds the enqueue command's peak RSS over any input: its heap limit
	// (producer.MemoryLimit) plus the runtime's own.
	enqueueMemoryTarget = 128 << 20
)

// bench is one run: its Redis, sandbox, binaries and results.
type bench struct {
	ctx     context.Context
	o       *options
	sz      sizes
	log     io.Writer
	ps      *procs
	tmp     string
	bin     string
	rdb     *redis.Client
	redisV  string
	sb      *sandbox.Server
	sbURL   string
	stopSB  func()
	key     string
	results []result
	aggRate float64 // URLs/s of the aggregation baseline, once measured
	nlogs   int
	// redisPid is the redis-server's process id, for its CPU time.
	redisPid int
}

// result is one line of the table.
type result struct {
	row, workload, product, baseline, ratio, target, verdict string
}

func setup(ctx context.Context, o *options, log io.Writer) (*bench, error) {
	b := &bench{ctx: ctx, o: o, sz: fullSizes, log: log, ps: newProcs()}
	if o.smoke {
		b.sz = smokeSizes
	}
	var err error
	if b.tmp, err = os.MkdirTemp("", "cipurge-bench-"); err != nil {
		return nil, err
	}
	k := make([]byte, 12)
	_, _ = rand.Read(k)
	b.key = "bench-" + hex.EncodeToString(k) // never printed
	root, err := moduleRoot()
	if err != nil {
		return b, err
	}
	b.bin = filepath.Join(b.tmp, "bin")
	b.logf("building bin/worker and bin/enqueue")
	if err := buildCommands(ctx, root, b.bin); err != nil {
		return b, err
	}
	rp, addr, err := startRedis(ctx, b.ps, b.tmp)
	if err != nil {
		return b, err
	}
	b.redisPid = rp.Pid()
	// FLUSHALL of a million keys on a loaded machine takes longer than go-redis's 3-s default.
	b.rdb = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 32, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	if b.redisV, err = redisinfo.Field(ctx, b.rdb, "server", "redis_version"); err != nil {
		return b, err
	}
	b.sb, b.sbURL, b.stopSB, err = sandbox.Start(sandbox.Options{Key: b.key, MaxRecords: 1 << 20})
	if err != nil {
		return b, err
	}
	b.logf("redis-server %s on %s, sandbox API on %s, work directory %s", b.redisV, addr, b.sbURL, b.tmp)
	return b, nil
}

// close stops everything the run started and removes its files.
func (b *bench) close() {
	b.ps.stopAll()
	if b.stopSB != nil {
		b.stopSB()
	}
	if b.rdb != nil {
		b.rdb.Close()
	}
	if b.o.keep {
		fmt.Fprintln(b.log, "bench: kept", b.tmp)
		return
	}
	os.RemoveAll(b.tmp)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

// notJudged is the verdict of every row in smoke mode: its sizes are too small to judge a figure.
const notJudged = "not judged in smoke mode"

func (b *bench) add(r result) {
	if b.o.smoke {
		r.verdict = notJudged
	}
	b.results = append(b.results, r)
	b.logf("%s: product %s, baseline %s, %s %s", r.row, r.product, r.baseline, r.ratio, r.verdict)
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func (b *bench) runRow(name string) error {
	switch name {
	case "enqueue":
		return b.rowEnqueue()
	case "unique":
		return b.rowUnique()
	case "bulk":
		return b.rowBulk()
	case "drain":
		return b.rowDrain()
	case "bulkdrain":
		return b.rowBulkDrain()
	case "rate":
		return b.rowRate()
	case "latency":
		return b.rowLatency()
	case "footprint":
		return b.rowFootprint()
	case "confirm":
		return b.rowConfirm()
	case "pace":
		return b.rowPace()
	case "trickle":
		return b.rowTrickle()
	case "lanes":
		return b.rowLanes()
	case "history":
		return b.rowHistory()
	case "scale":
		return b.rowScale()
	case "enqueuememory":
		return b.rowEnqueueMemory()
	}
	return fmt.Errorf("unknown row %q", name)
}

// reset empties Redis and the sandbox between rows.
func (b *bench) reset() error {
	b.sb.Reset()
	if err := b.rdb.FlushAll(b.ctx).Err(); err != nil {
		return fmt.Errorf("FLUSHALL: %w", err)
	}
	return nil
}

// cliEnv is the enqueue command's environment: nothing is inherited but PATH and HOME.
func (b *bench) cliEnv(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"REDIS_URL=redis://" + b.rdb.Options().Addr + "/0",
		"CLOUDIMAGE_TOKEN=" + benchToken,
	}
	return append(env, extra...)
}

// workerEnv is a worker's environment: the sandbox API, no confirmation follow-ups, an HTTP
// server on a free loopback port, plus extra.
func (b *bench) workerEnv(extra ...string) []string {
	return b.cliEnv(append([]string{
		"CLOUDIMAGE_API_URL=" + b.sbURL,
		"CLOUDIMAGE_API_KEY=" + b.key,
		"PURGE_CONFIRM=false",
		"HTTP_ADDR=127.0.0.1:0",
	}, extra...)...)
}

// cliSummary is the enqueue command's --json summary.
type cliSummary struct {
	Mode           string  `json:"mode"`
	Lines          int64   `json:"lines"`
	Accepted       int64   `json:"accepted"`
	Enqueued       int64   `json:"enqueued"`
	AlreadyPending int64   `json:"already_pending"`
	Duplicates     int64   `json:"duplicates"`
	Rejected       int64   `json:"rejected"`
	Requests       int64   `json:"bulk_requests"`
	Seconds        float64 `json:"seconds"`
	Error          string  `json:"error"`
}

// enqueue runs bin/enqueue with args (plus --json --no-progress) and returns its summary and the
// wall-clock time from exec to exit. A non-zero exit is an error.
func (b *bench) enqueue(args ...string) (*cliSummary, time.Duration, error) {
	args = append([]string{"--json", "--no-progress"}, args...)
	cmd := exec.CommandContext(b.ctx, filepath.Join(b.bin, "enqueue"), args...)
	cmd.Env = b.cliEnv()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &limitedBuffer{max: 64 << 10, b: &errb}
	redisCPU := cpuTime(b.redisPid)
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if cmd.ProcessState != nil && slices.Contains(args, "-f") {
		b.logf("  enqueue %s: %s wall, %s CPU in the command, %s in redis-server", strings.Join(args[2:], " "), secs(took),
			secs(cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime()), secs(cpuTime(b.redisPid)-redisCPU))
	}
	if err != nil {
		return nil, took, fmt.Errorf("enqueue %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	var s cliSummary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		return nil, took, fmt.Errorf("enqueue %s: summary: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return &s, took, nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	max int
	b   *bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// startWorkers starts n bin/worker processes with extra environment and waits until each has
// registered with asynq. It returns them and the time just before the first was started.
func (b *bench) startWorkers(n int, extra ...string) ([]*proc, time.Time, error) {
	start := time.Now()
	var ws []*proc
	for range n {
		b.nlogs++
		p, err := b.ps.start("worker", filepath.Join(b.bin, "worker"), nil, b.workerEnv(extra...),
			filepath.Join(b.tmp, "worker-"+strconv.Itoa(b.nlogs)+".log"))
		if err != nil {
			b.stopWorkers(ws)
			return nil, start, err
		}
		ws = append(ws, p)
	}
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	deadline := time.Now().Add(30 * time.Second)
	for {
		srvs, err := insp.Servers()
		pids := map[int]bool{} // a worker runs two asynq servers: one for status checks
		for _, s := range srvs {
			pids[s.PID] = true
		}
		if err == nil && len(pids) >= n {
			return ws, start, nil
		}
		for _, p := range ws {
			if p.Exited() {
				b.stopWorkers(ws)
				return nil, start, fmt.Errorf("a worker exited at start: %v\n%s", p.Err(), tailFile(p.Log, 20))
			}
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.stopWorkers(ws)
			return nil, start, fmt.Errorf("workers did not register with asynq within 30s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *bench) stopWorkers(ws []*proc) {
	for _, p := range ws {
		_ = b.ps.stop(p, 15*time.Second)
	}
}

// drained waits until the sandbox has accepted every key at least once, and returns the time of
// the last accepted request, how many requests it accepted, and how many keys it was sent more
// than once. Waiting longer than the drain timeout is an error: the pipeline is broken.
func (b *bench) drained(keys []string, ws []*proc) (last time.Time, calls, twice int, err error) {
	if len(keys) == 0 {
		// A data set written without its keys: there would be nothing to wait for.
		return last, 0, 0, errors.New("drained: no keys to wait for (write the data set with its keys)")
	}
	deadline := time.Now().Add(b.sz.drainTimeout)
	for {
		if b.sb.Stats().URLs >= len(keys) {
			counts := b.sb.URLCounts()
			missing := 0
			for _, k := range keys {
				if counts[k] == 0 {
					missing++
				}
			}
			if missing == 0 {
				for _, k := range keys {
					if counts[k] > 1 {
						twice++
					}
				}
				acc := b.sb.Accepted()
				for _, r := range acc {
					if r.At.After(last) {
						last = r.At
					}
				}
				return last, len(acc), twice, nil
			}
			if time.Now().After(deadline) {
				return last, 0, 0, fmt.Errorf("%w: %d of %d URLs were never invalidated within %s", errBroken, missing, len(keys), b.sz.drainTimeout)
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if err := b.ctx.Err(); err != nil {
			return last, 0, 0, err
		}
		for _, p := range ws {
			if p.Exited() {
				return last, 0, 0, fmt.Errorf("a worker exited during the drain: %v\n%s", p.Err(), tailFile(p.Log, 20))
			}
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("%w: only %d of %d URLs invalidated within %s", errBroken, b.sb.Stats().URLs, len(keys), b.sz.drainTimeout)
			if len(ws) > 0 {
				err = fmt.Errorf("%w; the worker's log ends:\n%s", err, tailFile(ws[0].Log, 20))
			}
			return last, 0, 0, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// usedMemory returns Redis's used_memory in bytes.
func (b *bench) usedMemory() (int64, error) { return redisinfo.UsedMemory(b.ctx, b.rdb) }

// machine describes where the run happened.
func (b *bench) machine() string {
	model := "unknown CPU"
	if c, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(c), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s %s/%s, redis-server %s on loopback, %s",
		runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, b.redisV, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

// command is how to reproduce this run (the flags that only choose where output goes left out).
func (b *bench) command() string {
	var args []string
	for i := 0; i < len(b.o.args); i++ {
		a := b.o.args[i]
		switch {
		case a == "-keep" || a == "--keep":
		case a == "-md" || a == "--md":
			i++ // and its value
		case strings.HasPrefix(a, "-md=") || strings.HasPrefix(a, "--md="):
		default:
			args = append(args, a)
		}
	}
	switch {
	case len(args) == 0:
		return "make bench   (go run ./cmd/bench)"
	case len(args) == 1 && (args[0] == "-smoke" || args[0] == "--smoke"):
		return "make bench-smoke   (go run ./cmd/bench -smoke)"
	}
	return "go run ./cmd/bench " + strings.Join(args, " ")
}

func (b *bench) printTable(w io.Writer) {
	mode := "full sizes"
	if b.o.smoke {
		mode = "SMOKE sizes (not figures to quote)"
	}
	fmt.Fprintf(w, "\ncipurge benchmark, %s\nmachine: %s\nreproduce: %s\n\n", mode, b.machine(), b.command())
	fmt.Fprintln(w, "| row | workload | product | baseline (same run) | ratio | target | |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range b.results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.row, r.workload, r.product, r.baseline, r.ratio, r.target, r.verdict)
	}
	fmt.Fprintln(w)
}

var errBroken = errors.New("pipeline broken")
