// Package intake is the worker's HTTP API for producers that are not written in Go:
// POST /v1/invalidations and POST /v1/invalidations/all, with the same normalisation, dedupe and
// queueing as pkg/tasks. It is off unless INTAKE_TOKEN is set.
package intake

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// Options configure the intake API.
type Options struct {
	Producer    *tasks.Producer
	Token       string        // INTAKE_TOKEN: every request needs "Authorization: Bearer <Token>"
	MaxBytes    int64         // INTAKE_MAX_BYTES
	MaxURLs     int           // INTAKE_MAX_URLS
	FlushToken  string        // CLOUDIMAGE_TOKEN: what a flush-all must be confirmed with
	AllCooldown time.Duration // PURGE_ALL_COOLDOWN
	Log         *zap.Logger
}

// New returns the intake handler, to be mounted at /v1/.
func New(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not implemented yet", http.StatusNotImplemented)
	})
	return mux
}
