package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Start runs a Server on a real net/http server listening on opts.Addr (default
// 127.0.0.1:0, a free loopback port), for the worker's sandbox mode and for tests and
// benchmarks, including those in other processes. It returns the server, its base URL
// ("http://127.0.0.1:PORT", to pass to apiclient.WithBaseURL) and a stop function that
// ends requests in their latency wait, shuts the server down (5 s grace) and returns when
// it has stopped; stop may be called more than once.
func Start(opts Options) (*Server, string, func(), error) {
	s := New(opts)
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	baseCtx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	if l, err := zap.NewStdLogAt(s.log, zap.DebugLevel); err == nil {
		srv.ErrorLog = l // net/http's own complaints (bad requests, TLS probes): debug only
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("stand-in Cloudimage API: serve", zap.Error(err))
		}
	}()
	base := "http://" + ln.Addr().String()
	s.log.Info("stand-in Cloudimage API started: invalidation requests stay on this machine",
		zap.String("base_url", base))

	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			ctx, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancelShutdown()
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
			}
			<-done
			s.log.Info("stand-in Cloudimage API stopped", zap.String("base_url", base))
		})
	}
	return s, base, stop, nil
}

// RoundTripper returns an http.RoundTripper that serves every request in the calling
// goroutine with s, without a network: for tests (including under testing/synctest) and
// benchmarks that need no sockets. It honours the request's context: a request whose
// context ends during the injected latency fails with the context's error.
func (s *Server) RoundTripper() http.RoundTripper { return roundTripper{s} }

type roundTripper struct{ s *Server }

// RoundTrip serves req with the Server.
func (rt roundTripper) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	ctx := req.Context()
	body := req.Body
	if body == nil {
		body = http.NoBody
	}
	defer body.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sreq := req.WithContext(ctx) // a shallow copy the handler may read
	sreq.Body = body
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "in-process"
	rec := &recorder{header: make(http.Header)}
	if aborted := rt.serve(rec, sreq); aborted {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errAborted
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	rec.header.Del("Content-Length")
	return &http.Response{
		Status:        strconv.Itoa(rec.code) + " " + http.StatusText(rec.code),
		StatusCode:    rec.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

// errAborted is returned by the in-process transport for an aborted response.
var errAborted = errors.New("sandbox: response aborted")

// serve runs the handler, reporting an http.ErrAbortHandler panic as aborted, the way
// net/http drops the connection.
func (rt roundTripper) serve(w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	rt.s.ServeHTTP(w, r)
	return false
}

// recorder is a minimal http.ResponseWriter for the in-process transport.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

// Header returns the response headers.
func (r *recorder) Header() http.Header { return r.header }

// WriteHeader keeps the first status code.
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// Write appends to the body.
func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}
