// Package sandbox is a local stand-in for the Cloudimage Invalidation API: an in-process
// HTTP handler that implements the documented contract, records what it receives, and can
// be told to misbehave. The worker uses it when started with CLOUDIMAGE_SANDBOX=true and no
// key (nothing leaves the machine); tests and benchmarks use it as the API.
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
// Refusals, each with a JSON body {"status":"error","msg":"..."} that never echoes the key:
//
//	401  no X-Client-Key, or not the accepted key (Options.Key; empty accepts any key)
//	400  malformed JSON, a missing or unknown scope (including the withdrawn "urls"),
//	     no URLs or more than 15 with scope original, an empty URL, a URL with a query
//	     string, URLs with scope all, a URL chosen with RejectURL (the message names it)
//	404  an unknown path or uuid;  405 a wrong method;  413 a body over 256 KiB;
//	415  a Content-Type other than application/json
//
// The real API's error bodies and codes for these cases are not published; these are the
// sandbox's choices (the client classifies by status class only).
//
// # Status life cycle
//
// An accepted invalidation moves RECEIVED -> PREPARING -> FLUSHINGCLOUDIMAGESERVER ->
// FLUSHINGCDNSERVERS -> DONE, each stage lasting a quarter of the status delay
// (Options.StatusDelay, SetStatusDelay), measured on the server's clock (Options.Now). With
// a zero delay a status request sees DONE at once. Before DONE, "received" lists the URLs;
// at DONE it is null, "invalidated" lists the URLs and "failed" those chosen with
// FailURLInStatus. An invalidation chosen with ErrorNext ends in ERROR instead, with every
// URL under "failed". Status is computed from the time the request was received; the only
// per-invalidation state is its record (compact: URL indices, a failed-URL bit mask, a flag).
//
// # Faults
//
// Faults apply to POST /invalidate, checked after the key, in this order: FailNext, FailFor,
// RateLimitFor; then the request is validated and RejectURL applies. FailStatusNext applies
// to GET /invalidate/{uuid}. Latency (Options.Latency, SetLatency) delays every response;
// a request whose context ends during it (the client went away, or stop was called) is
// recorded with code 499, not processed, and its response aborted (the connection drops).
//
// ApplyFaults installs faults parsed by ParseFaults from the worker's CLOUDIMAGE_SANDBOX_FAULTS
// (FaultsSyntax): URL patterns rejected with 400 or failed in the status check, the status a
// matching request reports instead of DONE (ERROR_CDN_NODE, or one Cloudimage does not document,
// for ever or for a while), and 429 and 5xx windows that start at the first invalidation request,
// so that a user sees them with the first URLs sent.
// Every method is safe for concurrent use while serving.
//
// # Cost
//
// The sandbox is built to carry benchmark load (hundreds of thousands of URLs): each URL
// string is stored once (requests keep 4-byte indices), URL counts are maintained as
// requests arrive, success responses are written without reflection, and nothing is logged
// per request above debug level. At most Options.MaxRecords requests are kept; older ones
// are dropped (a status request for a dropped uuid gets 404), while Stats and URL counts
// stay cumulative until Reset.
//
// # Use
//
//	srv, base, stop, err := sandbox.Start(sandbox.Options{Key: "test-key"})
//	if err != nil { ... }
//	defer stop()
//	c, _ := apiclient.New("test-key", apiclient.WithBaseURL(base))
//
// For tests that need no network (or run under testing/synctest), use New and give an
// http.Client the in-process transport from RoundTripper.
package sandbox
