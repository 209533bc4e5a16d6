package worker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/pkg/apiclient"
)

// TestFailurePolicy is the failure policy over every status class (issue 13, point 3): what the
// worker does after each answer, for a send and for a status check.
func TestFailurePolicy(t *testing.T) {
	rejected := func(code int) error {
		return &apiclient.RejectedError{Method: "POST", Path: "/invalidate", StatusCode: code}
	}
	server := func(code int, ra time.Duration) error {
		return &apiclient.ServerError{Method: "POST", Path: "/invalidate", StatusCode: code, RetryAfter: ra}
	}
	transport := func(err error) error {
		return &apiclient.TransportError{Method: "POST", Path: "/invalidate", Op: "send", Err: err}
	}
	untrusted := transport(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})
	type want struct {
		action     action
		outcome    string
		retryAfter time.Duration
		cause      string
	}
	cases := []struct {
		name      string
		scope     string
		err       error
		cancelled bool
		want      want
	}{
		{"429 with Retry-After", scopeOriginal, &apiclient.RateLimitError{StatusCode: 429, RetryAfter: 7 * time.Second}, false, want{actThrottled, "rate_limited", 7 * time.Second, ""}},
		{"429 without Retry-After", scopeOriginal, &apiclient.RateLimitError{StatusCode: 429}, false, want{actThrottled, "rate_limited", 0, ""}},
		{"408", scopeOriginal, rejected(408), false, want{actRetry, "rejected", 0, ""}},
		{"425", scopeOriginal, rejected(425), false, want{actRetry, "rejected", 0, ""}},
		{"500", scopeOriginal, server(500, 0), false, want{actRetry, "server_error", 0, ""}},
		{"501", scopeOriginal, server(501, 0), false, want{actRetry, "server_error", 0, ""}},
		{"502 with Retry-After: not honoured", scopeOriginal, server(502, 9*time.Second), false, want{actRetry, "server_error", 0, ""}},
		{"500 with Retry-After: not honoured", scopeAll, server(500, 9*time.Second), false, want{actRetry, "server_error", 0, ""}},
		{"504 with Retry-After: not honoured", scopeStatus, server(504, 9*time.Second), false, want{actRetry, "server_error", 0, ""}},
		{"503 with Retry-After: honoured", scopeOriginal, server(503, 9*time.Second), false, want{actRetry, "server_error", 9 * time.Second, ""}},
		{"503 without Retry-After", scopeOriginal, server(503, 0), false, want{actRetry, "server_error", 0, ""}},
		{"599", scopeAll, server(599, 0), false, want{actRetry, "server_error", 0, ""}},
		{"connection refused", scopeOriginal, transport(&net.OpError{Op: "dial", Err: errors.New("connection refused")}), false, want{actRetry, "transport_error", 0, ""}},
		{"client timeout", scopeOriginal, transport(context.DeadlineExceeded), false, want{actRetry, "transport_error", 0, ""}},
		{"torn 2xx body", scopeOriginal, &apiclient.TransportError{Op: "read response", StatusCode: 201, Err: errors.New("unexpected EOF")}, false, want{actRetry, "transport_error", 0, ""}},
		{"400", scopeOriginal, rejected(400), false, want{actBadRequest, "rejected", 0, ""}},
		{"413", scopeOriginal, rejected(413), false, want{actBadRequest, "rejected", 0, ""}},
		{"422", scopeOriginal, rejected(422), false, want{actBadRequest, "rejected", 0, ""}},
		{"409, another 4xx", scopeOriginal, rejected(409), false, want{actBadRequest, "rejected", 0, ""}},
		{"too many URLs, never sent", scopeOriginal, fmt.Errorf("%w: 16", apiclient.ErrTooManyURLs), false, want{actBadRequest, "rejected", 0, ""}},
		{"401", scopeOriginal, &apiclient.UnauthorizedError{StatusCode: 401}, false, want{actStop, "unauthorized", 0, causeKey}},
		{"403", scopeStatus, &apiclient.UnauthorizedError{StatusCode: 403}, false, want{actStop, "unauthorized", 0, causeKey}},
		{"untrusted certificate", scopeOriginal, untrusted, false, want{actStop, "transport_error", 0, causeTLS}},
		{"404 at the endpoint", scopeOriginal, rejected(404), false, want{actStop, "rejected", 0, causeEndpoint}},
		{"405 at the endpoint", scopeAll, rejected(405), false, want{actStop, "rejected", 0, causeEndpoint}},
		{"410 at the endpoint", scopeOriginal, rejected(410), false, want{actStop, "rejected", 0, causeEndpoint}},
		{"a redirect", scopeOriginal, rejected(302), false, want{actStop, "rejected", 0, causeEndpoint}},
		{"404 to a status check: unknown uuid", scopeStatus, rejected(404), false, want{actBadRequest, "rejected", 0, ""}},
		{"408 to a status check", scopeStatus, rejected(408), false, want{actRetry, "rejected", 0, ""}},
		{"shutdown mid-call", scopeOriginal, transport(context.Canceled), true, want{actCancelled, "cancelled", 0, ""}},
		{"cancelled by the caller", scopeOriginal, transport(context.Canceled), false, want{actCancelled, "cancelled", 0, ""}},
		{"a 5xx after the task's context ended", scopeOriginal, server(500, 0), true, want{actCancelled, "cancelled", 0, ""}},
		{"429 wins over cancellation", scopeOriginal, &apiclient.RateLimitError{StatusCode: 429}, true, want{actThrottled, "rate_limited", 0, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := classify(tc.scope, nil, fmt.Errorf("task x: %w", tc.err), tc.cancelled)
			got := want{d.action, d.outcome, d.retryAfter, d.cause}
			if got != tc.want {
				t.Errorf("classify(%s) = %+v, want %+v", tc.name, got, tc.want)
			}
			if d.reason == "" {
				t.Error("no reason in words")
			}
			// One owner for "transient": the worker retries exactly what the client calls transient,
			// after exactly the wait the client says the API asked for.
			if tr := apiclient.IsTransient(tc.err); !tc.cancelled && tr != (d.action == actRetry || d.action == actThrottled) {
				t.Errorf("apiclient.IsTransient = %v but the worker's action is %v", tr, d.action)
			}
			if (d.action == actRetry || d.action == actThrottled) && d.retryAfter != apiclient.RetryAfter(tc.err) {
				t.Errorf("the worker waits %v but apiclient.RetryAfter says %v", d.retryAfter, apiclient.RetryAfter(tc.err))
			}
		})
	}
}

// TestAcceptedPolicy: the same policy for the answers the API accepted (2xx): one that names the
// invalidation is followed; one without a uuid (a 204, a body without it) is accepted but not.
func TestAcceptedPolicy(t *testing.T) {
	type want struct {
		action  action
		outcome string
	}
	for _, tc := range []struct {
		name  string
		scope string
		inv   *apiclient.Invalidation
		want  want
	}{
		{"201 with a uuid", scopeOriginal, &apiclient.Invalidation{StatusCode: 201, UUID: "u-1"}, want{actAccepted, "accepted"}},
		{"flush-all 201 with a uuid", scopeAll, &apiclient.Invalidation{StatusCode: 201, UUID: "u-2"}, want{actAccepted, "accepted"}},
		{"201 without a uuid", scopeOriginal, &apiclient.Invalidation{StatusCode: 201}, want{actAcceptedNoUUID, "accepted"}},
		{"204, no body", scopeOriginal, &apiclient.Invalidation{StatusCode: 204}, want{actAcceptedNoUUID, "accepted"}},
		{"flush-all 200 without a uuid", scopeAll, &apiclient.Invalidation{StatusCode: 200}, want{actAcceptedNoUUID, "accepted"}},
		{"no answer at all", scopeOriginal, nil, want{actAcceptedNoUUID, "accepted"}},
		{"a status check's answer", scopeStatus, nil, want{actAccepted, "accepted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := classify(tc.scope, tc.inv, nil, false)
			if got := (want{d.action, d.outcome}); got != tc.want {
				t.Errorf("classify(%s) = %+v, want %+v", tc.name, got, tc.want)
			}
			if d.reason == "" || d.retryAfter != 0 || d.cause != "" {
				t.Errorf("decision %+v: want a reason, no wait, no cause", d)
			}
			if d.action == actAcceptedNoUUID && !strings.Contains(d.reason, "no invalidation uuid") {
				t.Errorf("reason %q does not say the uuid is missing", d.reason)
			}
		})
	}
}

func TestOncePer(t *testing.T) {
	o := oncePer{period: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Second, false}, {59 * time.Second, false}, {time.Minute, true}, {61 * time.Second, false}, {3 * time.Minute, true}} {
		if got := o.allow(t0.Add(c.at)); got != c.want {
			t.Errorf("allow at +%s = %v, want %v", c.at, got, c.want)
		}
	}
}

// TestStatusPolicy: DONE ends a check, every status that starts with ERROR ends it as a failure,
// the documented stages and any other status keep it going.
func TestStatusPolicy(t *testing.T) {
	for status, want := range map[string]statusVerdict{
		apiclient.StatusReceived: statusRunning, apiclient.StatusPreparing: statusRunning,
		apiclient.StatusFlushingCloudimage: statusRunning, apiclient.StatusFlushingCDN: statusRunning,
		apiclient.StatusDone: statusDone, apiclient.StatusError: statusFailed, apiclient.StatusErrorCDNNode: statusFailed,
		"ERROR_ORIGIN": statusFailed, "QUEUED": statusUnknown, "": statusUnknown, "error": statusUnknown, "DONE ": statusUnknown,
	} {
		if got := classifyStatus(status); got != want {
			t.Errorf("classifyStatus(%q) = %d, want %d", status, got, want)
		}
	}
}

// TestStatusLabels: the label set of status metrics stays bounded whatever the API sends.
func TestStatusLabels(t *testing.T) {
	var l statusLabels
	if got := l.label(apiclient.StatusErrorCDNNode); got != apiclient.StatusErrorCDNNode {
		t.Errorf("documented status labelled %q", got)
	}
	for _, s := range []string{"queued", "WITH SPACE", strings.Repeat("A", maxStatusLen+1), "\x00", `QUOTE"`} {
		if got := l.label(s); got != statusOther {
			t.Errorf("label(%q) = %q, want %q", s, got, statusOther)
		}
	}
	seen := map[string]bool{}
	for i := range 1000 {
		seen[l.label(fmt.Sprintf("NEW_%d", i))] = true
	}
	if len(seen) != maxStatusLabels+1 || !seen[statusOther] || !seen["NEW_0"] {
		t.Errorf("%d labels for 1000 new statuses, want %d plus %s", len(seen), maxStatusLabels, statusOther)
	}
	if got := l.label("NEW_1"); got != "NEW_1" {
		t.Errorf("a status with a label lost it: %q", got)
	}
	now := time.Now()
	if !l.logDue("NEW_1", now) || l.logDue("NEW_1", now.Add(unknownStatusLogEvery-time.Second)) || !l.logDue("NEW_2", now) ||
		!l.logDue("NEW_1", now.Add(unknownStatusLogEvery)) {
		t.Error("an unknown status is not logged once per status per period")
	}
	if got := statusText(strings.Repeat("x", 100)); len(got) > maxStatusLen+8 {
		t.Errorf("statusText keeps %d bytes", len(got))
	}
}

// TestApartPrefixes: a prefix goes out alone; a task without one, or of one URL, is not split.
func TestApartPrefixes(t *testing.T) {
	got := apartPrefixes([]string{"https://a.com/x.jpg", "https://a.com/f/*", "https://a.com/y.jpg", "https://a.com/g/*"})
	want := [][]string{{"https://a.com/f/*"}, {"https://a.com/g/*"}, {"https://a.com/x.jpg", "https://a.com/y.jpg"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("apartPrefixes = %v, want %v", got, want)
	}
	for _, in := range [][]string{{"https://a.com/f/*"}, {"https://a.com/x.jpg", "https://a.com/y.jpg"}} {
		if got := apartPrefixes(in); got != nil {
			t.Errorf("apartPrefixes(%v) = %v, want nil", in, got)
		}
	}
}
