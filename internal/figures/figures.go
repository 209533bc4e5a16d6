// Package figures writes numbers for people one way everywhere: counts with thousands
// separators and the noun that agrees, rates with at most two decimals, durations rounded to
// what a reader can use, times in UTC. `enqueue` and the status page both print through it.
package figures

import (
	"strconv"
	"strings"
	"time"
)

// Count writes n with thousands separators: 1,234,567.
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i, ch := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, ch)
	}
	return string(out)
}

// Plural writes n (as Count does) and the noun that agrees with it: 1 API call, 2 API calls.
func Plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return Count(n) + " " + many
}

// Rate writes a rate per second with at most two decimals and no trailing zeros: 10, 2.5,
// 0.02. A rate above 0 that rounds to 0 is "<0.01", so that some activity never reads as none.
func Rate(f float64) string {
	if f > 0 && f < 0.005 {
		return "<0.01"
	}
	s := strconv.FormatFloat(f, 'f', 2, 64)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// Duration writes d rounded to what a reader can use: milliseconds under a second, tenths of a
// second under a minute, whole seconds above (40ms, 4.6s, 20m0s).
func Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Seconds is Duration for a figure in seconds.
func Seconds(s float64) string { return Duration(time.Duration(s * float64(time.Second))) }

// Time writes t in UTC to the second: 2026-12-06 16:40:31 UTC.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }

// Millis is Time for a Unix time in milliseconds.
func Millis(ms int64) string { return Time(time.UnixMilli(ms)) }
