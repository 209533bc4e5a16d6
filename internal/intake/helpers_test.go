package intake_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
)

const (
	testToken  = "intake-test-token-c41e9a7d"  // INTAKE_TOKEN; searched for in every log line
	flushToken = "intake-flush-token-5b08e2f3" // INTAKE_FLUSH_TOKEN; searched for in every log line too
	ciToken    = "demo"                        // CLOUDIMAGE_TOKEN: the flush-all confirmation
	apiKey     = "intake-api-key-93bd0f16"     // the sandbox's API key
)

// env is an intake handler on a real HTTP server over a private redis-server.
type env struct {
	t     *testing.T
	redis *testredis.Server
	rdb   *redis.Client
	srv   *httptest.Server
	logs  *observer.ObservedLogs
}

// setup starts Redis and the intake handler; mod changes the options before New.
func setup(t *testing.T, mod func(*intake.Options)) *env {
	t.Helper()
	r := testredis.Start(t)
	return newEnv(t, r, r.Client(), mod)
}

// newEnv serves the intake with a producer on client (r's address, or a proxy to it); the env's
// own client talks to r directly.
func newEnv(t *testing.T, r *testredis.Server, client redis.UniversalClient, mod func(*intake.Options)) *env {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	o := intake.Options{
		Client: newClient(t, client, cipurge.WithFlushAll(ciToken, time.Hour)), Token: testToken,
		MaxBytes: intake.DefaultMaxBytes, MaxURLs: intake.DefaultMaxURLs, FlushBearer: flushToken, Log: zap.New(core),
		Inspector: newInspector(t, client),
	}
	if mod != nil {
		mod(&o)
	}
	srv := httptest.NewServer(intake.New(o))
	t.Cleanup(srv.Close)
	e := &env{t: t, redis: r, rdb: r.Client(), srv: srv, logs: logs}
	t.Cleanup(func() { testkit.NoSecretLogged(t, logs, "INTAKE_TOKEN or INTAKE_FLUSH_TOKEN", testToken, flushToken) })
	return e
}

// newClient is a Go client on rdb for ciToken's URLs.
func newClient(t *testing.T, rdb redis.UniversalClient, opts ...cipurge.ClientOption) *cipurge.Client {
	t.Helper()
	norm, err := normalize.New(normalize.Config{Token: ciToken})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cipurge.NewClient(rdb, norm, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newInspector is a Go inspector on rdb for ciToken's URLs.
func newInspector(t *testing.T, rdb redis.UniversalClient) *cipurge.Inspector {
	t.Helper()
	norm, err := normalize.New(normalize.Config{Token: ciToken})
	if err != nil {
		t.Fatal(err)
	}
	i, err := cipurge.NewInspector(rdb, norm)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// proxy is a TCP proxy on loopback in front of a Redis that can be cut off: while down it closes
// every connection it holds and every new one, as a Redis that went away does. (Killing the
// redis-server itself would free its port for another test's redis-server to take.)
type proxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// startProxy starts a proxy to target (host:port), stopped when the test ends.
func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil || !p.track(up) {
			c.Close()
			if up != nil {
				up.Close()
			}
			continue
		}
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// track remembers c unless the proxy is down.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// setDown cuts Redis off (closing every connection) or lets it through again.
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// answer is one HTTP response, read.
type answer struct{ testkit.Answer }

// errorBody decodes the answer as an intake.Error.
func (a answer) errorBody(t *testing.T) intake.Error {
	t.Helper()
	return testkit.DecodeJSON[intake.Error](t, a.Answer, "a JSON error")
}

// report decodes the answer as a cipurge.Report.
func (a answer) report(t *testing.T) report {
	t.Helper()
	return testkit.DecodeJSON[report](t, a.Answer, "a report")
}

// report is cipurge.Report as a client reads it (outcomes as strings).
type report struct {
	Results []struct {
		Input, Key, Outcome, Reason string
	} `json:"results"`
	Enqueued       int `json:"enqueued"`
	AlreadyPending int `json:"already_pending"`
	Duplicates     int `json:"duplicates"`
	Rejected       int `json:"rejected"`
}

// do sends a request with the given token ("" for none) and Content-Type ("" for none).
func do(t *testing.T, c *http.Client, method, url, token, contentType string, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return answer{testkit.Send(t, c, req)}
}

// post sends a JSON body with the right token for path.
func (e *env) post(path, body string) answer {
	e.t.Helper()
	return do(e.t, e.srv.Client(), http.MethodPost, e.srv.URL+path, tokenFor(path), "application/json", strings.NewReader(body))
}

// tokenFor is the bearer token path needs: INTAKE_FLUSH_TOKEN for flush-all, INTAKE_TOKEN otherwise.
func tokenFor(path string) string {
	if path == intake.PathFlushAll {
		return flushToken
	}
	return testToken
}

// postURLs sends {"urls": us}.
func (e *env) postURLs(us ...string) answer {
	e.t.Helper()
	return e.post(intake.PathInvalidations, urlsBody(us, ""))
}

func urlsBody(us []string, source string) string {
	b, _ := json.Marshal(map[string]any{"urls": us, "source": source})
	return string(b)
}

// pendingCount is ZCARD of the pending set.
func (e *env) pendingCount() int64 {
	e.t.Helper()
	n, err := e.rdb.ZCard(context.Background(), store.KeyPending).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// isPending reports whether key is in the pending set.
func (e *env) isPending(key string) bool {
	e.t.Helper()
	_, err := e.rdb.ZScore(context.Background(), store.KeyPending, key).Result()
	if err == redis.Nil {
		return false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return true
}

// workerEnv is a worker's environment: the Redis at redisURL, the sandbox at apiURL, fast
// windows, changed by extra "KEY=value" pairs.
func workerEnv(redisURL, apiURL string, extra ...string) []string {
	return testkit.FastEnv(redisURL, apiURL, apiKey).With(extra...).List()
}

// zapStatus matches the status field of a log line.
func zapStatus(code int) zapcore.Field { return zap.Int("status", code) }
