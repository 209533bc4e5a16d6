// Package kvlist reads the settings that are comma-separated lists of "name=value" entries
// (EVENTS_BUCKETS, CLOUDIMAGE_ALIASES), so that each setting checks only its names and values.
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

// Each calls fn with each entry of s, in order, and stops at the first error: fn's, or an entry
// without "=", which is an error naming setting, the entry and form, how an entry is written
// (e.g. "_name_=https://origin/base"). Spaces around entries, names and values are ignored, and
// so are empty entries (a trailing comma).
func Each(s, setting, form string, fn func(Entry) error) error {
	for _, entry := range strings.Split(s, ",") {
		e := strings.TrimSpace(entry)
		if e == "" {
			continue
		}
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			return fmt.Errorf("%s entry %q has no \"=\": write each entry as %s", setting, e, form)
		}
		if err := fn(Entry{Text: e, Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}); err != nil {
			return err
		}
	}
	return nil
}
