package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/webhook"
)

// hookCall is one delivery a receiver got.
type hookCall struct {
	id  string
	ev  cipurge.WebhookEvent
	err error // the Standard Webhooks library's verdict
}

// hookServer is a real HTTP server on loopback with four receivers, by path.
// /good answers 204. /flaky answers 500 to the first attempt of each webhook-id, then 204.
// /redirect answers 302 until fixed, then 204. /hang holds each delivery until the client gives up.
type hookServer struct {
	*httptest.Server
	wh      *standardwebhooks.Webhook
	fixed   atomic.Bool
	hanging atomic.Int32 // deliveries /hang holds now
	mu      sync.Mutex
	calls   map[string][]hookCall // by path
}

func newHookServer(t *testing.T, secret string) *hookServer {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	s := &hookServer{wh: wh, calls: map[string][]hookCall{}}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := hookCall{id: r.Header.Get(webhook.HeaderID), err: s.wh.Verify(body, r.Header)}
	if err := json.Unmarshal(body, &c.ev); err != nil && c.err == nil {
		c.err = err
	}
	s.mu.Lock()
	first := true
	for _, old := range s.calls[r.URL.Path] {
		first = first && old.id != c.id
	}
	s.calls[r.URL.Path] = append(s.calls[r.URL.Path], c)
	s.mu.Unlock()
	switch {
	case r.URL.Path == "/flaky" && first:
		w.WriteHeader(http.StatusInternalServerError)
	case r.URL.Path == "/redirect" && !s.fixed.Load():
		http.Redirect(w, r, s.URL+"/good", http.StatusFound)
	case r.URL.Path == "/hang":
		s.hanging.Add(1)
		<-r.Context().Done()
		s.hanging.Add(-1)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// got returns the deliveries path got.
func (s *hookServer) got(path string) []hookCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hookCall(nil), s.calls[path]...)
}

// count is how many deliveries of event typ about request id path got.
func (s *hookServer) count(path, typ, id string) int {
	n := 0
	for _, c := range s.got(path) {
		if c.ev.Type == typ && c.ev.Data.ID == id {
			n++
		}
	}
	return n
}

// TestWebhooksEndToEnd runs a worker with a webhook secret and a default receiver against real
// receivers on loopback. Each delivery is verified with the Standard Webhooks library.
//   - Each request gets request.done once; a dead-lettered URL gets request.url_dead.
//   - A receiver that answers 500, then 200, gets the same webhook-id twice.
//   - A receiver that redirects is not followed: the delivery is kept, enqueue webhooks ls lists
//     it, and enqueue webhooks replay sends it once the receiver is fixed.
//   - A receiver that hangs holds the one delivery slot, yet a later request is sent and done
//     while it hangs: its own event waits, the invalidations do not.
//   - The worker's log never shows the secret, nor the token in a callback's query.
//
// It runs over 80 lines on purpose: one scenario on real processes, checked from several sides.
func TestWebhooksEndToEnd(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	secret := webhook.SecretPrefix + b64
	hs := newHookServer(t, secret)
	h := newHarness(t, "WEBHOOK_SECRET="+secret, "WEBHOOK_URL="+hs.URL+"/good", "WEBHOOK_CONCURRENCY=1", "LOG_LEVEL=debug")
	bad := "https://img.example.com/wh/rejected.jpg"
	h.SB.RejectURL(bad)
	w := h.startWorker()
	addr := w.Addr(t)

	request := func(args ...string) string {
		t.Helper()
		code, out, stderr := h.enqueue("", args...)
		id := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
		if code != 0 || !store.ValidRequestID(id) {
			t.Fatalf("enqueue %q: exit %d, %s%s", args, code, out, stderr)
		}
		return id
	}
	const cbToken = "cb-token-5e1f0a"
	flaky := request("--callback", hs.URL+"/flaky", "https://img.example.com/wh/f.jpg")
	r1 := request("https://img.example.com/wh/1.jpg", "https://img.example.com/wh/2.jpg")
	r2 := request("--callback", hs.URL+"/good?token="+cbToken, "https://img.example.com/wh/3.jpg", bad)
	redirected := request("--callback", hs.URL+"/redirect", "https://img.example.com/wh/r.jpg")

	testkit.WaitFor(t, 30*time.Second, "request.done of r1 and r2, request.url_dead of r2", func() bool {
		return hs.count("/good", cipurge.EventRequestDone, r1) > 0 && hs.count("/good", cipurge.EventRequestDone, r2) > 0 &&
			hs.count("/good", cipurge.EventURLDead, r2) > 0
	})
	for _, c := range hs.got("/good") {
		if c.ev.Type == cipurge.EventURLDead && (c.ev.Data.URL != bad || c.id != webhook.MessageID(webhook.EventURLDead, r2, bad)) {
			t.Errorf("request.url_dead of r2: url %q, webhook-id %q", c.ev.Data.URL, c.id)
		}
	}
	if d := hs.got("/good"); len(d) > 0 && d[0].ev.Data.URLs == 0 {
		t.Errorf("the event holds no request status: %+v", d[0].ev)
	}

	// The redirect is refused, and the delivery kept at once: listed, then replayed.
	wantID := webhook.MessageID(webhook.EventRequestDone, redirected)
	var listed []webhook.FailedDelivery
	testkit.WaitFor(t, 30*time.Second, "the redirected delivery listed by enqueue webhooks ls", func() bool {
		code, out, _ := h.enqueue("", "webhooks", "ls", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &listed) == nil && len(listed) == 1
	})
	if f := listed[0]; f.ID != wantID || f.Event != cipurge.EventRequestDone || f.Request != redirected || f.Receiver != hs.URL+"/redirect" {
		t.Errorf("webhooks ls: %+v, want %s about %s", f, wantID, redirected)
	}
	if n := len(hs.got("/good")); n != 3 {
		t.Errorf("/good got %d deliveries: the redirect was followed, or an event came twice", n)
	}
	hs.fixed.Store(true)
	if code, out, stderr := h.enqueue("", "webhooks", "replay", wantID); code != 0 {
		t.Fatalf("webhooks replay: exit %d: %s%s", code, out, stderr)
	}
	testkit.WaitFor(t, 30*time.Second, "the replayed delivery", func() bool { return len(hs.got("/redirect")) == 2 })
	if code, out, _ := h.enqueue("", "webhooks", "ls"); code != 0 || !strings.Contains(out, "no failed webhook delivery") {
		t.Errorf("webhooks ls after the replay: exit %d: %s", code, out)
	}
	if code, _, stderr := h.enqueue("", "webhooks", "replay", "msg_unknown"); code != 1 || !strings.Contains(stderr, "no failed delivery has this id") {
		t.Errorf("webhooks replay of an unknown id: exit %d: %s", code, stderr)
	}

	// A hanging receiver holds the only delivery slot. A request made then is sent and done all
	// the same; its event waits for the slot.
	request("--callback", hs.URL+"/hang", "https://img.example.com/wh/h.jpg")
	testkit.WaitFor(t, 30*time.Second, "the hanging receiver to hold a delivery", func() bool { return hs.hanging.Load() == 1 })
	later := testkit.ImageURLs("wh-later", 5)
	r5 := request(later...)
	testkit.WaitFor(t, 30*time.Second, "the later request sent and done", func() bool {
		r, err := store.New(h.RDB).Request(context.Background(), r5)
		return err == nil && !r.Done.IsZero() && invalidatedAll(h.SB, later)
	})
	if hs.hanging.Load() != 1 || hs.count("/good", cipurge.EventRequestDone, r5) != 0 {
		t.Errorf("the later request was done only after the hanging delivery ended: the receiver delayed the invalidations")
	}

	// The 500 is retried (30 s later) with the same webhook-id. The later request's event comes
	// once the hanging attempt times out.
	testkit.WaitFor(t, 90*time.Second, "the retry of the flaky delivery and the later request's event", func() bool {
		return len(hs.got("/flaky")) == 2 && hs.count("/good", cipurge.EventRequestDone, r5) == 1
	})
	if f := hs.got("/flaky"); f[0].id != f[1].id || f[0].id != webhook.MessageID(webhook.EventRequestDone, flaky) {
		t.Errorf("the flaky receiver got webhook-ids %q then %q", f[0].id, f[1].id)
	}
	for _, path := range []string{"/good", "/flaky", "/redirect", "/hang"} {
		for i, c := range hs.got(path) {
			if c.err != nil {
				t.Errorf("%s delivery %d: the Standard Webhooks library refuses it: %v", path, i, c.err)
			}
		}
	}
	for _, id := range []string{r1, r2, r5} {
		if n := hs.count("/good", cipurge.EventRequestDone, id); n != 1 {
			t.Errorf("request %s: %d request.done events, want 1", id, n)
		}
	}
	// The worker's registry counts the deliveries sent: r1, r2 (two events), r5, the flaky retry, the replay.
	_, metrics := testkit.Get(t, "http://"+addr+"/metrics")
	for _, want := range []string{`cipurge_webhook_deliveries_total{result="sent"} 6`, `cipurge_webhook_deliveries_total{result="refused"} 1`,
		`cipurge_webhook_events_total{result="enqueued",type="request.url_dead"} 1`, "cipurge_webhook_delivery_duration_seconds_count"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics does not show %s", want)
		}
	}
	// No delivery task holds the secret.
	keys, err := h.RDB.Keys(context.Background(), taskq.TaskKey(webhook.Queue, "*")).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("the delivery tasks in Redis: %v, %v", keys, err)
	}
	for _, k := range keys {
		v, _ := h.RDB.HGetAll(context.Background(), k).Result()
		if b, _ := json.Marshal(v); strings.Contains(string(b), b64) || strings.Contains(string(b), secret) {
			t.Errorf("the task %s holds the secret", k)
		}
	}
	logs := w.Logs.String()
	if !strings.Contains(logs, "webhook delivery failed for good") {
		t.Errorf("the log does not say the redirected delivery was kept")
	}
	for _, s := range []string{secret, b64, cbToken} {
		if strings.Contains(logs, s) {
			t.Errorf("the worker's log shows %q", s)
		}
	}
}
