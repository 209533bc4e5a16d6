// Package sandbox is a local stand-in for the Cloudimage Invalidation API.
//
// It is an in-process HTTP handler that implements the documented contract. It records what it
// receives, and it can be told to misbehave. The worker uses it in sandbox mode without a key.
// Then nothing leaves the machine. See docs/configuration.md. Tests and benchmarks use it as the
// API.
//
// It implements the documented requests and refusals. An accepted invalidation walks through
// Cloudimage's statuses to DONE. Its contract, status life cycle and cost are in
// docs/sandbox.md.
//
// # Faults
//
// Faults apply to POST /invalidate. They are checked after the key, in this order: FailNext,
// FailFor, RateLimitFor. Then the request is validated, and RejectURL applies. FailStatusNext
// applies to GET /invalidate/{uuid}.
//
// Latency delays every response. Options.Latency and SetLatency set it. A request may end during
// the delay, because the client went away or stop was called. Such a request is recorded with
// code 499 and not processed. Its response is aborted, so the connection drops.
//
// ParseFaults reads the worker's fault setting, in the syntax FaultsSyntax gives. ApplyFaults
// installs the result. A fault set may hold:
//   - URL patterns rejected with 400;
//   - URL patterns failed in the status check;
//   - the status a matching request reports instead of DONE, for ever or for a while;
//   - 429 windows and 5xx windows.
//
// That status may be ERROR_CDN_NODE or one that Cloudimage does not document. A 429 or 5xx
// window starts at the first invalidation request. So a user sees it with the first URLs sent.
//
// Every method is safe for concurrent use while serving.
//
// # Use
//
//	srv, base, stop, err := sandbox.Start(sandbox.Options{Key: "test-key"})
//	if err != nil { ... }
//	defer stop()
//	c, _ := apiclient.New("test-key", apiclient.WithBaseURL(base))
//
// Some tests need no network, or run under testing/synctest. They use New and give an
// http.Client the in-process transport from RoundTripper.
package sandbox
