//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/childproc"
	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// apiKey is the key the sandbox accepts in these tests.
const apiKey = "faults-key-4c1e9d0b7a"

// bins are the worker and enqueue binaries, built once by TestMain.
var bins struct{ worker, enqueue string }

// TestMain builds the real binaries (so that SIGKILL kills a real process) and runs the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cipurge-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(2)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/cipurge/cipurge/cmd/worker", "github.com/cipurge/cipurge/cmd/enqueue")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: go build of cmd/worker and cmd/enqueue failed:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	bins.worker, bins.enqueue = filepath.Join(dir, "worker"), filepath.Join(dir, "enqueue")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a process environment.
type env = testkit.Env

// baseEnv is the environment of workers and producers in these tests: the sandbox at apiURL,
// short windows, no status follow-up, JSON logs at info level, the HTTP server on a free port.
func baseEnv(apiURL string) env {
	return env{
		"CLOUDIMAGE_API_URL":     apiURL,
		"CLOUDIMAGE_API_KEY":     apiKey,
		"CLOUDIMAGE_TOKEN":       "demo",
		"PURGE_WINDOW":           "200ms",
		"PURGE_MAX_DELAY":        "1s",
		"PURGE_CONFIRM":          "false",
		"PURGE_SHUTDOWN_TIMEOUT": "2s",
		"HTTP_ADDR":              "127.0.0.1:0",
		"LOG_LEVEL":              "info",
		"LOG_FORMAT":             "json",
	}
}

// newRig starts the sandbox API and a private redis-server (opts), both stopped when the test
// ends, and returns them with baseEnv for the two.
func newRig(t *testing.T, opts ...testredis.Option) (*sandbox.Server, *redis.Client, env) {
	t.Helper()
	sb, apiURL := testkit.StartSandbox(t, apiKey)
	r := testredis.Start(t, opts...)
	return sb, r.Client(), baseEnv(apiURL).With("REDIS_URL=" + r.URL())
}

// proc is a process started by a test; it is stopped by pid when the test ends.
type proc struct{ *childproc.Proc }

// startProc starts bin with env; its stdout and stderr go to a file in the test's directory.
func startProc(t *testing.T, name, bin string, e env, args ...string) *proc {
	t.Helper()
	cp, err := childproc.Start(name, bin, args, e.List(), filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cp}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s (pid %d) log, last lines:\n%s", p.Name, p.Pid(), testkit.Tail(p.logs(), 40))
		}
	})
	return p
}

// startWorker starts a worker process.
func startWorker(t *testing.T, name string, e env) *proc {
	t.Helper()
	return startProc(t, name, bins.worker, e)
}

// stop sends SIGTERM (a graceful shutdown) and waits; after 20 s it sends SIGKILL.
func (p *proc) stop(t *testing.T) {
	if !p.Stop(20 * time.Second) {
		t.Errorf("%s (pid %d) did not stop within 20s of SIGTERM: killed it", p.Name, p.Pid())
	}
}

// logs returns what the process wrote so far.
func (p *proc) logs() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// httpAddr waits for a worker's "http server listening" log line and returns its address.
func (p *proc) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	testkit.WaitFor(t, 20*time.Second, p.Name+" listening on HTTP", func() bool {
		addr = testkit.LogField(p.logs(), "http server listening", "addr")
		return addr != "" || p.Exited()
	})
	if addr == "" {
		t.Fatalf("%s exited before listening:\n%s", p.Name, testkit.Tail(p.logs(), 20))
	}
	return addr
}

// countLogs counts the log lines containing s.
func countLogs(logs, s string) int { return strings.Count(logs, s) }

// result is the outcome of one enqueue run.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
	timedOut       bool
}

// runEnqueue runs the enqueue binary with args and stdin, killed after timeout (then timedOut).
// It may be called from any goroutine: a failure to start shows as code -1.
func runEnqueue(e env, stdin string, timeout time.Duration, args ...string) result {
	return runEnqueueFrom(e, strings.NewReader(stdin), timeout, args...)
}

// mustEnqueue is runEnqueue with no standard input, on the test's goroutine: the test fails at
// once unless enqueue exits 0.
func mustEnqueue(t *testing.T, e env, timeout time.Duration, args ...string) result {
	t.Helper()
	res := runEnqueue(e, "", timeout, args...)
	if res.code != 0 {
		t.Fatalf("enqueue %s: exit %d: %s", strings.Join(args[:min(len(args), 3)], " "), res.code, res.stderr)
	}
	return res
}

// runEnqueueFrom is runEnqueue with standard input read from stdin.
func runEnqueueFrom(e env, stdin io.Reader, timeout time.Duration, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := childproc.Run(ctx, bins.enqueue, args, e.List(), stdin)
	if err != nil {
		r.Code, r.Stderr = -1, r.Stderr+"run enqueue: "+err.Error()
	}
	return result{code: r.Code, stdout: r.Stdout, stderr: r.Stderr, took: r.Took, timedOut: r.TimedOut}
}

// writeLines writes one URL a line to a file in the test's directory and returns its path.
func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "urls.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// missing returns the URLs the sandbox has not accepted yet.
func missing(sb *sandbox.Server, us []string) []string {
	counts := sb.URLCounts()
	var out []string
	for _, u := range us {
		if counts[u] == 0 {
			out = append(out, u)
		}
	}
	return out
}

// sentTwice counts the URLs of us accepted more than once, and the extra sends.
func sentTwice(sb *sandbox.Server, us []string) (urlsTwice, extraSends int) {
	counts := sb.URLCounts()
	for _, u := range us {
		if n := counts[u]; n > 1 {
			urlsTwice++
			extraSends += n - 1
		}
	}
	return urlsTwice, extraSends
}

// codes counts the sandbox's answers by status code.
func codes(sb *sandbox.Server) map[int]int {
	out := map[int]int{}
	for _, r := range sb.Requests() {
		out[r.Code]++
	}
	return out
}

// archivedAll lists the dead letters of every queue of the product.
func archivedAll(t *testing.T, rdb redis.UniversalClient) []*asynq.TaskInfo {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	var out []*asynq.TaskInfo
	for _, q := range tasks.QueueNames() {
		ts, err := insp.ListArchivedTasks(q, asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatalf("list dead letters of %s: %v", q, err)
		}
		out = append(out, ts...)
	}
	return out
}

// failedCounts returns asynq's failure counts (today's and all-time) summed over the queues.
func failedCounts(t *testing.T, rdb redis.UniversalClient) (today, total int) {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, q := range tasks.QueueNames() {
		info, err := insp.GetQueueInfo(q)
		if err != nil && (errors.Is(err, asynq.ErrQueueNotFound) || strings.Contains(err.Error(), "does not exist")) {
			continue // a queue nothing was ever enqueued on
		}
		if err != nil {
			t.Fatalf("queue info %s: %v", q, err)
		}
		today += info.Failed
		total += info.FailedTotal
	}
	return today, total
}

// report logs a measured figure in a form docs/reliability.md quotes: "RESULT name: value".
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("RESULT %s: %s", t.Name(), fmt.Sprintf(format, args...))
}

// redisProc is a redis-server process (plain, replica, sentinel or cluster node) that a test can
// kill and start again on the same port and directory.
type redisProc struct {
	t    *testing.T
	name string
	port int
	dir  string
	args []string // everything but the port, bind, dir and log file
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// newRedis starts redis-server on a free loopback port with args (a config file path first, for
// sentinels) and waits until it answers PING.
func newRedis(t *testing.T, name string, args ...string) *redisProc {
	t.Helper()
	r := &redisProc{t: t, name: name, port: testredis.FreePort(t), dir: t.TempDir(), args: args}
	r.start()
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			t.Logf("%s (port %d) log, last lines:\n%s", r.name, r.port, testkit.Tail(string(b), 15))
		}
	})
	return r
}

func (r *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisProc) url() string  { return "redis://" + r.addr() + "/0" }

// start runs the server (again) and waits until it answers.
func (r *redisProc) start() {
	r.t.Helper()
	var args []string
	if len(r.args) > 0 && strings.HasSuffix(r.args[0], ".conf") {
		args = append(args, r.args[0]) // a config file must come first
		args = append(args, r.args[1:]...)
	} else {
		args = append(args, r.args...)
	}
	args = append(args, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log"), "--daemonize", "no")
	cmd := exec.Command(testredis.Binary(r.t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", r.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1})
	defer c.Close()
	testkit.WaitFor(r.t, 15*time.Second, r.name+" answering PING", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return c.Ping(ctx).Err() == nil
	})
}

// kill sends SIGKILL to the server by pid and waits for it to end.
func (r *redisProc) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// client returns a client of this server, closed when the test ends.
func (r *redisProc) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	r.t.Cleanup(func() { c.Close() })
	return c
}
