package events_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestAuth: every way a sender can present EVENTS_TOKEN works; anything else is 401 with nothing
// enqueued and no log line that holds the token (setup checks every line).
func TestAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	msg := s3Message(t, "minio:s3", [3]string{"s3:ObjectCreated:Put", "media", "auth.jpg"})
	for _, c := range []struct {
		name    string
		path    string
		headers []string
	}{
		{"nothing", events.PathS3, nil},
		{"wrong bearer", events.PathS3, []string{"Authorization: Bearer " + testToken + "x"}},
		{"token as basic user", events.PathS3, []string{"Authorization: Basic " + basic(testToken, "")}},
		{"wrong basic password", events.PathS3, []string{"Authorization: Basic " + basic("sns", "nope")}},
		{"wrong query token", events.PathS3 + "?token=nope", nil},
		{"empty query token", events.PathS3 + "?token=", nil},
		{"unknown path", "/v1/events/nope", nil},
		{"cloudevents", events.PathCloudEvents, []string{"Ce-Specversion: 1.0"}},
		{"handshake with a wrong token", events.PathCloudEvents + "?token=nope", []string{"WebHook-Request-Origin: eventgrid.azure.net"}},
	} {
		method := http.MethodPost
		if strings.HasPrefix(c.name, "handshake") {
			method = http.MethodOptions
		}
		a := e.sendAs(method, c.path, msg, c.headers...)
		if a.Status != http.StatusUnauthorized || a.errorCode(t) != "unauthorized" || string(a.Body) != "{\"code\":\"unauthorized\",\"error\":\"unauthorized\"}\n" {
			t.Errorf("%s: %d %s, want 401 with no detail", c.name, a.Status, a.Body)
		}
		if ch := a.Header.Values("WWW-Authenticate"); len(ch) != 2 {
			t.Errorf("%s: challenges %v, want Bearer and Basic", c.name, ch)
		}
	}
	if p := e.pending(); len(p) != 0 {
		t.Fatalf("enqueued without credentials: %v", p)
	}
	for _, c := range []struct {
		name    string
		path    string
		headers []string
	}{
		{"bearer", events.PathS3, []string{"Authorization: Bearer " + testToken}},
		{"bearer, any case", events.PathS3, []string{"Authorization: bearer " + testToken}},
		{"basic password (SNS)", events.PathS3, []string{"Authorization: Basic " + basic("sns", testToken)}},
		{"query token (Ceph, Eventarc)", events.PathS3 + "?token=" + testToken, nil},
		{"query token beside another bearer (Eventarc's OIDC token)", events.PathS3 + "?token=" + testToken, []string{"Authorization: Bearer google-oidc"}},
	} {
		if a := e.sendAs(http.MethodPost, c.path, msg, c.headers...); a.Status != http.StatusOK {
			t.Errorf("%s: %d %s", c.name, a.Status, a.Body)
		}
	}
	if n := len(e.pending()); n != 1 {
		t.Errorf("%d keys pending, want 1", n)
	}
}

// TestRequestChecks: the endpoint, the method and the size.
func TestRequestChecks(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *events.Options) { o.MaxBytes = 2048 })
	if a := e.send(http.MethodPost, "/v1/events/nope", "{}"); a.Status != http.StatusNotFound || !strings.Contains(string(a.Body), events.PathCloudEvents) {
		t.Errorf("unknown path: %d %s", a.Status, a.Body)
	}
	if a := e.send(http.MethodGet, events.PathS3, ""); a.Status != http.StatusMethodNotAllowed || a.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d %v", a.Status, a.Header)
	}
	big := s3Message(t, "minio:s3", [3]string{"s3:ObjectCreated:Put", "media", strings.Repeat("x", 2048) + ".jpg"})
	a := e.send(http.MethodPost, events.PathS3, big)
	if a.Status != http.StatusRequestEntityTooLarge || a.errorCode(t) != "body_too_large" || !strings.Contains(string(a.Body), "EVENTS_MAX_BYTES=2048") {
		t.Errorf("over the limit: %d %s", a.Status, a.Body)
	}
	if got := testutilRefused(e, events.PathS3, "body_too_large"); got != 1 {
		t.Errorf("cipurge_events_refused_total{code=body_too_large} = %d", got)
	}
	if p := e.pending(); len(p) != 0 {
		t.Errorf("pending: %v", p)
	}
}

// TestDisabled: without EVENTS_TOKEN the paths answer 404 with the hint.
func TestDisabled(t *testing.T) {
	t.Parallel()
	srv := httptestServer(t, events.Disabled())
	for _, p := range []string{events.PathS3, events.PathCloudEvents} {
		resp, err := http.Post(srv+p, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(t, resp)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(b, "set EVENTS_TOKEN") || !strings.Contains(b, "docs/events.md") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
}

// TestRedisUnavailable: while Redis cannot be written (unreachable, or refusing writes when out
// of memory) a delivery is answered 503 with Retry-After and is not acknowledged; once Redis
// takes writes again the same delivery is acknowledged.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	msg := s3Message(t, "minio:s3", [3]string{"s3:ObjectCreated:Put", "media", "a.jpg"}, [3]string{"s3:ObjectRemoved:Delete", "media", "b.jpg"})
	check := func(e *env, what string) {
		t.Helper()
		a := e.send(http.MethodPost, events.PathS3, msg)
		if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") != "3" || a.errorCode(t) != "unavailable" {
			t.Errorf("%s: %d %v %s, want 503 with Retry-After: 3", what, a.Status, a.Header, a.Body)
		}
		if e.count("minio", "ObjectCreated:Put", events.OutcomeUnavailable) != 1 || e.count("minio", "ObjectRemoved:Delete", events.OutcomeUnavailable) != 1 {
			t.Errorf("%s: the events are not counted as unavailable", what)
		}
	}

	// Unreachable: nothing listens on the port.
	r := testredis.Start(t)
	down := redisClient(t, "127.0.0.1:"+itoa(testredis.FreePort(t)))
	check(newEnv(t, down, nil), "unreachable")

	// Refusing: maxmemory 1 byte with noeviction refuses every write (OOM).
	e := newEnv(t, r.Client(), nil)
	ctx := context.Background()
	must(t, e.rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	must(t, e.rdb.ConfigSet(ctx, "maxmemory", "1").Err())
	check(e, "out of memory")
	must(t, e.rdb.ConfigSet(ctx, "maxmemory", "0").Err())
	if len(e.pending()) != 0 {
		t.Fatalf("pending after a refused write: %v", e.pending())
	}
	if s := e.send(http.MethodPost, events.PathS3, msg).summary(t); s.Enqueued != 2 {
		t.Errorf("after Redis took writes again: %+v", s)
	}
}
