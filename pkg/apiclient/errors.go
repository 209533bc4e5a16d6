package apiclient

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Each typed error below reports its sentinel through errors.Is, so a caller
// can write errors.Is(err, ErrUnauthorized) without naming the type.
var (
	// ErrUnauthorized: the API refused the key (401 or 403). Retrying cannot help.
	ErrUnauthorized = errors.New("cloudimage: unauthorized")
	// ErrRateLimited: the API answered 429 Too Many Requests.
	ErrRateLimited = errors.New("cloudimage: rate limited")
	// ErrRejected: the API rejected this request (a 4xx other than 401, 403 and 429, or an
	// unexpected 1xx/3xx).
	ErrRejected = errors.New("cloudimage: request rejected")
	// ErrServer: the API failed (5xx).
	ErrServer = errors.New("cloudimage: server error")
	// ErrTransport: no usable response (network error, timeout, cancelled context, a 2xx
	// body that could not be read or decoded).
	ErrTransport = errors.New("cloudimage: transport error")

	// ErrNoURLs is returned by Invalidate for an empty batch; nothing is sent.
	ErrNoURLs = errors.New("cloudimage: no URLs to invalidate")
	// ErrTooManyURLs is returned (wrapped, with the count) by Invalidate for a batch of more
	// than MaxURLsPerRequest URLs; nothing is sent. It is a programming error.
	ErrTooManyURLs = errors.New("cloudimage: too many URLs in one request")
	// ErrEmptyUUID is returned by Status for an empty uuid; nothing is sent.
	ErrEmptyUUID = errors.New("cloudimage: empty invalidation uuid")
)

// RateLimitError is returned for a 429 Too Many Requests response.
type RateLimitError struct {
	Method     string        // request method, e.g. "POST"
	Path       string        // request path, e.g. "/invalidate"
	StatusCode int           // 429
	RetryAfter time.Duration // from the Retry-After header, capped; 0 when absent or unusable
	Body       string        // the response body: at most 4 KiB, key redacted, valid UTF-8
}

// Error describes the failure: the status, the Retry-After and the start of the body.
func (e *RateLimitError) Error() string {
	return formatHTTPError(e.Method, e.Path, e.StatusCode, e.RetryAfter, "", e.Body)
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// UnauthorizedError is returned for 401 Unauthorized and 403 Forbidden: the API key is wrong
// or lacks the right, and retrying cannot help. errors.Is(err, ErrUnauthorized) is true.
type UnauthorizedError struct {
	Method     string // request method
	Path       string // request path
	StatusCode int    // 401 or 403
	Body       string // the response body: at most 4 KiB, key redacted, valid UTF-8
}

// Error describes the failure: the status and a hint to check the key.
func (e *UnauthorizedError) Error() string {
	return formatHTTPError(e.Method, e.Path, e.StatusCode, 0, "check the API key (X-Client-Key)", e.Body)
}

// Is reports whether target is ErrUnauthorized.
func (e *UnauthorizedError) Is(target error) bool { return target == ErrUnauthorized }

// RejectedError is returned for a 4xx other than 401, 403 and 429: this request is wrong and
// sending it again unchanged will not help (408 Request Timeout and 425 Too Early excepted, see
// IsTransient).
// It is also returned for an unexpected 1xx or 3xx status: redirects are never followed.
type RejectedError struct {
	Method     string // request method
	Path       string // request path
	StatusCode int    // e.g. 400
	Body       string // the response body: at most 4 KiB, key redacted, valid UTF-8
}

// Error describes the failure: the status and the start of the body.
func (e *RejectedError) Error() string {
	return formatHTTPError(e.Method, e.Path, e.StatusCode, 0, "", e.Body)
}

// Is reports whether target is ErrRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// ServerError is returned for a 5xx response.
type ServerError struct {
	Method     string        // request method
	Path       string        // request path
	StatusCode int           // 500..599
	RetryAfter time.Duration // from a Retry-After header (any 5xx), capped; 0 when absent. RetryAfter(err) honours it on a 503 only
	Body       string        // the response body: at most 4 KiB, key redacted, valid UTF-8
}

// Error describes the failure: the status, any Retry-After and the start of the body.
func (e *ServerError) Error() string {
	return formatHTTPError(e.Method, e.Path, e.StatusCode, e.RetryAfter, "", e.Body)
}

// Is reports whether target is ErrServer.
func (e *ServerError) Is(target error) bool { return target == ErrServer }

// TransportError is returned when no usable response arrived: the request could not be
// sent, the connection failed, the client's timeout or the caller's context ended the call,
// or a 2xx body could not be read or decoded. Unwrap gives the cause, so
// errors.Is(err, context.DeadlineExceeded) and errors.Is(err, context.Canceled) work.
type TransportError struct {
	Method     string // request method
	Path       string // request path
	Op         string // "send", "read response" or "decode response"
	StatusCode int    // the 2xx status for "read response"/"decode response"; 0 for "send"
	Err        error  // the cause
}

// Error describes the failure: the operation and the cause, never the key.
func (e *TransportError) Error() string {
	var b strings.Builder
	b.WriteString(prefix(e.Method, e.Path))
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.StatusCode != 0 {
		b.WriteString(statusLine(e.StatusCode))
		b.WriteString(": ")
	}
	cause := e.Err
	// *url.Error repeats the method and the URL; its cause is what is worth reading.
	// (Only a direct one: a redacted wrapper must keep its redacted message.)
	if ue, ok := cause.(*url.Error); ok && ue.Err != nil {
		cause = ue.Err
	}
	if cause != nil {
		b.WriteString(cause.Error())
	} else {
		b.WriteString("unknown error")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// Is reports whether target is ErrTransport.
func (e *TransportError) Is(target error) bool { return target == ErrTransport }

// Timeout reports whether the call ended because a deadline passed: the client's timeout,
// a transport timeout or the caller's context deadline.
func (e *TransportError) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// IsTransient reports whether the same request may succeed later. If so, the caller should
// retry it. The caller waits RetryAfter(err) when that is positive. Otherwise it uses its own
// backoff. This is the product's one rule for "transient". The worker's failure policy is built
// on it.
//
//   - *RateLimitError (429): true.
//   - *ServerError (500-599): true.
//   - *RejectedError: true for 408 Request Timeout and 425 Too Early, false otherwise.
//   - *TransportError: true. That covers network errors, timeouts and an undecodable 2xx body.
//   - An error caused by context.Canceled: false. The caller gave up. Nothing is failing.
//   - An error caused by TLS certificate verification: false.
//   - *UnauthorizedError, ErrNoURLs, ErrTooManyURLs, ErrEmptyUUID, nil, anything else: false.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		rl *RateLimitError
		se *ServerError
		re *RejectedError
		te *TransportError
	)
	switch {
	case errors.As(err, &rl):
		return true
	case errors.As(err, &se):
		return true // 500-599, 501 included: the outage of one path is still an outage
	case errors.As(err, &re):
		return re.StatusCode == http.StatusRequestTimeout || re.StatusCode == http.StatusTooEarly
	case errors.As(err, &te):
		var cv *tls.CertificateVerificationError
		return !errors.As(err, &cv)
	}
	return false
}

// NotActedOn reports whether err proves that the API did not act on the request: it answered with
// a status other than 2xx, or the request was never written (no connection could be made: refused,
// unreachable, a name that does not resolve, a certificate that is not trusted). Any other failure
// (a timeout, a connection that broke after the request was written, a 2xx whose body could not be
// read, a cancelled call) leaves the outcome unknown: the API may have acted. An operation that
// must not happen twice, such as a flush-all, may be retried only after NotActedOn.
func NotActedOn(err error) bool {
	var (
		rl *RateLimitError
		un *UnauthorizedError
		re *RejectedError
		se *ServerError
		te *TransportError
	)
	switch {
	case err == nil:
		return false
	case errors.As(err, &rl), errors.As(err, &un), errors.As(err, &re), errors.As(err, &se):
		return true
	case errors.As(err, &te):
		if te.Op == "build request" {
			return true
		}
		var op *net.OpError
		var dns *net.DNSError
		var cv *tls.CertificateVerificationError
		return te.Op == "send" && (errors.As(err, &op) && op.Op == "dial" || errors.As(err, &dns) || errors.As(err, &cv))
	}
	return false
}

// RetryAfter returns the wait the API asked for in err, or 0 when it did not ask. It is the
// product's one rule for honouring Retry-After (the worker's failure policy is built on it): the
// header counts on a 429 (*RateLimitError) and on a 503 (*ServerError with StatusCode 503), the
// two answers for which HTTP defines it as "come back after" (RFC 6585 section 4, RFC 9110
// section 10.2.3). On any other 5xx the header is still read into ServerError.RetryAfter and shown
// by Error, but RetryAfter returns 0: the caller backs off by its own rule, so that a gateway that
// adds Retry-After to every 502 cannot hold the caller for the header's whole value.
func RetryAfter(err error) time.Duration {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter
	}
	var se *ServerError
	if errors.As(err, &se) && se.StatusCode == http.StatusServiceUnavailable {
		return se.RetryAfter
	}
	return 0
}

// errorBodyInMessage is how much of a response body an error string shows.
const errorBodyInMessage = 200

func prefix(method, path string) string {
	switch {
	case method != "" && path != "":
		return "cloudimage: " + method + " " + path + ": "
	case path != "":
		return "cloudimage: " + path + ": "
	}
	return "cloudimage: "
}

func statusLine(code int) string {
	s := strconv.Itoa(code)
	if t := http.StatusText(code); t != "" {
		s += " " + t
	}
	return s
}

// formatHTTPError builds "cloudimage: POST /invalidate: 503 Service Unavailable, retry after
// 30s: <first 200 bytes of the body, whitespace collapsed>".
func formatHTTPError(method, path string, code int, retryAfter time.Duration, hint, body string) string {
	var b strings.Builder
	b.WriteString(prefix(method, path))
	b.WriteString(statusLine(code))
	if retryAfter > 0 {
		b.WriteString(", retry after ")
		b.WriteString(retryAfter.String())
	}
	if hint != "" {
		b.WriteString(", ")
		b.WriteString(hint)
	}
	if s := collapseSpace(body, errorBodyInMessage); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

// collapseSpace turns every run of white space into one space, trims the ends, and cuts the
// result to at most max bytes on a rune boundary.
func collapseSpace(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == '\v' || r == '\f' {
			space = b.Len() > 0
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if b.Len()+n > max {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
