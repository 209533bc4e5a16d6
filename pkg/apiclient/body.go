package apiclient

import (
	"bytes"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// maxErrorBody is how much of an error response body is kept in an error.
	maxErrorBody = 4 << 10
	// maxSuccessBody bounds the JSON read from a 2xx response.
	maxSuccessBody = 1 << 20
	// maxDrain is how much of an unread body is discarded so the connection can be reused;
	// past that the connection is closed instead.
	maxDrain = 64 << 10
	// redacted replaces the API key wherever a server echoes it.
	redacted = "[redacted]"
)

// drainClose discards what is left of body (at most maxDrain bytes) and closes it, so that
// the underlying connection goes back to the pool.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	_ = body.Close()
}

// readErrorBody reads at most maxErrorBody bytes of r and returns them as sanitised text:
// the key replaced with "[redacted]" (even when the read stopped in the middle of it),
// invalid UTF-8 replaced, control characters other than white space turned into spaces.
// A read error ends the read; what was read so far is kept.
func readErrorBody(r io.Reader, key string) string {
	// Read enough past the limit that a key starting before the limit is read whole.
	limit := int64(maxErrorBody + len(key))
	raw, _ := io.ReadAll(io.LimitReader(r, limit))
	if int64(len(raw)) == limit {
		// More may follow: drop a trailing partial key, which a later read would complete.
		raw = raw[:len(raw)-partialSuffix(raw, key)]
	}
	return sanitize(raw, key, maxErrorBody)
}

// partialSuffix returns the length of the longest proper prefix of key that raw ends with.
func partialSuffix(raw []byte, key string) int {
	for n := min(len(key)-1, len(raw)); n > 0; n-- {
		if bytes.HasSuffix(raw, []byte(key[:n])) {
			return n
		}
	}
	return 0
}

// sanitize redacts key from raw and returns valid UTF-8 text of at most max bytes, cut on a
// rune boundary, with control characters other than \t, \n and \r replaced by spaces.
func sanitize(raw []byte, key string, max int) string {
	s := string(raw)
	if key != "" && strings.Contains(s, key) {
		s = strings.ReplaceAll(s, key, redacted)
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexFunc(s, isBadControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isBadControl(r) {
				return ' '
			}
			return r
		}, s)
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func isBadControl(r rune) bool {
	return unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r'
}

// redactError wraps err so that its message never shows key; errors.Is and errors.As still
// see err through Unwrap.
func redactError(err error, key string) error {
	if err == nil || key == "" || !strings.Contains(err.Error(), key) {
		return err
	}
	return &redactedError{err: err, msg: strings.ReplaceAll(err.Error(), key, redacted)}
}

type redactedError struct {
	err error
	msg string
}

// Error returns the redacted message.
func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *redactedError) Unwrap() error { return e.err }
