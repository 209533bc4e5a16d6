// Package testredis starts private redis-server processes for tests: one per call, on a free
// loopback port, in the test's temporary directory, stopped by pid when the test ends. Tests never
// share a Redis and never skip: without redis-server on the PATH they fail and say how to fix it.
package testredis

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

// Start starts a redis-server and waits until it answers.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, Port: FreePort(t), Dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
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
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	s.waitReady()
}

func (s *Server) waitReady() {
	s.t.Helper()
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
				s.t.Fatalf("port %d answers as redis-server pid %s, not ours (pid %d): the port was taken by another test",
					s.Port, pid, s.cmd.Process.Pid)
			}
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			s.t.Fatalf("redis-server on port %d did not answer within 10s: %v\n%s", s.Port, err, log)
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
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
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
	s.start()
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
