// Package httpserver is the worker's HTTP face.
//
// It serves these paths.
//   - The asynqmon UI under /monitoring.
//   - The product's status page at /status, as HTML or as JSON with Accept: application/json.
//   - Prometheus metrics at /metrics.
//   - Liveness at /healthz and readiness at /readyz.
//
// It also mounts the intake and the event receivers the command built.
//
// # Access
//
// The UI is read-only unless UI_READONLY=false.
// With UI_PASSWORD set, the UI, the status page and their APIs need HTTP basic auth.
// The user is UI_USER, by default admin.
// A non-loopback listen address without UI_PASSWORD is refused at start.
package httpserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/status"
)

// UIPath is where the asynqmon UI is served.
const UIPath = "/monitoring"

// Options are what the server shows.
type Options struct {
	UI       UI                              // who may see the UI and /status
	Status   status.Options                  // the settings /status falls back to when no worker published its own
	Ready    func(context.Context) Readiness // the worker's readiness, for /readyz
	Redis    redis.UniversalClient
	Registry *prometheus.Registry
	Log      *zap.Logger
	Intake   http.Handler // the intake API, mounted at /v1/ when not nil (INTAKE_TOKEN set)
	Events   http.Handler // the storage event receivers, mounted at /v1/events/ when not nil
	Lookup   Lookup       // one URL's history, for /status?url= (nil: lookups say why not)
	Requests Requests     // the requests, for /status and /status?request= (nil: the page says why not)
	// Accounts are the accounts /status shows, with several: every one, or ?account=NAME's.
	// nil for a deployment of one account, whose page is that of before.
	Accounts []StatusAccount
}

// UI is the access to the asynqmon UI and /status (HTTP_ADDR, UI_*).
type UI struct {
	Addr     string // HTTP_ADDR: without a password it must be a loopback address
	ReadOnly bool   // UI_READONLY
	User     string // UI_USER
	Password string // UI_PASSWORD
}

// Readiness is what /readyz answers: whether the worker can do its job now, and a JSON body
// saying why not (the worker's Readiness).
type Readiness interface{ IsReady() bool }

// New returns the worker's HTTP handler, or an error when the access rules refuse the
// configuration (a non-loopback HTTP_ADDR without UI_PASSWORD).
func New(o Options) (http.Handler, error) {
	h := o.UI
	if !isLoopback(h.Addr) && h.Password == "" {
		return nil, errors.New("HTTP_ADDR=" + h.Addr + " is not a loopback address and UI_PASSWORD is empty: " +
			"the asynqmon UI would be open to the network. Set UI_PASSWORD (and UI_USER), or listen on 127.0.0.1")
	}
	mux := newRouter()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"alive": true})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		rd := o.Ready(ctx)
		code := http.StatusOK
		if !rd.IsReady() {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, rd)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))

	ui := asynqmon.New(asynqmon.Options{
		RootPath:     UIPath,
		RedisConnOpt: sharedConn{o.Redis},
		ReadOnly:     h.ReadOnly,
	})
	var uiHandler http.Handler = ui
	if h.ReadOnly {
		uiHandler = readOnly(uiHandler)
	}
	if h.Password != "" {
		uiHandler = basicAuth(h.User, h.Password, uiHandler)
	}
	mux.Handle(UIPath, uiHandler)
	mux.Handle(UIPath+"/", uiHandler)
	var statusHandler http.Handler = &statusPage{reader: status.NewReader(o.Redis), lookup: o.Lookup, requests: o.Requests, log: o.Log,
		fallback: o.Status, accounts: o.Accounts}
	if h.Password != "" {
		statusHandler = basicAuth(h.User, h.Password, statusHandler)
	}
	mux.Handle("GET "+StatusPath, statusHandler)
	if o.Intake != nil {
		mux.Handle("/v1/", o.Intake)
	}
	if o.Events != nil {
		mux.Handle(events.PathPrefix, o.Events)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, indexHTML)
	})
	return mux, nil
}

// indexHTML is the root page: where to look.
const indexHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cipurge</title></head><body style="font:15px system-ui,sans-serif;margin:2em">
<h1>cipurge worker</h1>
<ul>
<li><a href="` + StatusPath + `">status</a>: what waits, what was sent, what failed, the recent requests, and any URL's history or request's progress</li>
<li><a href="` + UIPath + `/">asynqmon</a>: the queues and their tasks, the dead letters</li>
<li><a href="/metrics">metrics</a> (Prometheus), <a href="/healthz">healthz</a>, <a href="/readyz">readyz</a></li>
</ul></body></html>
`

// sharedConn hands asynqmon the worker's Redis client (Sentinel and Cluster included).
type sharedConn struct{ rdb redis.UniversalClient }

// MakeRedisClient implements asynq.RedisConnOpt.
func (c sharedConn) MakeRedisClient() any { return c.rdb }

var _ asynq.RedisConnOpt = sharedConn{}

func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		uOK := subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1
		pOK := subtle.ConstantTimeCompare([]byte(p), []byte(pass)) == 1
		if !ok || !uOK || !pOK {
			w.Header().Set("WWW-Authenticate", `Basic realm="cipurge", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readOnly refuses every request that could change something (anything but GET and HEAD) before
// it reaches asynqmon. asynqmon's own ReadOnly option guards only the API routes it knows; this
// guard covers every path under the UI, whatever asynqmon version is mounted.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the asynqmon UI is read-only (UI_READONLY=true): "+r.Method+" is refused. "+
				"Set UI_READONLY=false (with UI_PASSWORD) to delete, run or archive tasks from the UI", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
