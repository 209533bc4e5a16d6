// Package apiclient is the one place in cipurge that talks HTTP to the Cloudimage
// Invalidation API.
//
// It sends exactly the documented requests and nothing else:
//
//	POST {base}/invalidate        {"scope":"original","urls":[...]}   (1 to 15 URLs)
//	POST {base}/invalidate        {"scope":"all"}
//	GET  {base}/invalidate/{uuid}
//
// each with the headers X-Client-Key and (for POST) Content-Type: application/json.
//
// # Usage
//
//	c, err := apiclient.New(key, apiclient.WithLogger(log))
//	if err != nil { ... }                    // a bad option: empty key, bad base URL
//	inv, err := c.Invalidate(ctx, batch)     // batch already normalised, 1..15 URLs
//	switch {
//	case err == nil:                         // accepted: keep inv.UUID to confirm later
//	case errors.Is(err, apiclient.ErrUnauthorized):
//	    // the key is wrong: stop sending, say so loudly
//	case apiclient.IsTransient(err):
//	    // 429, 5xx, network, timeout: retry later, after apiclient.RetryAfter(err) if > 0
//	default:
//	    // the request itself is wrong (*RejectedError): do not retry it blindly
//	}
//
// # Errors
//
// Every failure is one of a small set of types, told apart with errors.As or errors.Is,
// never by parsing strings:
//
//	status / failure                 error                  sentinel          IsTransient
//	2xx                              nil                    -                 -
//	401, 403                         *UnauthorizedError     ErrUnauthorized   false
//	429                              *RateLimitError        ErrRateLimited    true
//	408                              *RejectedError         ErrRejected       true
//	other 4xx, 1xx, 3xx              *RejectedError         ErrRejected       false
//	500-599                          *ServerError           ErrServer         true
//	network, timeout, bad 2xx body   *TransportError        ErrTransport      true
//	  ... caused by the caller's ctx being cancelled (context.Canceled)       false
//	  ... caused by TLS certificate verification failing                      false
//	0 or more than 15 URLs           ErrNoURLs / ErrTooManyURLs (nothing sent) false
//
// A 2xx response whose body is not the documented JSON is reported as a *TransportError
// with Op "decode response": the outcome is as uncertain as a lost response, and an
// invalidation is idempotent, so sending it again is the safe choice. A 2xx with an empty
// body (such as 204) is accepted without a uuid.
//
// Redirects are never followed (a 3xx is a *RejectedError): net/http would forward the
// X-Client-Key header to wherever the redirect points.
//
// Retry-After is read on 429 and 5xx responses, as delta-seconds or an HTTP-date (relative
// to the client's clock, see WithClock), capped by WithMaxRetryAfter (default 10 minutes).
// A missing, negative, past or unparsable value gives 0, which means "not told". RetryAfter(err)
// is the wait to honour: the header of a 429 or a 503, and 0 for every other answer (the header
// of another 5xx stays in ServerError.RetryAfter, for the message only).
//
// # What the client does not do
//
// It does not retry: retrying is the worker's decision, because the worker holds the queue
// and must not hold a slot while sleeping out a long Retry-After. It does not normalise
// URLs (see pkg/normalize); it only refuses a batch of the wrong size.
//
// # Secrets
//
// The API key is sent only in the X-Client-Key header. It never appears in an error string,
// a log line or the printed form of a Client; a response body that echoes it has it
// replaced with "[redacted]". Error bodies are read through a size limit (4 KiB kept), and
// every response body is drained (up to 64 KiB) and closed so the connection is reused.
package apiclient
