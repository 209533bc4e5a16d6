package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/childproc"
	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
)

// commandBinaries are cmd/worker and cmd/enqueue built for a test, so that exit statuses, stderr
// and peak memory are those of the real programs.
type commandBinaries struct{ worker, enqueue string }

// buildCommands builds cmd/worker and cmd/enqueue into the test's temporary directory.
func buildCommands(t *testing.T) commandBinaries {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+"/",
		"github.com/cipurge/cipurge/cmd/worker", "github.com/cipurge/cipurge/cmd/enqueue").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/worker cmd/enqueue: %v\n%s", err, out)
	}
	return commandBinaries{worker: filepath.Join(dir, "worker"), enqueue: filepath.Join(dir, "enqueue")}
}

// commandRun is the outcome of running a binary.
type commandRun struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runCommandBinary runs bin with exactly environ (nothing inherited) and kills it after timeout.
func runCommandBinary(t *testing.T, bin string, environ []string, timeout time.Duration, args ...string) commandRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := childproc.Run(ctx, bin, args, environ, nil)
	if r.TimedOut {
		t.Fatalf("%s %v did not exit within %s:\n%s%s", filepath.Base(bin), args, timeout, r.Stdout, r.Stderr)
	}
	if err != nil {
		t.Fatalf("run %s: %v", bin, err)
	}
	return commandRun{code: r.Code, stdout: r.Stdout, stderr: r.Stderr, took: r.Took}
}

// TestConfigErrorsAreOneLine: for both commands, a malformed value of every PURGE_* variable (each
// type: durations, whole numbers, numbers, booleans), values out of range, other malformed
// variables, an unreachable Redis and a wrong or missing Redis password each end the program with
// exit status 2 and one line on stderr that names the cause, without a stack trace, and without
// the password.
// It runs over 80 lines on purpose: it builds the table of cases, then runs each against both commands.
func TestConfigErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	bins := buildCommands(t)
	const password = "s3cret-redis-pass-91f"
	locked := testredis.Start(t)
	// testredis waits for PING without a password, so the password is set once it answers.
	must(t, locked.Client().ConfigSet(context.Background(), "requirepass", password).Err())
	free := testredis.FreePort(t)

	type tcase struct {
		name  string
		env   []string
		wants []string // every one must appear on the error line
	}
	var cases []tcase
	// A malformed value of every PURGE_* variable, by its Go type.
	purge := reflect.TypeOf(config.Purge{})
	for i := range purge.NumField() {
		f := purge.Field(i)
		name := f.Tag.Get("env")
		var bad string
		switch {
		case f.Type == reflect.TypeOf(time.Duration(0)):
			bad = "ten seconds"
		case f.Type.Kind() == reflect.Int:
			bad = "12abc"
		case f.Type.Kind() == reflect.Float64:
			bad = "fast"
		case f.Type.Kind() == reflect.Bool:
			bad = "maybe"
		default:
			t.Fatalf("%s has type %s: add a malformed value for it", name, f.Type)
		}
		cases = append(cases, tcase{"malformed " + name, []string{name + "=" + bad}, []string{name}})
	}
	if len(cases) < 15 {
		t.Fatalf("found only %d PURGE_* variables by reflection; the test would prove little", len(cases))
	}
	cases = append(cases,
		tcase{"PURGE_BATCH_SIZE over the API's cap", []string{"PURGE_BATCH_SIZE=16"}, []string{"PURGE_BATCH_SIZE", "15"}},
		tcase{"PURGE_WINDOW too short", []string{"PURGE_WINDOW=1ms"}, []string{"PURGE_WINDOW"}},
		tcase{"PURGE_RATE negative", []string{"PURGE_RATE=-1"}, []string{"PURGE_RATE"}},
		tcase{"PURGE_MAX_RETRY out of range", []string{"PURGE_MAX_RETRY=1000"}, []string{"PURGE_MAX_RETRY"}},
		tcase{"PURGE_BACKOFF_MAX below base", []string{"PURGE_BACKOFF_BASE=10s", "PURGE_BACKOFF_MAX=1s"}, []string{"PURGE_BACKOFF_MAX"}},
		tcase{"LOG_LEVEL unknown", []string{"LOG_LEVEL=loud"}, []string{"LOG_LEVEL"}},
		tcase{"LOG_FORMAT unknown", []string{"LOG_FORMAT=xml"}, []string{"LOG_FORMAT"}},
		tcase{"CLOUDIMAGE_SANDBOX malformed", []string{"CLOUDIMAGE_SANDBOX=perhaps"}, []string{"CLOUDIMAGE_SANDBOX"}},
		tcase{"INTAKE_MAX_BYTES malformed", []string{"INTAKE_MAX_BYTES=1MB"}, []string{"INTAKE_MAX_BYTES"}},
		tcase{"REDIS_URL malformed", []string{"REDIS_URL=http://127.0.0.1:6379"}, []string{"REDIS_URL"}},
		tcase{"REDIS_SENTINEL_ADDRS without master", []string{"REDIS_SENTINEL_ADDRS=127.0.0.1:26379"}, []string{"REDIS_SENTINEL_MASTER"}},
		tcase{"REDIS_TLS_CA_FILE without rediss", []string{"REDIS_TLS_CA_FILE=/nonexistent/ca.pem"}, []string{"REDIS_TLS_CA_FILE", "rediss://"}},
		tcase{"Redis unreachable", []string{"REDIS_URL=redis://127.0.0.1:" + strconv.Itoa(free) + "/0"}, []string{"cannot reach Redis", strconv.Itoa(free), "REDIS_URL"}},
		tcase{"Redis password wrong", []string{"REDIS_URL=redis://:wrong-" + password + "@" + locked.Addr() + "/0"}, []string{"cannot reach Redis", "password"}},
		tcase{"Redis password missing", []string{"REDIS_URL=" + locked.URL()}, []string{"cannot reach Redis", "password"}},
	)

	base := testkit.Env{
		"REDIS_URL":          "redis://127.0.0.1:" + strconv.Itoa(free) + "/0",
		"CLOUDIMAGE_API_KEY": testKey, "CLOUDIMAGE_API_URL": "http://127.0.0.1:1", "CLOUDIMAGE_TOKEN": "demo",
		"HTTP_ADDR": "127.0.0.1:0",
	}
	commands := []struct {
		name string
		bin  string
		args []string
	}{
		{"worker", bins.worker, nil},
		{"enqueue", bins.enqueue, []string{"https://img.example.com/config/a.jpg"}},
		{"enqueue status", bins.enqueue, []string{"status"}},
	}
	var mu sync.Mutex
	var slowest time.Duration
	for _, c := range cases {
		for _, cmd := range commands {
			t.Run(cmd.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				r := runCommandBinary(t, cmd.bin, base.With(c.env...).List(), 60*time.Second, cmd.args...)
				mu.Lock()
				slowest = max(slowest, r.took)
				mu.Unlock()
				msg := strings.TrimRight(r.stderr, "\n")
				t.Logf("exit %d: %s", r.code, msg)
				if r.code != 2 {
					t.Errorf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
				}
				if strings.Contains(msg, "\n") || msg == "" {
					t.Errorf("stderr is not one line:\n%s", r.stderr)
				}
				if prefix := strings.Fields(cmd.name)[0] + ": "; !strings.HasPrefix(msg, prefix) {
					t.Errorf("the error does not start with %q: %s", prefix, msg)
				}
				for _, w := range c.wants {
					if !strings.Contains(msg, w) {
						t.Errorf("the error does not name %q: %s", w, msg)
					}
				}
				for _, leak := range []string{"goroutine ", "panic", password, testKey} {
					if strings.Contains(r.stderr+r.stdout, leak) {
						t.Errorf("output contains %q:\n%s%s", leak, r.stdout, r.stderr)
					}
				}
			})
		}
	}
	t.Cleanup(func() {
		t.Logf("%d cases x %d commands; the slowest took %s", len(cases), len(commands), slowest.Round(time.Millisecond))
	})
}

// TestMisspeltVariableIsNamed: both commands name a variable with a product prefix that is not a
// setting, with the setting meant, and go on (the worker here stops at the unreachable Redis).
func TestMisspeltVariableIsNamed(t *testing.T) {
	bins := buildCommands(t)
	env := []string{"PURGE_RATES=5", "CLOUDIMAGE_SANDBOX=true", "CLOUDIMAGE_TOKEN=demo", "REDIS_URL=redis://127.0.0.1:1/0"}
	want := "PURGE_RATES is not a setting; did you mean PURGE_RATE?"
	w := runCommandBinary(t, bins.worker, env, time.Minute)
	if w.code != 2 || !strings.Contains(w.stderr, want) || !strings.Contains(w.stderr, "REDIS_URL") {
		t.Errorf("worker: exit %d, stderr:\n%s\nwant exit 2 at Redis, after %q", w.code, w.stderr, want)
	}
	e := runCommandBinary(t, bins.enqueue, env, time.Minute, "--dry-run", "https://img.example.com/a.jpg")
	if e.code != 0 || !strings.Contains(e.stderr, "enqueue: warning: "+want) {
		t.Errorf("enqueue --dry-run: exit %d, stderr:\n%s\nwant exit 0 and %q", e.code, e.stderr, want)
	}
}
