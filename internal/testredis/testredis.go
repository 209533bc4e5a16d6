// Package testredis starts private redis-server processes for tests: one per call, on a free
// loopback port, in the test's temporary directory, stopped by pid when the test ends. Tests never
// share a Redis and never skip: without redis-server on the PATH they fail and say how to fix it.
package testredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/redisinfo"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	Port int
	Dir  string
	Args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Option changes how the server starts.
type Option func(*Server)

// WithAOF turns on the append-only file with appendfsync everysec (durable across restarts).
func WithAOF() Option {
	return func(s *Server) { s.Args = append(s.Args, "--appendonly", "yes", "--appendfsync", "everysec") }
}

// WithArgs adds redis-server arguments.
func WithArgs(args ...string) Option { return func(s *Server) { s.Args = append(s.Args, args...) } }

// Binary returns the redis-server path, or fails the test with the fix.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on the PATH: install it (apt-get install redis-server) or run `make test`, which does. " +
			"Integration tests never skip.")
	}
	return p
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a redis-server and waits until it answers. A port that another process took
// between FreePort and the server's start (tests run in parallel) is given up for another one.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, Dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	const attempts = 5
	for i := 1; ; i++ {
		s.Port = FreePort(t)
		err := s.start()
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || i == attempts {
			t.Fatal(err)
		}
		t.Logf("testredis: %v; trying another port", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// errPortTaken says that the port answered for another process than this server's.
var errPortTaken = errors.New("the port was taken by another process")

func (s *Server) start() error {
	s.t.Helper()
	args := append([]string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.Dir, "--save", "",
		"--daemonize", "no", "--logfile", filepath.Join(s.Dir, "redis.log"),
	}, s.Args...)
	if !slices.Contains(s.Args, "--appendonly") {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(Binary(s.t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	if err := s.waitReady(); err != nil {
		s.Kill()
		return err
	}
	return nil
}

// waitReady waits until this server's own process answers on its port.
func (s *Server) waitReady() error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		pid, err := Info(ctx, c, "process_id")
		cancel()
		if err == nil {
			// Another test's redis-server may have taken the port between FreePort and start (or
			// during a restart): only our own process counts.
			if pid != strconv.Itoa(s.cmd.Process.Pid) {
				return fmt.Errorf("port %d answers as redis-server pid %s, not ours (pid %d): %w", s.Port, pid, s.cmd.Process.Pid, errPortTaken)
			}
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			if strings.Contains(string(log), "Address already in use") {
				return fmt.Errorf("redis-server could not listen on port %d: %w", s.Port, errPortTaken)
			}
			return fmt.Errorf("redis-server on port %d exited before it answered:\n%s", s.Port, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			return fmt.Errorf("redis-server on port %d did not answer within 10s: %v\n%s", s.Port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the redis:// URL of database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Pid is the server's process id.
func (s *Server) Pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Client returns a client closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL and waits for it: what is not yet on disk is lost.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Restart stops the server (gracefully unless kill) and starts it again on the same port and
// directory, so that an AOF is replayed.
func (s *Server) Restart(kill bool) {
	s.t.Helper()
	if kill {
		s.Kill()
	} else {
		s.Stop()
	}
	// The same port, for the clients that know it: a port taken meanwhile fails the test.
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Info returns a field of INFO (e.g. "process_id").
func Info(ctx context.Context, c redis.UniversalClient, field string) (string, error) {
	return redisinfo.Field(ctx, c, "", field)
}

// UsedMemory returns INFO used_memory in bytes, failing the test when it cannot be read.
func UsedMemory(t testing.TB, ctx context.Context, c redis.UniversalClient) int64 {
	t.Helper()
	n, err := redisinfo.UsedMemory(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Faults makes chosen commands of a client fail, as a Redis that refuses them would (a write
// refused under OOM, a connection cut at that moment), while every other command goes through:
// tests that need one write to fail at a precise point. Add it with AddFaults; it is safe for
// concurrent use.
type Faults struct {
	mu     sync.Mutex
	rules  []*faultRule
	failed int
}

type faultRule struct {
	match func(args []any) bool
	left  int // failures still to inject; <0: every time
}

// ErrFault is the error an injected failure returns.
var ErrFault = errors.New("testredis: injected failure")

// AddFaults installs a Faults hook on c (commands, pipelines and transactions).
func AddFaults(c redis.UniversalClient) *Faults {
	f := &Faults{}
	c.AddHook(f)
	return f
}

// Fail makes the next times commands that match fail (times < 0: every one until Clear).
func (f *Faults) Fail(times int, match func(args []any) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &faultRule{match: match, left: times})
}

// Clear removes every rule.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Failed returns how many commands failed by a rule so far.
func (f *Faults) Failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// hit reports whether cmd must fail, and counts it.
func (f *Faults) hit(cmd redis.Cmder) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.left != 0 && r.match(cmd.Args()) {
			if r.left > 0 {
				r.left--
			}
			f.failed++
			return true
		}
	}
	return false
}

// DialHook is go-redis's hook: dials are not faulted.
func (f *Faults) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook is go-redis's hook: a command that matches fails without reaching Redis.
func (f *Faults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.hit(cmd) {
			cmd.SetErr(ErrFault)
			return ErrFault
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook is go-redis's hook: a pipeline or transaction with a command that matches
// fails as a whole, without reaching Redis.
func (f *Faults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if f.hit(c) {
				for _, c := range cmds {
					c.SetErr(ErrFault)
				}
				return ErrFault
			}
		}
		return next(ctx, cmds)
	}
}

// Command matches a command by its name (any case) and its first arguments.
func Command(name string, args ...any) func([]any) bool {
	return func(a []any) bool {
		if len(a) < 1+len(args) || !strings.EqualFold(fmt.Sprint(a[0]), name) {
			return false
		}
		for i, want := range args {
			if fmt.Sprint(a[1+i]) != fmt.Sprint(want) {
				return false
			}
		}
		return true
	}
}

// Script matches a script run (EVAL or EVALSHA, as go-redis's Script.Run sends them) whose first
// keys are keys and whose arguments end with argsSuffix.
func Script(keys []string, argsSuffix ...any) func([]any) bool {
	return func(a []any) bool {
		if len(a) < 3 {
			return false
		}
		if n := strings.ToLower(fmt.Sprint(a[0])); n != "evalsha" && n != "eval" {
			return false
		}
		nk, err := strconv.Atoi(fmt.Sprint(a[2]))
		if err != nil || nk < len(keys) || len(a) < 3+nk+len(argsSuffix) {
			return false
		}
		for i, k := range keys {
			if fmt.Sprint(a[3+i]) != k {
				return false
			}
		}
		rest := a[3+nk:]
		for i, want := range argsSuffix {
			if fmt.Sprint(rest[len(rest)-len(argsSuffix)+i]) != fmt.Sprint(want) {
				return false
			}
		}
		return true
	}
}
