package store

import "strings"

// IsHistoryKey reports whether k holds history of what was sent: an epoch bucket, an epoch's call
// table, an hour bucket of an earlier version, or a URL's own hash. The bench uses it to tell the history from what
// else a drain leaves in Redis.
func IsHistoryKey(k string) bool {
	return strings.HasPrefix(k, keyHistoryEpoch) || strings.HasPrefix(k, keyHistoryCalls) || strings.HasPrefix(k, keyHistoryHour) || strings.HasPrefix(k, keyHistory)
}
