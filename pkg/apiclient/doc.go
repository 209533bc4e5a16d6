// Package apiclient talks HTTP to the Cloudimage Invalidation API.
//
// It is the one place in cipurge that does so. It sends the documented requests and nothing
// else:
//
//	POST {base}/invalidate        {"scope":"original","urls":[...]}   (1 to 15 URLs)
//	POST {base}/invalidate        {"scope":"all"}
//	GET  {base}/invalidate/{uuid}
//
// Each request carries the X-Client-Key header. A POST also carries Content-Type:
// application/json.
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
// Every failure has one of a few types. Tell them apart with errors.As or errors.Is, never by
// parsing strings.
//
//	status / failure                 error                  sentinel          IsTransient
//	2xx                              nil                    -                 -
//	401, 403                         *UnauthorizedError     ErrUnauthorized   false
//	429                              *RateLimitError        ErrRateLimited    true
//	408, 425                         *RejectedError         ErrRejected       true
//	other 4xx, 1xx, 3xx              *RejectedError         ErrRejected       false
//	500-599                          *ServerError           ErrServer         true
//	network, timeout, bad 2xx body   *TransportError        ErrTransport      true
//	  ... caused by the caller's ctx being cancelled (context.Canceled)       false
//	  ... caused by TLS certificate verification failing                      false
//	0 or more than 15 URLs           ErrNoURLs / ErrTooManyURLs (nothing sent) false
//
// A 2xx body that is not the documented JSON gives a *TransportError. Its Op is "decode
// response". Such an outcome is as uncertain as a lost response. An invalidation is idempotent,
// so sending it again is safe. A 2xx with an empty body, such as 204, is accepted without a
// uuid.
//
// Redirects are never followed. A 3xx is a *RejectedError. The reason is that net/http would
// forward the X-Client-Key header.
//
// Retry-After is read on 429 and 5xx responses. It may be delta-seconds or an HTTP-date. An
// HTTP-date is taken relative to the client's clock. See [WithClock]. [WithMaxRetryAfter] caps
// the value. The default cap is 10 minutes. A missing, negative, past or unparsable value gives
// 0. Zero means "not told".
//
// [RetryAfter] gives the wait to honour. It is the header of a 429 or a 503. It is 0 for every
// other answer. Another 5xx keeps its header in ServerError.RetryAfter. That value only goes
// into the message.
//
// # What the client does not do
//
// It does not retry. Retrying is the worker's decision. The worker holds the queue. It must not
// hold a slot while it sleeps out a long Retry-After.
//
// It does not normalise URLs. See pkg/normalize. It only refuses a batch of the wrong size.
//
// # Secrets
//
// The API key is sent only in the X-Client-Key header. It never appears in an error string or a
// log line. It never appears in the printed form of a Client. A response body that echoes the
// key has it replaced with "[redacted]".
//
// Error bodies are read through a size limit. At most 4 KiB is kept. Every response body is
// drained, up to 64 KiB, and closed. So the connection is reused.
package apiclient
