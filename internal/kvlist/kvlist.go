// Package kvlist reads settings that are comma-separated lists of "name=value" entries.
// The event receivers' buckets and the normaliser's aliases use it.
// So each setting checks only its own names and values.
package kvlist

import (
	"fmt"
	"strings"
)

// Entry is one entry of a list.
type Entry struct {
	Text  string // the entry as written, without the spaces around it (for error messages)
	Name  string // before the first "=", without the spaces around it
	Value string // after it, without the spaces around it
}

// Each calls fn with each entry of s, in order, and stops at the first error.
// That is fn's error, or one for an entry without "=".
// The latter names the entry and form, how an entry is written, e.g. "_name_=https://origin/base".
// The caller names the setting. Spaces around entries, names and values are ignored.
// So are empty entries, such as after a trailing comma.
func Each(s, form string, fn func(Entry) error) error {
	for _, entry := range strings.Split(s, ",") {
		e := strings.TrimSpace(entry)
		if e == "" {
			continue
		}
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			return fmt.Errorf("entry %q has no \"=\": write each entry as %s", e, form)
		}
		if err := fn(Entry{Text: e, Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}); err != nil {
			return err
		}
	}
	return nil
}
