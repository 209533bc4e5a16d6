package worker

import (
	"fmt"
	"sync"
	"time"

	"github.com/cipurge/cipurge/pkg/apiclient"
)

// Metrics labelled by a status Cloudimage reports take their label from statusLabels. A status is
// text from outside: a broken or hostile API could send a new one in every answer. So the label
// set is bounded. The documented statuses are always their own label. Other statuses get their
// own label while fewer than maxStatusLabels are known and they look like a status (capitals,
// digits and underscores, at most maxStatusLen bytes). Every other one is labelled "other".

const (
	// maxStatusLabels is how many undocumented statuses get a label of their own.
	maxStatusLabels = 16
	// maxStatusLen is the longest status kept as a label.
	maxStatusLen = 40
	// statusOther labels every status past the bound.
	statusOther = "other"
	// unknownStatusLogEvery is how often at most one undocumented status is logged.
	unknownStatusLogEvery = time.Hour
)

// statusLabels bounds the labels of status metrics and the logs of undocumented statuses. It is
// safe for concurrent use.
type statusLabels struct {
	mu     sync.Mutex
	extra  map[string]struct{}  // undocumented statuses with a label of their own
	logged map[string]time.Time // when each label's undocumented status was last logged
}

// label is the metric label of status.
func (l *statusLabels) label(status string) string {
	switch status {
	case apiclient.StatusReceived, apiclient.StatusPreparing, apiclient.StatusFlushingCloudimage, apiclient.StatusFlushingCDN,
		apiclient.StatusDone, apiclient.StatusError, apiclient.StatusErrorCDNNode:
		return status
	}
	if !statusShaped(status) {
		return statusOther
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.extra[status]; ok {
		return status
	}
	if len(l.extra) >= maxStatusLabels {
		return statusOther
	}
	if l.extra == nil {
		l.extra = map[string]struct{}{}
	}
	l.extra[status] = struct{}{}
	return status
}

// logDue reports whether the undocumented status with label may be logged at now: once per
// label per unknownStatusLogEvery. The map holds at most maxStatusLabels+1 entries.
func (l *statusLabels) logDue(label string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.logged[label]; ok && now.Sub(last) < unknownStatusLogEvery {
		return false
	}
	if l.logged == nil {
		l.logged = map[string]time.Time{}
	}
	l.logged[label] = now
	return true
}

// statusShaped reports whether s looks like a status: 1 to maxStatusLen capitals, digits and underscores.
func statusShaped(s string) bool {
	if s == "" || len(s) > maxStatusLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// statusText is status as logs and records show it: at most maxStatusLen bytes, quoted when it
// holds anything but a status's characters.
func statusText(status string) string {
	if statusShaped(status) {
		return status
	}
	if len(status) > maxStatusLen {
		status = status[:maxStatusLen] + "..."
	}
	return fmt.Sprintf("%q", status)
}
