package apiclient

import "strings"

// Scopes of an invalidation request, as sent in the "scope" field.
const (
	// ScopeOriginal invalidates the listed images with all their resizes.
	ScopeOriginal = "original"
	// ScopeAll invalidates every image of the account.
	ScopeAll = "all"
)

// Status values of an invalidation, in the order they normally appear. DONE and every status
// that starts with ERROR are final (see StatusFailed); for ERROR the API advises waiting a few
// minutes and trying again. Scaleflex's console also shows ERROR_CDN_NODE.
const (
	StatusReceived           = "RECEIVED"                 // accepted, not started
	StatusPreparing          = "PREPARING"                // being prepared
	StatusFlushingCloudimage = "FLUSHINGCLOUDIMAGESERVER" // flushing the resizing servers
	StatusFlushingCDN        = "FLUSHINGCDNSERVERS"       // flushing the CDN
	StatusDone               = "DONE"                     // finished; see InvalidationStatus.Failed
	StatusError              = "ERROR"                    // failed as a whole; try again later
	StatusErrorCDNNode       = "ERROR_CDN_NODE"           // a CDN node failed; seen in Scaleflex's console
)

// StatusFailed reports whether status says the invalidation failed as a whole: ERROR, and any
// status that starts with ERROR (ERROR_CDN_NODE, and those not published yet).
func StatusFailed(status string) bool { return strings.HasPrefix(status, StatusError) }

// StatusKnown reports whether status is one the API documents (a failure status counts as known).
func StatusKnown(status string) bool {
	switch status {
	case StatusReceived, StatusPreparing, StatusFlushingCloudimage, StatusFlushingCDN, StatusDone:
		return true
	}
	return StatusFailed(status)
}

// Invalidation is what the API answered to an accepted invalidation request.
type Invalidation struct {
	// StatusCode is the HTTP status: 201 normally, any 2xx counts as accepted.
	StatusCode int
	// Status is the invalidation's status, normally StatusReceived.
	Status string
	// UUID identifies the invalidation for Status. It is empty only if the API accepted the
	// request without saying which uuid it got (an empty 2xx body).
	UUID string
	// AddedAt is the "added_at" time exactly as sent ("2023-08-08 13:39:52.636426"); the API
	// gives no time zone.
	AddedAt string
	// Msg is the API's message, e.g. "Your invalidation request has been received".
	Msg string
}

// InvalidationStatus is the state of an invalidation, from GET /invalidate/{uuid}.
type InvalidationStatus struct {
	// Status is one of the Status* constants (another value is passed through as sent).
	Status string
	// UUID identifies the invalidation.
	UUID string
	// Scope is ScopeOriginal or ScopeAll.
	Scope string
	// Received lists the URLs not yet processed, when the API says (it sends null at DONE).
	Received []string
	// Invalidated lists the URLs that were invalidated.
	Invalidated []string
	// Failed lists the URLs that did not invalidate.
	Failed []string
}

// Final reports whether the invalidation has finished: DONE, or failed (StatusFailed). Any other
// status, an unknown one too, means it is still running.
func (s *InvalidationStatus) Final() bool {
	return s != nil && (s.Status == StatusDone || StatusFailed(s.Status))
}

// wire formats

type invalidateRequest struct {
	Scope string   `json:"scope"`
	URLs  []string `json:"urls,omitempty"`
}

type invalidateResponse struct {
	Status       string `json:"status"`
	Msg          string `json:"msg"`
	Invalidation struct {
		Status  string `json:"status"`
		UUID    string `json:"uuid"`
		AddedAt string `json:"added_at"`
	} `json:"invalidation"`
}

type statusResponse struct {
	Status       string `json:"status"`
	Msg          string `json:"msg"`
	Invalidation *struct {
		Status string `json:"status"`
		UUID   string `json:"uuid"`
		Scope  string `json:"scope"`
		URLs   struct {
			Received    []string `json:"received"`
			Invalidated []string `json:"invalidated"`
			Failed      []string `json:"failed"`
		} `json:"urls"`
	} `json:"invalidation"`
}
