package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/childproc"
)

// procs tracks every process the benchmark starts, so that each is stopped by its pid at the end,
// on an error and on Ctrl-C.
type procs struct {
	mu   sync.Mutex
	live map[int]*proc
}

// proc is one started process.
type proc = childproc.Proc

func newProcs() *procs { return &procs{live: map[int]*proc{}} }

// start runs bin with args and env (nothing inherited), its stdout and stderr appended to logPath.
func (ps *procs) start(name, bin string, args, env []string, logPath string) (*proc, error) {
	p, err := childproc.Start(name, bin, args, env, logPath)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	ps.live[p.Pid()] = p
	ps.mu.Unlock()
	return p, nil
}

// stop sends SIGTERM to the process (by its pid), waits up to grace, then sends SIGKILL.
func (ps *procs) stop(p *proc, grace time.Duration) error {
	if p == nil {
		return nil
	}
	p.Stop(grace)
	ps.mu.Lock()
	delete(ps.live, p.Pid())
	ps.mu.Unlock()
	return p.Err()
}

// stopAll stops every process still running, one by one, by pid.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := make([]*proc, 0, len(ps.live))
	for _, p := range ps.live {
		list = append(list, p)
	}
	ps.mu.Unlock()
	for _, p := range list {
		_ = ps.stop(p, 5*time.Second)
	}
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/" + strconv.Itoa(pid) + "/status")
}

// tailFile returns the last lines of a log file, for error messages.
func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	parts := bytes.Split(bytes.TrimRight(b, "\n"), []byte{'\n'})
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return string(bytes.Join(parts, []byte{'\n'}))
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis runs a private redis-server on a free loopback port in dir, without persistence,
// and waits until it answers.
func startRedis(ctx context.Context, ps *procs, dir string) (p *proc, addr string, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("redis-server is not on the PATH: install it (apt-get install redis-server)")
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	p, err = ps.start("redis-server", bin, []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--protected-mode", "yes",
	}, nil, filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, "", err
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		if err == nil {
			return p, addr, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) || p.Exited() {
			_ = ps.stop(p, time.Second)
			return nil, "", fmt.Errorf("redis-server on %s did not answer: %v\n%s", addr, err, tailFile(p.Log, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buildCommands builds bin/worker and bin/enqueue of the module at root into dir.
func buildCommands(ctx context.Context, root, dir string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		if g := os.Getenv("GOROOT"); g != "" {
			gobin = filepath.Join(g, "bin", "go")
		} else {
			return errors.New("the go command is not on the PATH: the benchmark builds bin/worker and bin/enqueue with it")
		}
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-o", dir+string(filepath.Separator), "./cmd/worker", "./cmd/enqueue")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build ./cmd/worker ./cmd/enqueue: %v\n%s", err, out)
	}
	return nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run the benchmark from the repository (make bench)")
		}
		dir = parent
	}
}
