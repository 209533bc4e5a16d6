package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/pkg/tasks"
)

const (
	// DefaultBaseURL is the Cloudimage API.
	DefaultBaseURL = "https://api.cloudimage.com"
	// MaxURLsPerRequest is the most URLs one "original" invalidation may carry.
	// pkg/tasks owns the figure, so that the wire contract links no HTTP client.
	MaxURLsPerRequest = tasks.MaxURLsPerTask
	// DefaultMaxRetryAfter caps a Retry-After the API asks for, unless WithMaxRetryAfter says
	// otherwise.
	DefaultMaxRetryAfter = 10 * time.Minute
	// DefaultTimeout is the whole-call timeout of the default HTTP client.
	DefaultTimeout = 30 * time.Second
)

// Version is the product version named in the default User-Agent. Release builds set it
// with -ldflags "-X github.com/cipurge/cipurge/pkg/apiclient.Version=v1.2.3". When it is
// empty, the main module's version from the build information is used, else "dev".
var Version string

// DefaultUserAgent returns "cipurge/<version>" (see Version).
func DefaultUserAgent() string {
	v := Version
	if v == "" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	if v == "" {
		v = "dev"
	}
	return "cipurge/" + v
}

// NewHTTPClient returns the HTTP client New uses by default: a DefaultTimeout overall
// timeout, 10 s to dial, 10 s for the TLS handshake, 20 s for the response headers, TLS 1.2
// or later with certificates always verified, proxies from the environment, and enough
// idle connections per host for a busy worker.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Timeout: DefaultTimeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          512,
			MaxIdleConnsPerHost:   512,
			ForceAttemptHTTP2:     true,
		},
	}
}

// Client calls the Cloudimage Invalidation API. Make one with New; it is safe for
// concurrent use and holds no state between calls besides its connection pool.
type Client struct {
	rawBase       string
	base          string // without a trailing slash
	key           *credential
	hc            *http.Client
	userAgent     string
	maxRetryAfter time.Duration
	log           *zap.Logger
	now           func() time.Time
	optErr        error
}

// credential keeps the key behind a pointer so that printing a Client (even with %#v)
// shows an address, not the key.
type credential struct{ key string }

// New returns a Client that sends apiKey as X-Client-Key. It fails only on a bad option or
// key: an empty key or one with characters a header cannot carry, an unusable base URL, a
// non-positive Retry-After cap. The error never contains the key.
func New(apiKey string, opts ...Option) (*Client, error) {
	c := &Client{
		rawBase:       DefaultBaseURL,
		maxRetryAfter: DefaultMaxRetryAfter,
		now:           time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	var errs []error
	if c.optErr != nil {
		errs = append(errs, c.optErr)
	}
	if err := checkKey(apiKey); err != nil {
		errs = append(errs, err)
	}
	base, err := checkBaseURL(c.rawBase)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.base = base.String()
	c.key = &credential{key: apiKey}
	if c.hc == nil {
		c.hc = NewHTTPClient()
	} else {
		if t, ok := c.hc.Transport.(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.InsecureSkipVerify {
			return nil, errors.New("apiclient: WithHTTPClient: the transport skips TLS verification (InsecureSkipVerify): the key would be exposed")
		}
		hc := *c.hc // a shallow copy shares the Transport, as intended
		c.hc = &hc
	}
	c.hc.CheckRedirect = refuseRedirect
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent()
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		c.log.Warn("cloudimage: the base URL is plain http: the API key travels unencrypted",
			zap.String("base_url", c.base))
	}
	return c, nil
}

func checkKey(k string) error {
	if k == "" {
		return errors.New("apiclient: the API key is empty")
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] >= 0x7f {
			return fmt.Errorf("apiclient: the API key has a space, control or non-ASCII character at byte %d", i)
		}
	}
	return nil
}

func checkBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("apiclient: base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("apiclient: base URL %q: the scheme must be http or https", raw)
	case u.Host == "":
		return nil, fmt.Errorf("apiclient: base URL %q: no host", raw)
	case u.User != nil:
		return nil, errors.New("apiclient: base URL: user info is not allowed")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("apiclient: base URL %q: no query or fragment allowed", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// String describes the client without its key.
func (c *Client) String() string {
	return "apiclient.Client{base: " + c.base + ", key: " + redacted + "}"
}

// GoString describes the client without its key, for %#v.
func (c *Client) GoString() string { return c.String() }

// BaseURL returns the base URL requests go to, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// CloseIdleConnections closes the idle connections of the client's transport.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Invalidate asks the API to invalidate urls, each with all its resizes (scope "original").
// urls must already be in the form the account expects (see pkg/normalize); they are sent as
// given. A batch of 0 or more than MaxURLsPerRequest URLs is refused at once with ErrNoURLs
// or ErrTooManyURLs, and nothing is sent. See the package documentation for the errors.
func (c *Client) Invalidate(ctx context.Context, urls []string) (*Invalidation, error) {
	switch {
	case len(urls) == 0:
		return nil, ErrNoURLs
	case len(urls) > MaxURLsPerRequest:
		return nil, fmt.Errorf("%w: %d URLs, at most %d", ErrTooManyURLs, len(urls), MaxURLsPerRequest)
	}
	return c.invalidate(ctx, invalidateRequest{Scope: ScopeOriginal, URLs: urls})
}

// InvalidateAll asks the API to invalidate every image of the account (scope "all"). This
// makes Cloudimage fetch every image from the origin again: call it only when a person
// explicitly asked for it and confirmed.
func (c *Client) InvalidateAll(ctx context.Context) (*Invalidation, error) {
	return c.invalidate(ctx, invalidateRequest{Scope: ScopeAll})
}

func (c *Client) invalidate(ctx context.Context, req invalidateRequest) (*Invalidation, error) {
	var buf bytes.Buffer
	buf.Grow(32 + 64*len(req.URLs))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(req); err != nil {
		return nil, fmt.Errorf("cloudimage: encode request: %w", err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))

	var out invalidateResponse
	call := callInfo{method: http.MethodPost, path: "/invalidate", urls: len(req.URLs)}
	code, empty, err := c.do(ctx, &call, body, &out)
	if err != nil {
		return nil, err
	}
	inv := &Invalidation{StatusCode: code}
	if !empty {
		inv.Status = out.Invalidation.Status
		inv.UUID = out.Invalidation.UUID
		inv.AddedAt = out.Invalidation.AddedAt
		inv.Msg = out.Msg
	}
	c.trace(&call, code, inv.UUID, nil)
	return inv, nil
}

// Status returns the state of the invalidation uuid (GET /invalidate/{uuid}). See the
// package documentation for the errors; a 2xx answer without an invalidation object is a
// *TransportError (Op "decode response").
func (c *Client) Status(ctx context.Context, uuid string) (*InvalidationStatus, error) {
	if uuid == "" {
		return nil, ErrEmptyUUID
	}
	var out statusResponse
	call := callInfo{method: http.MethodGet, path: "/invalidate/" + url.PathEscape(uuid)}
	code, empty, err := c.do(ctx, &call, nil, &out)
	if err == nil && (empty || out.Invalidation == nil || out.Invalidation.Status == "") {
		err = &TransportError{Method: call.method, Path: call.path, Op: "decode response", StatusCode: code,
			Err: errors.New("no invalidation status in the response")}
		c.trace(&call, code, "", err)
	}
	if err != nil {
		return nil, err
	}
	inv := out.Invalidation
	st := &InvalidationStatus{
		Status:      inv.Status,
		UUID:        inv.UUID,
		Scope:       inv.Scope,
		Received:    inv.URLs.Received,
		Invalidated: inv.URLs.Invalidated,
		Failed:      inv.URLs.Failed,
	}
	c.trace(&call, code, st.UUID, nil)
	return st, nil
}

// callInfo describes one call for errors and the debug line.
type callInfo struct {
	method, path string
	urls         int
	start        time.Time
}

// do sends one request and, for a 2xx, decodes the JSON body into out. It returns the
// status code, whether the 2xx body was empty, and a typed error for anything else. On an
// error it has already written the debug line; on success the caller writes it.
func (c *Client) do(ctx context.Context, call *callInfo, body []byte, out any) (code int, empty bool, err error) {
	call.start = c.now()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, call.method, c.base+call.path, rd)
	if err != nil {
		err = &TransportError{Method: call.method, Path: call.path, Op: "build request", Err: redactError(err, c.key.key)}
		c.trace(call, 0, "", err)
		return 0, false, err
	}
	req.Header.Set("X-Client-Key", c.key.key)
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		err = &TransportError{Method: call.method, Path: call.path, Op: "send", Err: redactError(err, c.key.key)}
		c.trace(call, 0, "", err)
		return 0, false, err
	}
	defer drainClose(resp.Body)

	code = resp.StatusCode
	if code < 200 || code > 299 {
		err = c.statusError(call, resp)
		c.trace(call, code, "", err)
		return code, false, err
	}

	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxSuccessBody+1))
	switch {
	case err != nil:
		err = &TransportError{Method: call.method, Path: call.path, Op: "read response", StatusCode: code, Err: redactError(err, c.key.key)}
	case len(raw) > maxSuccessBody:
		err = &TransportError{Method: call.method, Path: call.path, Op: "decode response", StatusCode: code,
			Err: fmt.Errorf("body larger than %d bytes", maxSuccessBody)}
	case len(bytes.TrimSpace(raw)) == 0:
		return code, true, nil
	default:
		if derr := json.Unmarshal(raw, out); derr != nil {
			err = &TransportError{Method: call.method, Path: call.path, Op: "decode response", StatusCode: code,
				Err: redactError(fmt.Errorf("%s: %w", contentType(resp), derr), c.key.key)}
		}
	}
	if err != nil {
		c.trace(call, code, "", err)
		return code, false, err
	}
	return code, false, nil
}

func contentType(resp *http.Response) string {
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		return collapseSpace(ct, 64)
	}
	return "no Content-Type"
}

// statusError maps a non-2xx response to its typed error.
func (c *Client) statusError(call *callInfo, resp *http.Response) error {
	code := resp.StatusCode
	body := readErrorBody(resp.Body, c.key.key)
	switch {
	case code == http.StatusTooManyRequests:
		return &RateLimitError{Method: call.method, Path: call.path, StatusCode: code,
			RetryAfter: c.retryAfter(resp), Body: body}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &UnauthorizedError{Method: call.method, Path: call.path, StatusCode: code, Body: body}
	case code >= 500 && code <= 599:
		return &ServerError{Method: call.method, Path: call.path, StatusCode: code,
			RetryAfter: c.retryAfter(resp), Body: body}
	default: // other 4xx, and 1xx/3xx (redirects are not followed)
		return &RejectedError{Method: call.method, Path: call.path, StatusCode: code, Body: body}
	}
}

func (c *Client) retryAfter(resp *http.Response) time.Duration {
	return parseRetryAfter(resp.Header.Get("Retry-After"), c.now(), c.maxRetryAfter)
}

// trace writes the per-call debug line. Nothing in it can hold the key: errors are already
// redacted and the headers are not logged.
func (c *Client) trace(call *callInfo, code int, uuid string, err error) {
	ce := c.log.Check(zap.DebugLevel, "cloudimage call")
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 7)
	fields = append(fields,
		zap.String("method", call.method),
		zap.String("path", call.path),
		zap.Int("status", code),
		zap.Duration("duration", c.now().Sub(call.start)),
	)
	if uuid != "" {
		fields = append(fields, zap.String("uuid", uuid))
	}
	if call.urls > 0 {
		fields = append(fields, zap.Int("urls", call.urls))
	}
	if err != nil {
		fields = append(fields, zap.String("error", err.Error()))
	}
	ce.Write(fields...)
}
