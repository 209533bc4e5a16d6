// Command bench measures cipurge against plain asynq on the same Redis in the same run.
//
// It prints one table. Each row has the product's figure, the baseline's figure, their ratio and
// the target. Machines are noisy, so the ratios matter, not the seconds.
//
//	go run ./cmd/bench             the full run (make bench)
//	go run ./cmd/bench -smoke      small sizes, to prove it still runs (make bench-smoke; CI)
//	go run ./cmd/bench -rows drain,bulkdrain -concurrency 40
//	go run ./cmd/bench -profile DIR   CPU profiles of the enqueue command and the drain (in-process)
//
// It starts a private redis-server on a free loopback port, in a temporary directory, without
// persistence. It runs the sandbox Cloudimage API in this process, with no latency and no limit.
// It builds bin/worker and bin/enqueue into the temporary directory. The product's rows run those
// binaries as processes. The baselines run plain asynq in this process against the same Redis.
// Redis is flushed between rows. Every process it starts is stopped by its pid at the end, on an
// error and on Ctrl-C.
//
// It exits non-zero when the pipeline is broken. A command failing, URLs left uninvalidated and
// wrong counts all count as broken. A figure that misses its target never fails the run. It is
// printed as MISSED. In smoke mode every row is "not judged in smoke mode".
//
// The procedure and the measured figures are in docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// rowNames are the rows, in the order they run and print.
var rowNames = []string{"enqueue", "unique", "bulk", "drain", "bulkdrain", "rate", "latency", "footprint", "confirm", "pace", "trickle", "lanes", "history", "scale", "enqueuememory"}

// options are the command-line flags.
type options struct {
	smoke       bool
	rows        map[string]bool
	concurrency int
	profileDir  string
	mdPath      string
	keep        bool
	args        []string
	// costOnly: -rows confirmcost runs the confirm row's first pair only (Redis work per URL).
	costOnly bool
	// paceFast: -rows pace100 runs the pace row's case at PURGE_RATE=100 only.
	paceFast bool
	split    bool // log Redis time per script in the confirm cost row (see slowlogAll)
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{args: args}
	rows := fs.String("rows", "all", "comma-separated rows to run: "+strings.Join(rowNames, ",")+
		" (confirmcost: the confirm row's Redis work per URL only; pace100: the pace row at PURGE_RATE=100 only)")
	fs.BoolVar(&o.smoke, "smoke", false, "small sizes and a short rate row: proves the benchmark runs (CI)")
	fs.IntVar(&o.concurrency, "concurrency", defaultConcurrency, "PURGE_CONCURRENCY of the worker in the drain rows")
	fs.StringVar(&o.profileDir, "profile", "", "write CPU profiles of the enqueue command and the drain (run in-process) to `DIR`, instead of the table")
	fs.StringVar(&o.mdPath, "md", "", "also write the table, machine and command as Markdown to `FILE`")
	fs.BoolVar(&o.split, "split", false, "in the confirm cost row, log Redis time per script and command (SLOWLOG of every command: it inflates the row's figures)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (input files, logs) and print its path")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: see -h", fs.Arg(0))
	}
	if o.concurrency < 1 || o.concurrency > 1000 {
		return nil, fmt.Errorf("-concurrency %d is out of range: use 1 to 1000", o.concurrency)
	}
	o.rows = map[string]bool{}
	for _, r := range strings.Split(*rows, ",") {
		r = strings.TrimSpace(r)
		switch {
		case r == "all":
			for _, n := range rowNames {
				o.rows[n] = true
			}
		case slices.Contains(rowNames, r):
			o.rows[r] = true
		case r == "confirmcost":
			o.rows["confirm"], o.costOnly = true, true
		case r == "pace100":
			o.rows["pace"], o.paceFast = true, true
		default:
			return nil, fmt.Errorf("-rows: unknown row %q: use all or some of %s", r, strings.Join(rowNames, ","))
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	b, err := setup(ctx, o, stderr)
	if b != nil {
		defer b.close()
	}
	if err != nil {
		return err
	}
	if o.profileDir != "" {
		return b.profile(o.profileDir)
	}
	for _, name := range rowNames {
		if !o.rows[name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.runRow(name); err != nil {
			b.printTable(stdout)
			return fmt.Errorf("row %s: %w", name, err)
		}
	}
	b.printTable(stdout)
	if o.mdPath != "" {
		f, err := os.Create(o.mdPath)
		if err != nil {
			return err
		}
		b.printTable(f)
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
