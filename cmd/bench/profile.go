package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/cli/workercmd"
)

// profile runs the enqueue command and the worker in this process under the CPU profiler, one
// step at a time, and writes DIR/<step>.pprof for each, with what Redis spent on each command
// (INFO commandstats) and the CPU time of the redis-server process. Read a profile with
// `go tool pprof -top DIR/drain.pprof`.
func (b *bench) profile(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dups, err := writeDuplicates(filepath.Join(b.tmp, "dups.txt"), "dups", b.sz.enqueueLines)
	if err != nil {
		return err
	}
	uniq, err := writeUniques(filepath.Join(b.tmp, "unique.txt"), "unique", b.sz.uniqueLines, false)
	if err != nil {
		return err
	}
	bulk, err := writeUniques(filepath.Join(b.tmp, "bulk.txt"), "bulk", b.sz.bulkLines, false)
	if err != nil {
		return err
	}
	drain, err := writeUniques(filepath.Join(b.tmp, "drain.txt"), "drain", b.sz.drainURLs, true)
	if err != nil {
		return err
	}
	steps := []struct {
		name string
		prep func() error
		run  func() error
	}{
		{"enqueue", nil, func() error { return b.inProcessEnqueue("-f", dups.path) }},
		{"unique", nil, func() error { return b.inProcessEnqueue("-f", uniq.path) }},
		{"bulk", nil, func() error { return b.inProcessEnqueue("--bulk", "-f", bulk.path) }},
		{"drain", func() error { return b.inProcessEnqueue("-f", drain.path) }, func() error { return b.inProcessDrain(drain.keys, nil) }},
		{"bulkdrain", nil, func() error {
			return b.inProcessDrain(drain.keys, func() error { return b.inProcessEnqueue("--bulk", "-f", drain.path) })
		}},
	}
	for _, s := range steps {
		if !b.o.rows[s.name] {
			continue
		}
		if err := b.reset(); err != nil {
			return err
		}
		if s.prep != nil {
			if err := s.prep(); err != nil {
				return err
			}
		}
		if err := b.rdb.ConfigResetStat(b.ctx).Err(); err != nil {
			return err
		}
		redisCPU0 := cpuTime(b.redisPid)
		path := filepath.Join(dir, s.name+".pprof")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		start := time.Now()
		err = s.run()
		took := time.Since(start)
		pprof.StopCPUProfile()
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		stats, _ := b.rdb.Info(b.ctx, "commandstats").Result()
		b.logf("profile %s: %s wall, redis-server CPU %s; wrote %s\n%s", s.name, secs(took),
			secs(cpuTime(b.redisPid)-redisCPU0), path, topCommands(stats, 6))
	}
	return b.reset()
}

// inProcessEnqueue runs the enqueue command in this process.
func (b *bench) inProcessEnqueue(args ...string) error {
	var out, errb bytes.Buffer
	args = append([]string{"--json", "--no-progress"}, args...)
	err := enqueuecmd.Run(b.ctx, args, b.cliEnv(), strings.NewReader(""), &out, &errb)
	if err != nil {
		return fmt.Errorf("enqueue %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return nil
}

// inProcessDrain runs the worker in this process until every key was invalidated; during runs
// after the worker started (the bulk enqueue).
func (b *bench) inProcessDrain(keys []string, during func() error) error {
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	logf, err := os.Create(filepath.Join(b.tmp, "inprocess-worker.log"))
	if err != nil {
		cancel()
		return err
	}
	defer logf.Close()
	go func() { done <- workercmd.Run(ctx, nil, b.workerEnv(b.drainEnv()...), io.Discard, logf) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("the in-process worker did not stop within 30s")
		}
	}
	if during != nil {
		if err := during(); err != nil {
			_ = stop()
			return err
		}
	}
	if _, _, _, err := b.drained(keys, nil); err != nil {
		_ = stop()
		return err
	}
	return stop()
}

// topCommands formats the n commands Redis spent most time on, from INFO commandstats.
func topCommands(info string, n int) string {
	type stat struct {
		name        string
		calls, usec int64
	}
	var ss []stat
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		s := stat{name: name}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				s.calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				s.usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b stat) int { return int(b.usec - a.usec) })
	var sb strings.Builder
	for i, s := range ss {
		if i == n {
			break
		}
		fmt.Fprintf(&sb, "    %-12s %10s calls %8.2f s in Redis (%.1f µs/call)\n", s.name, group(s.calls),
			float64(s.usec)/1e6, float64(s.usec)/float64(max(s.calls, 1)))
	}
	return sb.String()
}

// cpuTime returns the user+system CPU time a process has used so far (0 if unknown).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses and may hold spaces).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime: field 14 overall
	st, _ := strconv.ParseInt(f[12], 10, 64) // stime: field 15
	const clkTck = 100                       // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}
