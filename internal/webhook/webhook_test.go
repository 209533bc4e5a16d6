package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/cipurge/cipurge/internal/outbound"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/internal/webhook"
)

func newSecret(t *testing.T) (string, []byte) {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	secret := webhook.SecretPrefix + base64.StdEncoding.EncodeToString(raw)
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return secret, key
}

// receiver is a real HTTP server on loopback that verifies each delivery with the Standard
// Webhooks library and records what it got.
type receiver struct {
	mu     sync.Mutex
	got    []http.Header
	bodies [][]byte
	errs   []error
	status int // answer; 0: 204
}

func (r *receiver) serve(t *testing.T, secret string) *httptest.Server {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, req.Header.Clone())
		r.bodies = append(r.bodies, body)
		r.errs = append(r.errs, wh.Verify(body, req.Header))
		if r.status != 0 {
			w.WriteHeader(r.status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func loopbackClient() *outbound.Client {
	return outbound.New(outbound.Options{AllowLoopback: true, Timeout: 5 * time.Second})
}

func event(t *testing.T, request string) webhook.Event {
	t.Helper()
	data, _ := json.Marshal(map[string]any{"request_id": request, "confirmed": 3})
	return webhook.Event{Type: webhook.EventRequestDone, Timestamp: time.Now().UTC(), Data: data}
}

func TestSendVerifiesWithStandardWebhooks(t *testing.T) {
	secret, key := newSecret(t)
	var rc receiver
	srv := rc.serve(t, secret)
	d, err := webhook.NewDelivery(srv.URL+"/hook?token=x", event(t, "r1"), "r1")
	if err != nil {
		t.Fatal(err)
	}
	s := &webhook.Sender{Client: loopbackClient(), Key: key}
	if err := s.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if rc.count() != 2 {
		t.Fatalf("the receiver got %d deliveries, want 2", rc.count())
	}
	for i, err := range rc.errs {
		if err != nil {
			t.Errorf("delivery %d: the Standard Webhooks library refuses the signature: %v", i, err)
		}
	}
	if a, b := rc.got[0].Get(webhook.HeaderID), rc.got[1].Get(webhook.HeaderID); a != b || a == "" {
		t.Errorf("webhook-id %q then %q: want one stable id", a, b)
	}
	if string(rc.bodies[0]) != string(d.Body) {
		t.Errorf("body %s, want %s", rc.bodies[0], d.Body)
	}

	// A wrong key is refused by the library: the check above can fail.
	_, other := newSecret(t)
	bad := &webhook.Sender{Client: loopbackClient(), Key: other}
	if err := bad.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := rc.errs[2]; !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("a delivery signed with another key: the library says %v, want no matching signature", err)
	}
}

func TestSignMatchesTheLibrary(t *testing.T) {
	secret, key := newSecret(t)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1764620000, 0)
	body := []byte(`{"type":"request.done"}`)
	want, err := wh.Sign("msg_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if got := webhook.Sign(key, "msg_1", ts, body); got != want {
		t.Errorf("Sign = %q, the library signs %q", got, want)
	}
}

func TestParseSecretRefusesBadSecrets(t *testing.T) {
	for _, s := range []string{"", "plain-text-secret", "whsec_not*base64", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		_, err := webhook.ParseSecret(s)
		if err == nil {
			t.Errorf("ParseSecret(%q) accepted it", s)
			continue
		}
		if !strings.Contains(err.Error(), "webhook secret") || (s != "" && strings.Contains(err.Error(), s)) {
			t.Errorf("ParseSecret(%q): %v: want the words webhook secret and not the secret", s, err)
		}
	}
}

func TestSendRefusesRedirectAndPlainHTTP(t *testing.T) {
	_, key := newSecret(t)
	var rc receiver
	target := rc.serve(t, webhook.SecretPrefix+base64.StdEncoding.EncodeToString(key))
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	s := &webhook.Sender{Client: loopbackClient(), Key: key}
	for _, u := range []string{redirect.URL, "http://example.com/hook"} {
		d, _ := webhook.NewDelivery(u, event(t, "r2"), "r2")
		if err := s.Send(context.Background(), d); !errors.Is(err, outbound.ErrRefused) {
			t.Errorf("Send to %s: %v, want a refusal", u, err)
		}
	}
	if rc.count() != 0 {
		t.Errorf("the redirect was followed: the target got %d deliveries", rc.count())
	}
}

func TestRetryScheduleLastsADay(t *testing.T) {
	var total time.Duration
	for n := 0; n < webhook.MaxRetry; n++ {
		d := webhook.RetryDelay(n)
		if n > 0 && d < webhook.RetryDelay(n-1) {
			t.Errorf("retry %d waits %v, less than the one before", n, d)
		}
		total += d
	}
	if total < webhook.RetryFor {
		t.Errorf("%d retries span %v, want at least %v", webhook.MaxRetry, total, webhook.RetryFor)
	}
	if total-webhook.RetryDelay(webhook.MaxRetry-1) >= webhook.RetryFor {
		t.Errorf("MaxRetry %d is one more than needed", webhook.MaxRetry)
	}
}

// TestQueueDeliversRetriesAndArchives runs delivery tasks on a private Redis, with retries
// 10 ms apart (asynq rounds them to a second): a delivery the receiver answers with 500 is
// retried (2 times here; MaxRetry in the product) with the same
// webhook-id, then archived, listed by Failed, and Replay delivers it once the receiver is
// fixed. A target the outbound client refuses is archived without a retry.
func TestQueueDeliversRetriesAndArchives(t *testing.T) {
	rs := testredis.Start(t)
	opt := asynq.RedisClientOpt{Addr: rs.Addr()}
	secret, key := newSecret(t)
	var rc receiver
	rc.status = http.StatusInternalServerError
	srv := rc.serve(t, secret)

	sender := &webhook.Sender{Client: loopbackClient(), Key: key}
	_, mux := webhook.NewServer(rs.Client(), asynq.Config{}, sender, webhook.NewMetrics(nil))
	server := asynq.NewServer(opt, asynq.Config{Concurrency: 2, Queues: map[string]int{webhook.Queue: 1},
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 10 * time.Millisecond },
		DelayedTaskCheckInterval: 20 * time.Millisecond})
	if err := server.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Shutdown)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })

	const retries = 2
	d, _ := webhook.NewDelivery(srv.URL, event(t, "r3"), "r3")
	for range 2 {
		if err := webhook.Enqueue(context.Background(), client, d, asynq.MaxRetry(retries)); err != nil {
			t.Fatal(err)
		}
	}
	archived := func(id string) func() bool {
		return func() bool {
			f, err := webhook.Failed(insp, 10)
			for _, ti := range f {
				if ti.ID == id {
					return err == nil
				}
			}
			return false
		}
	}
	waitFor(t, archived(d.ID))
	rc.mu.Lock()
	if len(rc.got) != retries+1 {
		t.Errorf("%d attempts before the archive, want %d", len(rc.got), retries+1)
	}
	for i, h := range rc.got {
		if h.Get(webhook.HeaderID) != d.ID || rc.errs[i] != nil {
			t.Errorf("attempt %d: webhook-id %q (want %q), verification %v", i, h.Get(webhook.HeaderID), d.ID, rc.errs[i])
		}
	}
	rc.status = 0
	before := len(rc.got)
	rc.mu.Unlock()

	if err := webhook.Replay(insp, d.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return rc.count() == before+1 && !archived(d.ID)() })

	bad, _ := webhook.NewDelivery("http://example.com/hook", event(t, "r4"), "r4")
	if err := webhook.Enqueue(context.Background(), client, bad); err != nil {
		t.Fatal(err)
	}
	waitFor(t, archived(bad.ID))
	ti, err := insp.GetTaskInfo(webhook.Queue, bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Retried != 0 {
		t.Errorf("a refused target was retried %d times before the archive, want 0", ti.Retried)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
