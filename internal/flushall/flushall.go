// Package flushall owns the flush-all rule.
// The rule says who may request one, and when one may be sent.
// Package cipurge asks it once per request.
// The worker asks it once per run of the task.
// So the rule is written once.
// Refusals are typed errors, and each front end words its own fix.
//
// A flush-all (scope "all") must be confirmed with the Cloudimage token.
// That guards against accidents.
// The token is not a secret, since it is in every CDN URL.
// Two flush-alls are at least the cooldown apart.
package flushall

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// Cost is what a flush-all costs, said to whoever asks for one.
const Cost = "flush-all (scope \"all\") removes every cached image of the token from the CDN and " +
	"Cloudimage's servers: every image is downloaded again from your origin, first loads are slow and " +
	"the origin takes a burst of traffic (Cloudimage asks customers above 1 TB of monthly traffic or storage to contact them first)"

// Refusals of Confirm (package cipurge exports them as ErrFlushAllNoToken, ErrFlushAllNotConfirmed
// and ErrFlushAllMismatch). Their words name no command: each front end says its own fix.
var (
	ErrNoToken      = errors.New("no token is set, so there is nothing to confirm against")
	ErrNotConfirmed = errors.New("not confirmed")
	ErrMismatch     = errors.New("the confirmation does not match the token")
)

// Refusals of a request that Confirm accepted.
// Package cipurge exports them as ErrFlushAllPending and ErrFlushAllCoolingDown.
var (
	// ErrPending: a flush-all task is already pending, retrying or dead-lettered.
	// There is one at a time.
	ErrPending = errors.New("a flush-all request is already pending, retrying or in the dead-letter queue (task " +
		tasks.TaskIDAll + " on queue " + tasks.QueueAll + ")")
	// ErrCoolingDown: the last flush-all that may have reached Cloudimage is within the cooldown.
	ErrCoolingDown = errors.New("within the cooldown of the last flush-all")
)

// RefusedError says why a flush-all request was refused. Nothing was enqueued.
type RefusedError struct {
	Reason string    // the refusal in words, with no remedy
	Cause  error     // one of the Err* refusals of this package
	Next   time.Time // with ErrCoolingDown: when the next flush-all may be requested
}

func (e *RefusedError) Error() string { return "flush-all refused: " + e.Reason }

// Unwrap returns the Cause, for errors.Is.
func (e *RefusedError) Unwrap() error { return e.Cause }

// Confirm checks a flush-all's confirmation against the Cloudimage token, in constant time.
// It returns nil when they match. An empty token gives ErrNoToken, an empty confirm
// ErrNotConfirmed, and any other difference ErrMismatch.
func Confirm(token, confirm string) error {
	switch {
	case token == "":
		return ErrNoToken
	case confirm == "":
		return ErrNotConfirmed
	case subtle.ConstantTimeCompare([]byte(token), []byte(confirm)) != 1:
		return ErrMismatch
	}
	return nil
}

// Last is what the store knows of the flush-alls that may have reached Cloudimage.
type Last struct {
	SentAt     time.Time // the last one the API accepted; zero: none
	UUID       string    // its uuid
	AttemptAt  time.Time // the last attempt whose outcome is unknown; zero: none
	InFlightAt time.Time // the last attempt still recorded in flight: being sent, or its outcome could not be recorded; zero: none
	RootAt     time.Time // the last root prefix sent in place of a flush-all; zero: none
	Root       string    // that root prefix
}

// CoolingDown reports whether a flush-all at now is within cooldown of the last one that may have
// reached Cloudimage, and when the next may go. The last one is the latest of three: the last
// accepted, the last attempt with an unknown outcome, and the last attempt still recorded in flight.
// So an accepted flush-all whose record could not be written still counts, from its attempt.
func CoolingDown(last Last, now time.Time, cooldown time.Duration) (next time.Time, reason string, wait bool) {
	at, what := last.SentAt, fmt.Sprintf("a flush-all was sent at %s (uuid %s)", last.SentAt.UTC().Format(time.RFC3339), last.UUID)
	if last.AttemptAt.After(at) {
		at, what = last.AttemptAt, "a flush-all was attempted at "+last.AttemptAt.UTC().Format(time.RFC3339)+
			" and its outcome is unknown (it is in the dead-letter queue)"
	}
	if last.RootAt.After(at) {
		at, what = last.RootAt, "the root prefix "+last.Root+" was sent at "+last.RootAt.UTC().Format(time.RFC3339)+
			" in place of a flush-all"
	}
	if last.InFlightAt.After(at) {
		at, what = last.InFlightAt, "a flush-all attempt began at "+last.InFlightAt.UTC().Format(time.RFC3339)+
			" and its outcome is not recorded (it is being sent, or its answer could not be recorded)"
	}
	if at.IsZero() {
		return time.Time{}, "", false
	}
	next = at.Add(cooldown)
	if !now.Before(next) {
		return next, "", false
	}
	return next, fmt.Sprintf("%s; the cooldown of %s allows the next at %s", what, cooldown, next.UTC().Format(time.RFC3339)), true
}

// Send is what the worker does with a confirmed flush-all task.
type Send int

// Answers of MaySend.
const (
	SendIt    Send = iota // send it now
	Refuse                // dead-letter it: it is within the cooldown
	Satisfied             // a flush-all sent after it was requested covered it: complete it, send nothing
)

// MaySend decides whether the worker sends a confirmed flush-all (Confirm said nil) requested at
// requestedAt, given what the store knows and the Redis clock now. With Refuse, reason says why.
func MaySend(requestedAt time.Time, last Last, now time.Time, cooldown time.Duration) (Send, string) {
	if last.SentAt.After(requestedAt) {
		return Satisfied, ""
	}
	if _, reason, wait := CoolingDown(last, now, cooldown); wait {
		return Refuse, reason
	}
	return SendIt, ""
}
