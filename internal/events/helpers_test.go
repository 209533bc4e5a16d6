package events_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
)

const (
	testToken = "events-test-token-5be1c7d2" // EVENTS_TOKEN; searched for in every log line
	ciToken   = "demo"                       // CLOUDIMAGE_TOKEN
	// testBuckets maps the buckets of the senders' documented samples.
	testBuckets = "media=https://storage.example.com/media/," +
		"amzn-s3-demo-bucket=https://amzn-s3-demo-bucket.s3.amazonaws.com/," +
		"images=https://minio.example.com/images/," +
		"mybucket1=https://ceph.example.com/mybucket1/," +
		"test-container=https://my-storage-account.blob.core.windows.net/test-container/," +
		"testcontainer=https://my-storage-account.blob.core.windows.net/testcontainer/," +
		"my-bucket=https://storage.googleapis.com/my-bucket/," +
		"photos/public/=https://photos.example.com/," +
		"elsewhere=https://other.cloudimg.io/x/"
)

// env is the receivers on a real HTTP server over a private redis-server.
type env struct {
	t     *testing.T
	rdb   *redis.Client
	prod  *cipurge.Client
	srv   *httptest.Server
	logs  *observer.ObservedLogs
	m     *events.Metrics
	token string
}

// setup starts Redis and the receivers; mod changes the options before New.
func setup(t *testing.T, mod func(*events.Options)) *env {
	t.Helper()
	r := testredis.Start(t)
	return newEnv(t, r.Client(), mod)
}

// newEnv serves the receivers with a producer on client.
func newEnv(t *testing.T, client redis.UniversalClient, mod func(*events.Options)) *env {
	t.Helper()
	norm, err := normalize.New(normalize.Config{Token: ciToken})
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.ParseBuckets(testBuckets)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	m := events.NewMetrics(prometheus.NewRegistry())
	p, err := cipurge.NewClient(client, norm)
	if err != nil {
		t.Fatal(err)
	}
	o := events.Options{Producer: p, Token: testToken, Buckets: b, Log: zap.New(core), Metrics: m, RetryAfter: 3 * time.Second}
	if mod != nil {
		mod(&o)
	}
	srv := httptest.NewServer(events.New(o))
	t.Cleanup(srv.Close)
	rdb, _ := client.(*redis.Client)
	e := &env{t: t, rdb: rdb, prod: p, srv: srv, logs: logs, m: m, token: testToken}
	t.Cleanup(func() { testkit.NoSecretLogged(t, logs, "EVENTS_TOKEN", testToken) })
	return e
}

// answer is one HTTP response, read.
type answer struct{ testkit.Answer }

func (a answer) summary(t *testing.T) events.Summary {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", a.Status, a.Body)
	}
	return testkit.DecodeJSON[events.Summary](t, a.Answer, "a summary")
}

func (a answer) errorCode(t *testing.T) string {
	t.Helper()
	return testkit.DecodeJSON[struct {
		Code string `json:"code"`
	}](t, a.Answer, "a JSON error").Code
}

// send posts body to path with the bearer token and the headers given as "Name: value".
func (e *env) send(method, path, body string, headers ...string) answer {
	e.t.Helper()
	return e.sendAs(method, path, body, append([]string{"Authorization: Bearer " + e.token}, headers...)...)
}

// sendAs is send without the default credentials.
func (e *env) sendAs(method, path, body string, headers ...string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	return answer{testkit.Send(e.t, http.DefaultClient, req)}
}

// pending lists the keys waiting in the pending set.
func (e *env) pending() []string {
	e.t.Helper()
	keys, err := e.rdb.ZRange(context.Background(), store.KeyPending, 0, -1).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}

// source is the source text stored with a pending key.
func (e *env) source(key string) string {
	e.t.Helper()
	s, _ := e.rdb.HGet(context.Background(), store.KeySources, key).Result()
	return s
}

// count is cipurge_events_received_total{source,type,outcome}.
func (e *env) count(source, typ, outcome string) int {
	return int(testutil.ToFloat64(e.m.Received.WithLabelValues(source, typ, outcome)))
}

// sample reads a sender's documented payload from testdata.
func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sameSet(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	m := map[string]int{}
	for _, g := range got {
		m[g]++
	}
	for _, w := range want {
		if m[w] == 0 {
			return false
		}
		m[w]--
	}
	return true
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func testutilRefused(e *env, path, code string) int {
	return int(testutil.ToFloat64(e.m.Refused.WithLabelValues(path, code)))
}

func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func redisClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

func itoa(n int) string { return strconv.Itoa(n) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
