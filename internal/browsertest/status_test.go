//go:build browser

package browsertest

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testkit/testworker"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// The product's /status page, rendered by Chromium: what waits (count, oldest), the queues, the
// send rate against the configured one, the time to drain, the shared 429 pause, a queue paused by
// an operator, the last dead letter with its reason, and the lookup of a URL in another form
// (its canonical key, dead-lettered, the task ID dlq replay takes).
// It runs over 80 lines on purpose: one browser session over a worker's state, built step by step.
func TestStatusPageInChromium(t *testing.T) {
	chromium := findChromium(t)
	shots := screenshotDir(t)

	r := testredis.Start(t)
	rdb := r.Client()
	sb, apiURL := testkit.StartSandbox(t, testKey)
	bad := "https://img.example.com/status-page/rejected.jpg"
	sb.RejectURL(bad)
	// A window long enough that the requests enqueued last still wait in it when the page is
	// rendered (the batcher would otherwise form them into tasks at once).
	env := workerEnv(r.URL(), apiURL, "PURGE_WINDOW=15s", "PURGE_MAX_DELAY=15s", "PURGE_RATE=2", "PURGE_BURST=1", "PURGE_BATCH_SIZE=5")
	base := "http://" + testworker.Start(t, env).Addr(t)

	enqueue(t, env, bad)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	dead := deadLetter(t, insp, 60*time.Second)
	// Cloudimage throttles: the next call meets a 429 with Retry-After 600, and every worker pauses.
	sb.RateLimitFor(time.Hour, "600")
	var waiting []string
	for i := range 40 {
		waiting = append(waiting, "https://img.example.com/status-page/waiting/"+string(rune('a'+i%26))+string(rune('a'+i/26))+".jpg")
	}
	enqueue(t, env, waiting...)
	st := store.New(rdb)
	testkit.WaitFor(t, 60*time.Second, "the shared pause after a 429", func() bool {
		_, left, err := st.PauseState(t.Context())
		return err == nil && left > 0
	})
	// More requests arrive during the pause and wait for their window and their turn.
	enqueue(t, env, "https://img.example.com/status-page/late/1.jpg", "https://img.example.com/status-page/late/2.jpg")
	// An operator pauses the bulk queue (asynq queue pause); it needs a task to exist first.
	enqueue(t, env, "--bulk", "https://img.example.com/status-page/bulk/1.jpg")
	if err := insp.PauseQueue(tasks.QueueBulk); err != nil {
		t.Fatal(err)
	}

	shot := filepath.Join(shots, "status.png")
	page := renderAndShoot(t, chromium, base+"/status", shot)
	checkPNG(t, shot)
	text := visibleText(page)
	for _, want := range []string{
		`id="waiting"`, "URLs waiting for their window", "oldest",
		`id="queues"`, ">purge<", ">bulk<", ">paused<",
		`id="rate"`, "calls/s", "configured 2 calls/s (workers)",
		`id="drain"`, "API calls of backlog",
		`id="shared-pause"`, "Sending is paused for every worker", "429", "Retry-After",
		`id="paused-queue"`, "Queue bulk is paused by an operator", "asynq queue unpause bulk",
		`id="dead-letters"`, dead.ID, bad, "400 Bad Request",
		`id="workers"`, `id="lookup"`, `id="recent-requests"`, `id="request-lookup"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the rendered /status does not show %q:\n%.4000s", want, text)
		}
	}
	if strings.Contains(page, "none waiting") {
		t.Errorf("/status says no URL waits:\n%.3000s", text)
	}

	// The lookup box, with the CDN form of the dead URL (a resize on the token's domain).
	cdn := "https://demo.cloudimg.io/img.example.com/status-page/rejected.jpg?w=600"
	lookupURL := base + "/status?url=" + url.QueryEscape(cdn)
	lshot := filepath.Join(shots, "status-lookup.png")
	lookup := renderAndShoot(t, chromium, lookupURL, lshot)
	checkPNG(t, lshot)
	for _, want := range []string{`id="history"`, bad, "dead-lettered", "enqueue dlq replay " + dead.ID, "400"} {
		if !strings.Contains(lookup, want) {
			t.Errorf("the lookup of %s does not show %q:\n%.3000s", cdn, want, visibleText(lookup))
		}
	}
	late := renderDOM(t, chromium, base+"/status?url="+url.QueryEscape("img.example.com/status-page/late/2.jpg"))
	if !strings.Contains(late, "https://img.example.com/status-page/late/2.jpg") || !strings.Contains(late, "waiting for its window") {
		t.Errorf("the lookup of a URL that waits does not say where it waits:\n%.3000s", visibleText(late))
	}

	// The same data as JSON.
	req, _ := http.NewRequest(http.MethodGet, base+"/status?url="+url.QueryEscape(cdn), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Status struct {
			WaitingURLs     int64    `json:"urls_in_window"`
			Paused          string   `json:"paused"`
			PausedQueues    []string `json:"paused_queues"`
			ConfiguredRate  float64  `json:"configured_rate"`
			LastDeadLetters []struct {
				ID string `json:"id"`
			} `json:"last_dead_letters"`
		} `json:"status"`
		Lookup struct {
			Key, State, Task string
		} `json:"lookup"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/status as JSON: %v, %s", err, resp.Header.Get("Content-Type"))
	}
	if v.Status.Paused == "" || len(v.Status.PausedQueues) != 1 || v.Status.ConfiguredRate != 2 ||
		len(v.Status.LastDeadLetters) != 1 || v.Status.LastDeadLetters[0].ID != dead.ID ||
		v.Lookup.Key != bad || v.Lookup.State != "dead" || v.Lookup.Task != dead.ID {
		t.Errorf("/status JSON: %+v", v)
	}
	for name, dom := range map[string]string{"status": page, "lookup": lookup} {
		if strings.Contains(dom, testKey) {
			t.Errorf("the %s page shows the API key", name)
		}
	}
	root := renderDOM(t, chromium, base+"/")
	if !strings.Contains(root, `href="/status"`) || !strings.Contains(root, `href="/monitoring/"`) {
		t.Errorf("/ does not link the status page and asynqmon:\n%s", root)
	}
	t.Logf("screenshots: %s, %s", shot, lshot)
}

// checkPNG checks that a screenshot is a page that rendered: a PNG of the window's size with more
// than a few colours (a blank or error page has one or two).
func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	bounds := img.Bounds()
	if bounds.Dx() < 800 || bounds.Dy() < 600 {
		t.Errorf("%s is %dx%d, want the 1400x900 window", path, bounds.Dx(), bounds.Dy())
	}
	colours := map[[3]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 3 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	if len(colours) < 16 {
		t.Errorf("%s has %d colours: the page did not render", path, len(colours))
	}
	_ = image.Point{}
}
