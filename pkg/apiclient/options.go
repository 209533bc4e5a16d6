package apiclient

import (
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Option configures a Client in New.
type Option func(*Client)

// WithBaseURL sets the API's base URL (default DefaultBaseURL), for tests and the sandbox:
// an absolute http or https URL with a host, optionally a path prefix, and no user info,
// query or fragment. New reports a URL it cannot use.
func WithBaseURL(u string) Option {
	return func(c *Client) { c.rawBase = u }
}

// WithHTTPClient sets the HTTP client (default: see NewHTTPClient); its Timeout and
// Transport are used as they are. The Client uses a copy whose CheckRedirect refuses every
// redirect, because net/http would forward the X-Client-Key header to the redirect's target.
// New refuses an *http.Transport with InsecureSkipVerify. A nil h keeps the default.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) {
		if h != nil {
			c.hc = h
		}
	}
}

// WithUserAgent sets the User-Agent header. The default is DefaultUserAgent().
// An empty ua keeps the default.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithMaxRetryAfter caps the Retry-After the client reports (default DefaultMaxRetryAfter).
// A longer wait asked for by the API is reported as d. d must be positive.
func WithMaxRetryAfter(d time.Duration) Option {
	return func(c *Client) {
		if d <= 0 {
			c.optErr = errors.Join(c.optErr, errors.New("apiclient: WithMaxRetryAfter: the cap must be positive"))
			return
		}
		c.maxRetryAfter = d
	}
}

// WithLogger sets the logger (default: none). The client writes one debug line per call
// (method, path, status, duration, uuid, number of URLs, error); never the key.
func WithLogger(l *zap.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithClock sets the clock used to turn a Retry-After HTTP-date into a duration and to time
// calls (default time.Now); it must be safe for concurrent use. A nil now keeps the default.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}
