package cipurge

import (
	"errors"
	"time"

	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// OptionError is what NewClient and NewInspector return for a setting they cannot use.
// Nothing was built.
type OptionError struct {
	Option string // the option or argument, such as "WithMaxRetry"
	Value  string // the value given, as text
	Reason string // what is wrong, and the range that works
}

func (e *OptionError) Error() string {
	return "cipurge: " + e.Option + "(" + e.Value + "): " + e.Reason
}

// EvictionError is what every write returns while Redis's maxmemory-policy is allkeys-*.
// Such a Redis may evict queued requests and asynq's queues.
// An acknowledgement would then not mean kept, so nothing was written.
// The fix is CONFIG SET maxmemory-policy noeviction.
type EvictionError struct {
	Policy string // the maxmemory-policy Redis has, such as "allkeys-lru"
	err    error
}

func (e *EvictionError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e *EvictionError) Unwrap() error { return e.err }

// PolicyUnknownError is what every write returns while Redis's maxmemory-policy cannot be read.
// It has not been read before, so nothing is written until it can be.
// An allkeys-* policy would evict what was acknowledged.
// The policy is read again after about a second.
type PolicyUnknownError struct {
	Err error // why the policy could not be read, such as a timeout
	err error
}

func (e *PolicyUnknownError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error, which wraps Err.
func (e *PolicyUnknownError) Unwrap() error { return e.err }

// ReplicaError is what a write returns with WithReplicaWait when fewer replicas than asked hold it
// within the timeout. The write is on the master only, so a failover may lose it.
// Writing it again is safe: URLs still pending are not queued twice.
type ReplicaError struct {
	Want, Got int           // the replicas asked for, and those that held the write
	Timeout   time.Duration // how long the write waited for them
	err       error
}

func (e *ReplicaError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e *ReplicaError) Unwrap() error { return e.err }

// RedisError is a read or write that Redis did not complete.
// A write that fails this way may be sent again: URLs still pending are not queued twice.
type RedisError struct {
	Op  string // what was being done, such as "enqueue"
	Err error  // Redis's error, or the context's
}

func (e *RedisError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *RedisError) Unwrap() error { return e.Err }

// InvalidURLError is an input that is not a valid image URL for the normaliser.
// Enqueue reports it in Result.Err; Inspector.Lookup returns it.
type InvalidURLError struct {
	Input  string // the input, cut to a printable length
	Reason string // why it was rejected, and the fix
	err    error
}

func (e *InvalidURLError) Error() string { return e.err.Error() }

// Unwrap returns the normaliser's *normalize.Error.
func (e *InvalidURLError) Unwrap() error { return e.err }

// ReadError is a failure of the reader given to EnqueueBulkFrom.
// The report says what was enqueued before it.
type ReadError struct {
	Line int   // the line that could not be read
	Err  error // the reader's error
}

func (e *ReadError) Error() string { return "read input: " + e.Err.Error() }

// Unwrap returns Err.
func (e *ReadError) Unwrap() error { return e.Err }

// Why a flush-all request is refused.
// Each is the Cause of the *FlushRefusedError returned, so errors.Is matches it.
// Their words name no command: each front end says its own fix.
var (
	// ErrFlushAllNoToken: the client has no flush-all token, so there is nothing to confirm against.
	ErrFlushAllNoToken = flushall.ErrNoToken
	// ErrFlushAllNotConfirmed: no confirmation was given.
	ErrFlushAllNotConfirmed = flushall.ErrNotConfirmed
	// ErrFlushAllMismatch: the confirmation does not match the token.
	ErrFlushAllMismatch = flushall.ErrMismatch
	// ErrFlushAllPending: a flush-all request is already pending, retrying or dead-lettered.
	// There is one at a time.
	ErrFlushAllPending = flushall.ErrPending
	// ErrFlushAllCoolingDown: the last flush-all that may have reached Cloudimage is within the
	// cooldown. FlushRefusedError.Next says when the next may go.
	ErrFlushAllCoolingDown = flushall.ErrCoolingDown
)

// FlushRefusedError says why a flush-all request was refused. Nothing was enqueued.
type FlushRefusedError struct {
	Reason string    // the refusal in words, with no remedy: the caller words its own
	Cause  error     // one of the ErrFlushAll* errors
	Next   time.Time // with ErrFlushAllCoolingDown: when the next flush-all may be requested
}

func (e *FlushRefusedError) Error() string { return "flush-all refused: " + e.Reason }

// Unwrap returns the Cause, for errors.Is.
func (e *FlushRefusedError) Unwrap() error { return e.Cause }

// FlushAllCost is what a flush-all costs, said to whoever asks for one.
const FlushAllCost = flushall.Cost

// apiError turns an error of the internal packages into one of this package's types.
// op names the step for a *RedisError.
func apiError(op string, err error) error {
	if err == nil {
		return nil
	}
	var (
		ev *store.EvictionError
		pu *store.PolicyUnknownError
		re *store.ReplicaError
		fr *flushall.RefusedError
		ne *normalize.Error
	)
	switch {
	case errors.As(err, &ev):
		return &EvictionError{Policy: ev.Policy, err: ev}
	case errors.As(err, &pu):
		return &PolicyUnknownError{Err: pu.Err, err: pu}
	case errors.As(err, &re):
		return &ReplicaError{Want: re.Want, Got: re.Got, Timeout: re.Timeout, err: err}
	case errors.As(err, &fr):
		return &FlushRefusedError{Reason: fr.Reason, Cause: fr.Cause, Next: fr.Next}
	case errors.As(err, &ne):
		return &InvalidURLError{Input: ne.Input, Reason: ne.Reason, err: ne}
	}
	return &RedisError{Op: op, Err: err}
}
