package worker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// hookReceiver is a real HTTP receiver on loopback. It verifies every delivery with the Standard
// Webhooks library. It answers 500 to the first attempt of each webhook-id, then 204.
type hookReceiver struct {
	wh     *standardwebhooks.Webhook
	mu     sync.Mutex
	ids    []string
	bodies [][]byte
	errs   []error
}

func (rc *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	id := r.Header.Get(webhook.HeaderID)
	first := true
	for _, seen := range rc.ids {
		first = first && seen != id
	}
	rc.ids = append(rc.ids, id)
	rc.bodies = append(rc.bodies, body)
	rc.errs = append(rc.errs, rc.wh.Verify(body, r.Header))
	if first {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *hookReceiver) attempts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.ids)
}

// startReceiver starts a hookReceiver on loopback that verifies with a fresh secret. It returns
// the secret, the receiver and its server.
func startReceiver(t *testing.T) (string, *hookReceiver, *httptest.Server) {
	t.Helper()
	secret := newWebhookSecret(t)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &hookReceiver{wh: wh}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return secret, rc, srv
}

func newWebhookSecret(t *testing.T) string {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(raw)
}

// finishRequest makes a request of urls with callback, then sends and confirms them through the
// handlers: the request becomes done. It returns the request's ID.
func finishRequest(t *testing.T, w *Worker, api *failOnceAPI, callback string, urls ...string) string {
	t.Helper()
	id, _, _, err := w.store.NewRequest(context.Background(), urls, store.NewRequestOptions{Confirm: true, Link: true, Callback: callback})
	if err != nil {
		t.Fatal(err)
	}
	sendAndConfirm(t, w, api, urls...)
	return id
}

// sendAndConfirm sends urls through w's handlers, on its account's queues, and confirms them.
func sendAndConfirm(t *testing.T, w *Worker, api *failOnceAPI, urls ...string) {
	t.Helper()
	ctx := context.Background()
	q := tasks.QueuesOf(w.cfg.Account)
	task, err := taskq.NewURLsTask(tasks.URLs{URLs: urls, RequestedAt: time.Now().Add(-time.Second).UTC(), Origin: tasks.OriginInteractive},
		q.Interactive, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.handleURLs(ctx, task); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	uuid := fmt.Sprintf("00000000-0000-4000-8000-%012d", api.n)
	api.mu.Unlock()
	ct, err := taskq.NewConfirmTask(tasks.Confirm{UUID: uuid, URLs: urls, SentAt: time.Now().UTC()}, q.Confirm, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.handleConfirm(ctx, ct); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookDoneIsDeliveredAndRetried: a request that becomes done gets one request.done
// event. The receiver answers 500, then 200 to the retry: it gets the same webhook-id twice,
// each verified by the Standard Webhooks library. The body is the request's status.
func TestWebhookDoneIsDeliveredAndRetried(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	secret, rc, srv := startReceiver(t)
	api := &failOnceAPI{sent: map[string][]string{}, failing: map[string]bool{}}
	m := NewMetrics(nil)
	w := mustNew(t, Config{Confirm: true, Token: "demo", Webhook: webhook.Config{Secret: secret}, WebhookRetry: 10 * time.Millisecond},
		rdb, api, zap.NewNop(), m)
	stop, err := w.runHooks()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	id := finishRequest(t, w, api, srv.URL+"/hook?token=t1", "https://img.example.com/wh/a.jpg", "https://img.example.com/wh/b.jpg")
	testkit.WaitFor(t, 20*time.Second, "the delivery, its retry, and the count of sent", func() bool {
		return rc.attempts() >= 2 && testutil.ToFloat64(m.Webhook.Deliveries.WithLabelValues("sent")) == 1
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.ids) != 2 || rc.ids[0] != rc.ids[1] || rc.ids[0] != webhook.MessageID(webhook.EventRequestDone, id) {
		t.Errorf("webhook-ids %q: want twice %q", rc.ids, webhook.MessageID(webhook.EventRequestDone, id))
	}
	for i, err := range rc.errs {
		if err != nil {
			t.Errorf("attempt %d: the Standard Webhooks library refuses it: %v", i, err)
		}
	}
	var ev struct { // cipurge.WebhookEvent's fields: internal/e2e decodes with that type
		Type      string
		Timestamp time.Time
		Data      inspect.WebhookData
	}
	if err := json.Unmarshal(rc.bodies[1], &ev); err != nil {
		t.Fatal(err)
	}
	d := ev.Data
	if ev.Type != webhook.EventRequestDone || d.ID != id || !d.Done || d.URLs != 2 || d.Confirmed != 2 ||
		d.DoneMeans != inspect.DoneMeansConfirmed || d.DoneAt == nil || !ev.Timestamp.Equal(*d.DoneAt) {
		t.Errorf("the event: %s", rc.bodies[1])
	}
	if d.Callback != srv.URL+"/hook" {
		t.Errorf("the event shows the callback %q: want it without its query", d.Callback)
	}
	for r, want := range map[string]float64{"enqueued": 1, "error": 0, "no_secret": 0} {
		if n := testutil.ToFloat64(m.Webhook.Events.WithLabelValues(webhook.EventRequestDone, r)); n != want {
			t.Errorf("cipurge_webhook_events_total{type=request.done,result=%s} = %v, want %v", r, n, want)
		}
	}
	if n := testutil.ToFloat64(m.Webhook.Deliveries.WithLabelValues("failed")); n != 1 {
		t.Errorf("cipurge_webhook_deliveries_total{result=failed} = %v, want 1", n)
	}
}

// TestWebhookWithoutSecret: a request names a callback, but the worker has no secret. Nothing
// is enqueued; the worker says so once, and counts each event.
func TestWebhookWithoutSecret(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	core, logs := observer.New(zapcore.WarnLevel)
	api := &failOnceAPI{sent: map[string][]string{}, failing: map[string]bool{}}
	m := NewMetrics(nil)
	w := mustNew(t, Config{Confirm: true, Token: "demo"}, rdb, api, zap.New(core), m)
	finishRequest(t, w, api, "https://hooks.example.com/a", "https://img.example.com/wh/c.jpg")
	finishRequest(t, w, api, "https://hooks.example.com/b", "https://img.example.com/wh/d.jpg")
	if n := testutil.ToFloat64(m.Webhook.Events.WithLabelValues(webhook.EventRequestDone, webhook.EventNoSecret)); n != 2 {
		t.Errorf("no_secret events = %v, want 2", n)
	}
	if n := logs.FilterMessageSnippet("WEBHOOK_SECRET is not set").Len(); n != 1 {
		t.Errorf("the missing secret is logged %d times, want once", n)
	}
	if n, _ := rdb.Exists(context.Background(), taskq.PendingKey(webhook.Queue)).Result(); n != 0 {
		t.Errorf("a delivery was enqueued without a secret")
	}
}

// TestWebhookOutboxSurvivesAKill: worker a moves two requests to done and dies before any
// delivery is enqueued: its outbox loop never ran. Worker b took the first event and died too,
// before the enqueue. A fresh worker delivers both, each under its request's webhook-id.
func TestWebhookOutboxSurvivesAKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client()
	secret, rc, srv := startReceiver(t)
	api := &failOnceAPI{sent: map[string][]string{}, failing: map[string]bool{}}
	cfg := Config{Confirm: true, Token: "demo", Webhook: webhook.Config{Secret: secret}, WebhookRetry: 10 * time.Millisecond}
	a := mustNew(t, cfg, rdb, api, zap.NewNop(), nil)
	first := finishRequest(t, a, api, srv.URL+"/hook", "https://img.example.com/wh/k1.jpg")
	second := finishRequest(t, a, api, srv.URL+"/hook", "https://img.example.com/wh/k2.jpg")
	if n, _ := rdb.Exists(ctx, taskq.PendingKey(webhook.Queue)).Result(); n != 0 {
		t.Fatal("a delivery was enqueued without the outbox loop")
	}
	if got, err := a.store.TakeOutbox(ctx, 1, time.Minute); err != nil || len(got) != 1 || got[0].Request != first {
		t.Fatalf("worker b took %+v, %v: want the first event", got, err)
	}

	cfg.OutboxCheck, cfg.OutboxLease = 20*time.Millisecond, 200*time.Millisecond
	m := NewMetrics(nil)
	fresh := mustNew(t, cfg, rdb, api, zap.NewNop(), m)
	stop, err := fresh.runHooks()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	want := map[string]bool{webhook.MessageID(webhook.EventRequestDone, first): true, webhook.MessageID(webhook.EventRequestDone, second): true}
	testkit.WaitFor(t, 20*time.Second, "both events delivered, after a retry each", func() bool {
		return testutil.ToFloat64(m.Webhook.Deliveries.WithLabelValues("sent")) >= 2
	})
	testkit.WaitFor(t, 20*time.Second, "the outbox empty", func() bool {
		w, tk, err := fresh.store.OutboxLen(ctx)
		return err == nil && w == 0 && tk == 0
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, id := range rc.ids {
		if !want[id] {
			t.Errorf("attempt %d has webhook-id %q: want one of %v", i, id, want)
		}
		if rc.errs[i] != nil {
			t.Errorf("attempt %d: the Standard Webhooks library refuses it: %v", i, rc.errs[i])
		}
	}
	for id := range want {
		if !slices.Contains(rc.ids, id) {
			t.Errorf("webhook-id %s never arrived", id)
		}
	}
}

// TestWebhookDoneOfSeveralAccounts: a request whose URLs span two accounts has a part in each
// lane. The part that is done first sends nothing; the last one sends one request.done for the
// whole request, its counts added up and both accounts named.
func TestWebhookDoneOfSeveralAccounts(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	secret, rc, srv := startReceiver(t)
	api := &failOnceAPI{sent: map[string][]string{}, failing: map[string]bool{}}
	m := NewMetrics(nil)
	core, logs := observer.New(zapcore.DebugLevel)
	lane := func(account string) *Worker {
		return mustNew(t, Config{Account: account, Confirm: true, Token: "demo", Webhook: webhook.Config{Secret: secret}, WebhookRetry: 10 * time.Millisecond},
			rdb, api, zap.New(core), m)
	}
	wa, wb := lane("shop-a"), lane("shop-b")
	NewLanes(wa, wb)
	for _, w := range []*Worker{wa, wb} {
		stop, err := w.runHooks()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	ctx := context.Background()
	id := store.NewRequestID()
	callback := srv.URL + "/hook"
	opts := func(w *Worker) store.NewRequestOptions {
		return store.NewRequestOptions{ID: id, Account: w.cfg.Account, Confirm: true, Link: true, Callback: callback}
	}
	// Both parts open first, as the Go client opens them; each is then filled, ended and sent.
	for _, w := range []*Worker{wa, wb} {
		if _, _, err := w.store.OpenRequest(ctx, opts(w)); err != nil {
			t.Fatal(err)
		}
	}
	finish := func(w *Worker, urls ...string) {
		t.Helper()
		if _, _, err := w.store.AddToRequest(ctx, id, urls, opts(w), true); err != nil {
			t.Fatal(err)
		}
		sendAndConfirm(t, w, api, urls...)
	}
	finish(wa, "https://img.example.com/wh/sa1.jpg", "https://img.example.com/wh/sa2.jpg")
	// shop-a's part is done: wait until its lane read it so, with shop-b's not done.
	testkit.WaitFor(t, 20*time.Second, "shop-a's part read done, the other not", func() bool {
		return logs.FilterMessageSnippet("its other parts are not yet").Len() > 0
	})
	finish(wb, "https://img.example.com/wh/sb1.jpg")
	testkit.WaitFor(t, 20*time.Second, "the delivery and its retry", func() bool { return rc.attempts() >= 2 })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, b := range rc.bodies {
		var ev struct{ Data inspect.WebhookData }
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		d := ev.Data
		if !d.Done || d.URLs != 3 || d.Confirmed != 3 || !slices.Equal(d.Accounts, []string{"shop-a", "shop-b"}) || rc.ids[i] != webhook.MessageID(webhook.EventRequestDone, id) {
			t.Errorf("delivery %d (%s): %s", i, rc.ids[i], b)
		}
	}
}
