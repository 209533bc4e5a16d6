package store

import "strings"

// IsHistoryKey reports whether k holds history of what was sent, of any account: an epoch
// bucket, an epoch's call table, an hour bucket of an earlier version, or a URL's own hash.
// The bench uses it to tell the history from what else a drain leaves in Redis.
func IsHistoryKey(k string) bool {
	if !strings.HasPrefix(k, prefixHead) {
		return false
	}
	i := strings.Index(k, "}:")
	if i < 0 {
		return false
	}
	return defaultKeys.isHistory(Prefix + k[i+2:])
}
