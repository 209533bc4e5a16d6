// Package sandbox is a local stand-in for the Cloudimage Invalidation API.
//
// It is an in-process HTTP handler that implements the documented contract. It records what it
// receives, and it can be told to misbehave. The worker uses it in sandbox mode without a key.
// Then nothing leaves the machine. See docs/configuration.md. Tests and benchmarks use it as the
// API.
//
// # The contract it implements
//
//	POST /invalidate   X-Client-Key, Content-Type: application/json
//	  {"scope":"original","urls":[1..15 URLs]} or {"scope":"all"}
//	  201 {"status":"success","msg":"Your invalidation request has been received",
//	       "invalidation":{"status":"RECEIVED","uuid":"...","added_at":"2023-08-08 13:39:52.636426"}}
//	GET /invalidate/{uuid}   X-Client-Key
//	  200 {"status":"success","invalidation":{"status":"DONE","uuid":"...","scope":"original",
//	       "urls":{"received":null,"invalidated":[...],"failed":[...]}}}
//
// Each refusal has the JSON body {"status":"error","msg":"..."}. The body never echoes the key.
//
//	401  no X-Client-Key, or not the accepted key (Options.Key; empty accepts any key)
//	400  malformed JSON, a missing or unknown scope (including the withdrawn "urls"),
//	     no URLs or more than 15 with scope original, an empty URL, a URL with a query
//	     string, URLs with scope all, a URL chosen with RejectURL (the message names it)
//	404  an unknown path or uuid
//	405  a wrong method
//	413  a body over 256 KiB
//	415  a Content-Type other than application/json
//
// The real API does not publish its error bodies and codes for these cases. These are the
// sandbox's choices. The client classifies by status class only.
//
// # Status life cycle
//
// An accepted invalidation moves RECEIVED -> PREPARING -> FLUSHINGCLOUDIMAGESERVER ->
// FLUSHINGCDNSERVERS -> DONE. Each stage lasts a quarter of the status delay. Options.StatusDelay
// and SetStatusDelay set that delay. It is measured on the server's clock, Options.Now. With a
// zero delay, a status request sees DONE at once.
//
// Before DONE, "received" lists the URLs. At DONE it is null. Then "invalidated" lists the URLs,
// and "failed" lists those chosen with FailURLInStatus. An invalidation chosen with ErrorNext ends
// in ERROR instead. Every URL is then under "failed".
//
// Status is computed from the time the request was received. The only per-invalidation state is
// its record. The record is compact: URL indices, a bit mask of failed URLs, and a flag.
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
// # Cost
//
// The sandbox carries benchmark load, hundreds of thousands of URLs:
//   - Each URL string is stored once. Requests keep 4-byte indices.
//   - URL counts are kept up to date as requests arrive.
//   - Success responses are written without reflection.
//   - Nothing is logged per request above debug level.
//
// At most Options.MaxRecords requests are kept. Older ones are dropped. A status request for a
// dropped uuid gets 404. Stats and URL counts stay cumulative until Reset.
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
