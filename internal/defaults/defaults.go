// Package defaults is the one place where each default setting of the product is written.
// internal/config applies them to the environment variables that are not set (and --help prints
// them); worker.Config.WithDefaults applies the same values to the fields of a Config built in Go
// that are zero and have no meaning at zero; the Go producer (package cipurge), the intake and the
// event receivers take theirs from here too.
package defaults

import (
	"time"

	"github.com/cipurge/cipurge/pkg/cloudimage"
)

// The pipeline (PURGE_*).
const (
	Window          = 2 * time.Second              // PURGE_WINDOW
	MaxDelay        = 10 * time.Second             // PURGE_MAX_DELAY
	BatchSize       = cloudimage.MaxURLsPerRequest // PURGE_BATCH_SIZE
	Rate            = 10.0                         // PURGE_RATE, API requests per second (0: no limit)
	Burst           = 5                            // PURGE_BURST
	MaxRetry        = 10                           // PURGE_MAX_RETRY (0: none)
	Concurrency     = 10                           // PURGE_CONCURRENCY
	AllCooldown     = time.Hour                    // PURGE_ALL_COOLDOWN (0: none)
	HistoryTTL      = 7 * 24 * time.Hour           // PURGE_HISTORY_TTL
	Confirm         = true                         // PURGE_CONFIRM
	ConfirmDelay    = 30 * time.Second             // PURGE_CONFIRM_DELAY
	ConfirmRate     = 0.0                          // PURGE_CONFIRM_RATE (0: the same as PURGE_RATE)
	ConfirmTimeout  = time.Hour                    // PURGE_CONFIRM_TIMEOUT
	MaxResends      = 3                            // PURGE_MAX_RESENDS (0: none)
	ShutdownTimeout = 8 * time.Second              // PURGE_SHUTDOWN_TIMEOUT
	RetryBase       = 2 * time.Second              // PURGE_RETRY_BASE
	BackoffBase     = time.Second                  // PURGE_BACKOFF_BASE
	BackoffMax      = 60 * time.Second             // PURGE_BACKOFF_MAX
	AuthProbe       = 30 * time.Second             // PURGE_AUTH_PROBE
)

// PrefixRate is PURGE_PREFIX_RATE, folder (prefix) requests per second: one every 60.2 s.
// Cloudimage's docs say a prefix makes it search its whole log database, which "can take up to
// 60 seconds", so at most one such search runs at a time.
const PrefixRate = 0.0166

// Bounds and periods that no variable sets.
const (
	MaxRetryLimit = 100              // the most retries a task may have
	PolicyEvery   = 10 * time.Second // how often Redis's maxmemory-policy is read again, by every guard
)

// The worker's HTTP endpoints that take bodies.
const (
	IntakeMaxBytes = 1 << 20 // INTAKE_MAX_BYTES
	IntakeMaxURLs  = 1000    // INTAKE_MAX_URLS
	EventsMaxBytes = 1 << 20 // EVENTS_MAX_BYTES
	// IntakeMaxInflight is INTAKE_MAX_INFLIGHT: request bodies the intake and the event
	// receivers read at once, so at most 16 MiB of bodies with the 1 MiB limits.
	IntakeMaxInflight = 16
)
