package normalize

import (
	"fmt"
	"unicode/utf8"
)

// MaxInputLen is the longest input, in bytes, that Normalize accepts (8 KiB).
// It is far above any real image URL (browsers and CDNs start to fail
// around 2-8 KiB) and bounds the work and memory spent on one line of a
// bulk file. A key longer than MaxInputLen (an input whose percent-encoding
// grows it past the limit) is rejected too, so that every key can be fed
// back to Normalize.
const MaxInputLen = 8192

// maxErrInput is how much of a rejected input an Error keeps.
const maxErrInput = 120

// Error is a rejection: the input could not be turned into an invalidation key.
//
// Input is the start of the rejected input (at most 120 bytes, cut on a
// character boundary, with "..." appended when cut); Error prints it
// %q-quoted, so control characters and invalid bytes are shown escaped.
// Reason is a sentence that says what is wrong and, where it helps, the fix.
type Error struct {
	Input  string
	Reason string
}

// Error returns `url "<input>": <reason>`.
func (e *Error) Error() string {
	return fmt.Sprintf("url %q: %s", e.Input, e.Reason)
}

// newError builds the *Error for raw, truncating it to something printable.
func newError(raw, reason string) *Error {
	in := raw
	if len(in) > maxErrInput {
		cut := maxErrInput
		// Back up to the start of a character (at most 3 bytes) so that a
		// valid UTF-8 input is not shown with a broken last character.
		for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(in[cut]); i++ {
			cut--
		}
		in = in[:cut] + "..."
	}
	return &Error{Input: in, Reason: reason}
}

// Reject returns the *Error of raw with reason, raw cut to a printable length as Normalize cuts it.
// It is for a caller that refuses a URL for a reason of its own, such as a router that finds the
// URL's owner.
func Reject(raw, reason string) *Error { return newError(raw, reason) }
