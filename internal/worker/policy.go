package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/pkg/apiclient"
)

// action is what the worker does after an API call.
type action int

const (
	// actThrottled: Cloudimage says "too many requests" (429). Every worker pauses (Retry-After,
	// or the shared backoff); the task waits without counting a failure.
	actThrottled action = iota
	// actRetry: transient (408, 425, 5xx, a transport error). A counted failure, retried after the
	// shared backoff, or after the Retry-After that apiclient.RetryAfter honours (a 503's).
	actRetry
	// actBadRequest: this request is wrong (400, 413, 422, another 4xx). Split it to isolate the
	// bad URL; a single URL is dead-lettered.
	actBadRequest
	// actStop: retrying cannot help until someone fixes the setup (a rejected key, an untrusted
	// certificate, an endpoint that is not there). Stop sending, keep the work, probe now and then.
	actStop
	// actCancelled: shutdown or the task's timeout. The task goes back to its queue.
	actCancelled
	// actAccepted: the API acted (2xx) and named the invalidation (its uuid). Record the send;
	// follow it to DONE/ERROR when invalidations are confirmed (PURGE_CONFIRM).
	actAccepted
	// actAcceptedNoUUID: the API acted (2xx: a 204, or a body without an invalidation uuid) but
	// named no invalidation, so it can be neither followed nor looked up at Cloudimage. Record the
	// send (later requests for the URLs are satisfied by it, as by any send), follow nothing (with
	// PURGE_CONFIRM the URLs are marked unconfirmed, with the reason), count it
	// (cipurge_api_accepted_without_uuid_total) and warn at most once per noUUIDWarnEvery.
	actAcceptedNoUUID
)

// Why sending stopped (actStop).
const (
	causeKey      = "api_key"  // Cloudimage rejects the key (401/403)
	causeTLS      = "tls"      // the API's certificate is not trusted
	causeEndpoint = "endpoint" // the API URL answers 404/405/410 (or a redirect): it is not the API
)

// decision is the failure policy's answer for one API call.
type decision struct {
	action     action
	outcome    string        // the metric label: what the API answered (accepted, rate_limited, unauthorized, rejected, server_error, transport_error, cancelled)
	retryAfter time.Duration // the wait the API asked for, as apiclient.RetryAfter honours it (429 and 503); 0: the shared backoff
	cause      string        // with actStop: causeKey, causeTLS or causeEndpoint
	reason     string        // in words, for logs, the pause and /readyz
}

// classify is the failure policy: it turns the outcome of one API call for scope (scopeOriginal,
// scopeAll, scopeStatus), its error err or, when err is nil, its accepted answer inv (see
// classifyAccepted), into what the worker does. cancelled says whether the task's context has
// ended (a call cancelled by the caller is put back, never counted). It is pure; the table in
// policy_test.go covers every status class. Transient is exactly apiclient.IsTransient and the
// wait the API asked for is exactly apiclient.RetryAfter (a 429's or a 503's Retry-After), so that
// the client and the worker never disagree.
func classify(scope string, inv *apiclient.Invalidation, err error, cancelled bool) decision {
	if err == nil {
		return classifyAccepted(scope, inv)
	}
	var (
		rl  *apiclient.RateLimitError
		un  *apiclient.UnauthorizedError
		rej *apiclient.RejectedError
		se  *apiclient.ServerError
		cv  *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &rl):
		return decision{action: actThrottled, outcome: "rate_limited", retryAfter: apiclient.RetryAfter(err),
			reason: fmt.Sprintf("%d from Cloudimage (rate limited)", rl.StatusCode)}
	case errors.As(err, &un):
		return decision{action: actStop, outcome: "unauthorized", cause: causeKey,
			reason: fmt.Sprintf("Cloudimage rejected the API key (%d): check CLOUDIMAGE_API_KEY", un.StatusCode)}
	case cancelled || errors.Is(err, context.Canceled):
		return decision{action: actCancelled, outcome: "cancelled", reason: "cancelled"}
	case errors.As(err, &cv):
		// Retrying cannot help until someone fixes the setup, and burning retries would fill the
		// dead-letter queue: stop sending, as with a rejected key.
		return decision{action: actStop, outcome: "transport_error", cause: causeTLS,
			reason: "cannot reach the Cloudimage API safely: " + err.Error() + ": check CLOUDIMAGE_API_URL and the system's CA certificates"}
	case errors.As(err, &rej) && endpointMissing(scope, rej.StatusCode):
		return decision{action: actStop, outcome: "rejected", cause: causeEndpoint,
			reason: fmt.Sprintf("the Cloudimage API answered %d at its endpoint (%s %s): check CLOUDIMAGE_API_URL", rej.StatusCode, rej.Method, rej.Path)}
	case apiclient.IsTransient(err):
		d := decision{action: actRetry, outcome: "transport_error", retryAfter: apiclient.RetryAfter(err)}
		if errors.As(err, &rej) {
			d.outcome = "rejected"
		} else if errors.As(err, &se) {
			d.outcome = "server_error"
		}
		d.reason = "Cloudimage outage: " + d.outcome
		return d
	case errors.As(err, &rej):
		return decision{action: actBadRequest, outcome: "rejected", reason: "rejected by Cloudimage"}
	}
	// No answer of the API's (an error of this program's, such as too many URLs): nothing a
	// retry changes, so the request is bad.
	return decision{action: actBadRequest, outcome: "rejected", reason: "not sent: " + errorText(err)}
}

// classifyAccepted is the policy for an answer the API accepted (2xx, err nil) to a send (scope
// original or all): actAccepted when it names the invalidation's uuid, actAcceptedNoUUID when it
// does not (inv nil counts as no uuid). A status check's answer (scope status) names no new
// invalidation: it is actAccepted.
func classifyAccepted(scope string, inv *apiclient.Invalidation) decision {
	if scope == scopeStatus || inv != nil && inv.UUID != "" {
		return decision{action: actAccepted, outcome: "accepted", reason: "accepted by Cloudimage"}
	}
	code := 0
	if inv != nil {
		code = inv.StatusCode
	}
	return decision{action: actAcceptedNoUUID, outcome: "accepted",
		reason: fmt.Sprintf("Cloudimage accepted the request (%d) but its answer has no invalidation uuid: it cannot be confirmed or looked up", code)}
}

// endpointMissing reports whether status, answered to a call for scope, says the API URL is wrong:
// 404, 405 and 410 to a send (for a status check, 404 means Cloudimage does not know the uuid),
// and a redirect (never followed) to any call.
func endpointMissing(scope string, status int) bool {
	if status >= 300 && status < 400 {
		return true
	}
	if scope == scopeStatus {
		return false
	}
	return status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusGone
}

func errorText(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// noUUIDWarnEvery is how often at most the worker warns of accepted answers without a uuid.
const noUUIDWarnEvery = time.Minute

// oncePer lets an event through at most once per period (a log line that would otherwise repeat
// for every request). It is safe for concurrent use.
type oncePer struct {
	period time.Duration
	mu     sync.Mutex
	last   time.Time
}

// allow reports whether the event at now may be told.
func (o *oncePer) allow(now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.last.IsZero() && now.Sub(o.last) < o.period {
		return false
	}
	o.last = now
	return true
}

// acceptedAnswer applies the policy (classifyAccepted) to an answer the API accepted for scope:
// it counts the call, and an answer without a uuid (actAcceptedNoUUID) in
// cipurge_api_accepted_without_uuid_total, warned about at most once per noUUIDWarnEvery. The
// caller records the send and follows it only on actAccepted.
func (w *Worker) acceptedAnswer(scope string, inv *apiclient.Invalidation) decision {
	d := classify(scope, inv, nil, false)
	w.metrics.APIRequests.WithLabelValues(scope, d.outcome).Inc()
	if d.action != actAcceptedNoUUID {
		return d
	}
	w.metrics.AcceptedNoUUID.WithLabelValues(scope).Inc()
	if w.noUUIDWarn.allow(time.Now()) {
		w.log.Warn(d.reason+" (counted in cipurge_api_accepted_without_uuid_total; this warning repeats at most once a minute)",
			zap.String("scope", scope))
	}
	return d
}

// statusVerdict is what a status check's answer means for the invalidation it follows.
type statusVerdict int

const (
	// statusRunning: a documented status before DONE. Check again later.
	statusRunning statusVerdict = iota
	// statusUnknown: a status the API does not document. It may be a new stage, so check again
	// later, as for a running one. It is counted by status and logged once per status per hour.
	statusUnknown
	// statusDone: DONE. The URLs listed under failed follow the failed-URL policy; the others are confirmed.
	statusDone
	// statusFailed: ERROR, or any status that starts with ERROR (ERROR_CDN_NODE). Every URL of
	// the request follows the failed-URL policy: sent again up to PURGE_MAX_RESENDS times, then dead-lettered.
	statusFailed
)

// classifyStatus is the policy for the status a status check reports. It is pure; its table is
// in policy_test.go. Which statuses end a check is apiclient's to say (InvalidationStatus.Final).
func classifyStatus(status string) statusVerdict {
	switch {
	case status == apiclient.StatusDone:
		return statusDone
	case apiclient.StatusFailed(status):
		return statusFailed
	case apiclient.StatusKnown(status):
		return statusRunning
	}
	return statusUnknown
}
