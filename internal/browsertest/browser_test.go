//go:build browser

package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testkit/testworker"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

const (
	testKey = "ci-test-key-browser-2c71a0"
	badURL  = "https://img.example.com/browser/rejected-by-cloudimage.jpg"
)

// The asynqmon UI, rendered by Chromium, shows the queues with their backlog, and the dead letter
// (its task ID and its URL) on the archived page of its queue.
func TestAsynqmonInChromium(t *testing.T) {
	chromium := findChromium(t)
	shots := screenshotDir(t)

	r := testredis.Start(t)
	rdb := r.Client()
	sb, apiURL := testkit.StartSandbox(t, testKey)
	sb.RejectURL(badURL)
	// One API call a minute: after the first call, the bulk backlog stays queued for the test.
	env := workerEnv(r.URL(), apiURL, "PURGE_RATE=0.016", "PURGE_BURST=1")
	base := "http://" + testworker.Start(t, env).Addr(t)

	// A dead letter: the sandbox answers 400 for badURL, the worker archives the request with the reason.
	enqueue(t, env, badURL)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	dead := deadLetter(t, insp, 30*time.Second)
	// A backlog of bulk work, held by the rate limit.
	var urls []string
	for i := range 3000 {
		urls = append(urls, "https://img.example.com/browser/bulk/"+strconv.Itoa(i)+".jpg")
	}
	enqueue(t, env, append([]string{"--bulk"}, urls...)...)
	qi, err := insp.GetQueueInfo(tasks.QueueBulk)
	if err != nil || qi.Size-qi.Completed < 2 {
		t.Fatalf("bulk backlog: %+v (err %v), want bulk tasks still queued", qi, err)
	}

	// The home page: the queues table.
	home := renderAndShoot(t, chromium, base+"/monitoring/", filepath.Join(shots, "queues.png"))
	for _, q := range []string{tasks.QueueInteractive, tasks.QueueBulk} {
		if !strings.Contains(home, ">"+q+"<") {
			t.Errorf("the rendered queues page does not show queue %q", q)
		}
	}
	if !strings.Contains(strings.ToLower(home), "queues") {
		t.Errorf("the rendered page has no queues table:\n%.2000s", home)
	}

	// The dead letters of the purge queue.
	archivedURL := base + "/monitoring/queues/" + tasks.QueueInteractive + "?status=archived"
	archived := renderAndShoot(t, chromium, archivedURL, filepath.Join(shots, "archived.png"))
	// asynqmon lists a task ID only up to its first "-" (it expects UUIDs): the full ID is on the
	// task's own page below; here the row is recognised by its URL and type.
	for _, want := range []string{badURL, tasks.TypeURLs, "Cloudimage rejected this request"} {
		if !strings.Contains(archived, want) {
			t.Errorf("the rendered archived page does not show %q:\n%.3000s", want, visibleText(archived))
		}
	}

	// The task's own page: payload and the reason it was dead-lettered.
	taskURL := base + "/monitoring/queues/" + tasks.QueueInteractive + "/tasks/" + dead.ID
	task := renderAndShoot(t, chromium, taskURL, filepath.Join(shots, "task.png"))
	for _, want := range []string{dead.ID, badURL, "archived", "400 Bad Request"} {
		if !strings.Contains(task, want) {
			t.Errorf("the rendered task page does not show %q:\n%.3000s", want, visibleText(task))
		}
	}

	for name, dom := range map[string]string{"queues": home, "archived": archived, "task": task} {
		if strings.Contains(dom, testKey) {
			t.Errorf("the %s page shows the API key", name)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// workerEnv is the environment of the worker a browser test starts: the Redis at redisURL, the
// sandbox at apiURL, short windows, no confirmation, HTTP on a free loopback port (there the UI
// needs no password), changed by extra "KEY=value" pairs.
func workerEnv(redisURL, apiURL string, extra ...string) []string {
	return testkit.Env{
		"REDIS_URL": redisURL, "CLOUDIMAGE_API_URL": apiURL, "CLOUDIMAGE_API_KEY": testKey, "CLOUDIMAGE_TOKEN": "demo",
		"PURGE_WINDOW": "200ms", "PURGE_MAX_DELAY": "1s", "PURGE_CONFIRM": "false", "PURGE_SHUTDOWN_TIMEOUT": "2s",
		"HTTP_ADDR": "127.0.0.1:0",
	}.With(extra...).List()
}

// findChromium returns Debian's chromium, or fails with the fix (browser tests never skip).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not on the PATH: install it (apt-get install -y chromium) to run the browser test")
	return ""
}

// screenshotDir is BROWSER_SHOTS, or tmp/browser/ at the module root (ignored by git).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BROWSER_SHOTS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "tmp", "browser")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromiumArgs are the flags for a headless run that talks to nothing but the loopback: every
// other host name resolves to nothing (asynqmon's page asks Google Fonts for its fonts).
func chromiumArgs(t *testing.T) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,900", "--virtual-time-budget=15000",
	}
}

// runChromium runs chromium with args and returns its standard output. It is stopped (its whole
// process group, by the group id of the process started here) if it runs past 2 minutes.
func runChromium(t *testing.T, chromium string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", args[len(args)-1], err, testkit.Tail(errb.String(), 20))
	}
	return out.String()
}

// renderDOM loads url in Chromium, lets the page run its scripts (virtual time), and returns the DOM.
func renderDOM(t *testing.T, chromium, url string) string {
	t.Helper()
	dom := runChromium(t, chromium, append(chromiumArgs(t), "--dump-dom", url)...)
	if !strings.Contains(dom, "<html") {
		t.Fatalf("chromium returned no DOM for %s: %.500q", url, dom)
	}
	return dom
}

// screenshot saves a PNG of url (outside the repository's tracked files).
func screenshot(t *testing.T, chromium, url, path string) {
	t.Helper()
	_ = os.Remove(path)
	runChromium(t, chromium, append(chromiumArgs(t), "--screenshot="+path, url)...)
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("no PNG screenshot of %s at %s (err %v, %d bytes)", url, path, err, len(b))
	}
}

// renderAndShoot returns the DOM of url, as renderDOM does, and saves a screenshot of it at path.
func renderAndShoot(t *testing.T, chromium, url, path string) string {
	t.Helper()
	dom := renderDOM(t, chromium, url)
	screenshot(t, chromium, url, path)
	return dom
}

// deadLetter waits up to timeout for the one dead letter of the purge queue, and returns it.
func deadLetter(t *testing.T, insp *asynq.Inspector, timeout time.Duration) *asynq.TaskInfo {
	t.Helper()
	var dead *asynq.TaskInfo
	testkit.WaitFor(t, timeout, "the rejected URL to be dead-lettered", func() bool {
		ts, _ := insp.ListArchivedTasks(tasks.QueueInteractive)
		if len(ts) == 1 {
			dead = ts[0]
		}
		return dead != nil
	})
	return dead
}

var tagRE = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]+>`)

// visibleText strips tags from a DOM dump, for failure messages.
func visibleText(dom string) string {
	return strings.Join(strings.Fields(tagRE.ReplaceAllString(dom, " ")), " ")
}

func enqueue(t *testing.T, env []string, args ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := enqueuecmd.Run(context.Background(), args, env, strings.NewReader(""), &out, &errb)
	if err != nil {
		t.Fatalf("enqueue %s: %v\n%s%s", strings.Join(args[:min(len(args), 3)], " "), err, out.String(), errb.String())
	}
}
