// Package defaults is the one place where each default setting of the product is written.
// internal/config applies them to the variables that are not set, and --help prints them.
// worker.Config.WithDefaults applies them to the zero fields of a Config built in Go.
// Package cipurge, the intake and the event receivers take theirs from here too.
// It also holds the build's version, which every binary reports.
package defaults

import (
	"time"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// The pipeline.
const (
	Window          = 2 * time.Second      // how long a request waits, so that repeats collapse
	MaxDelay        = 10 * time.Second     // the longest a partial batch waits
	BatchSize       = tasks.MaxURLsPerTask // URLs per API request: the API's cap
	Rate            = 10.0                 // API requests per second; 0 is no limit
	Burst           = 5                    // requests at once on top of the rate
	MaxRetry        = 10                   // retries of a failed task; 0 is none
	Concurrency     = 10                   // tasks one worker runs at once
	AllCooldown     = time.Hour            // time between two flush-alls; 0 is none
	HistoryTTL      = 7 * 24 * time.Hour   // how long the per-URL history is kept
	Confirm         = true                 // follow each accepted request to DONE or ERROR
	ConfirmDelay    = 30 * time.Second     // the first status check after an acceptance
	ConfirmRate     = 0.0                  // status checks per second; 0 is the same as Rate
	ConfirmTimeout  = time.Hour            // how long a request is followed
	MaxResends      = 3                    // resends of URLs Cloudimage failed; 0 is none
	ShutdownTimeout = 8 * time.Second      // how long running tasks get on SIGTERM
	RetryBase       = 2 * time.Second      // the first retry delay, doubled per failure
	BackoffBase     = time.Second          // the fleet-wide pause after an outage
	BackoffMax      = 60 * time.Second     // the longest fleet-wide pause
	AuthProbe       = 30 * time.Second     // how often a request tries the key again after a 401/403
)

// PrefixRate is how many folder (prefix) requests go per second: one every 60.2 s.
// Cloudimage's docs say a prefix makes it search its whole log database, which "can take up to
// 60 seconds", so at most one such search runs at a time.
const PrefixRate = 0.0166

// Bounds and periods that no variable sets.
const (
	MaxRetryLimit = 100              // the most retries a task may have
	PolicyEvery   = 10 * time.Second // how often Redis's maxmemory-policy is read again, by every guard
)

// Bounds of the worker's settings.
// worker.Config.Validate enforces them, for a worker configured in Go or by its environment.
const (
	MaxResendsLimit = 100                    // the most resends of URLs Cloudimage failed
	MaxConcurrency  = 1000                   // the most tasks one worker runs at once
	MinWindow       = 100 * time.Millisecond // the shortest coalescing window
	MinHistoryTTL   = time.Minute            // the shortest time a URL's history is kept
	MinShutdown     = time.Second            // the shortest time running tasks get on shutdown
	MinPeriod       = 10 * time.Millisecond  // the shortest delay, pause or timeout of the other settings
)

// The worker's HTTP endpoints that take bodies.
const (
	IntakeMaxBytes = 1 << 20 // the intake's body limit
	IntakeMaxURLs  = 1000    // URLs per intake request
	EventsMaxBytes = 1 << 20 // the event receivers' body limit
	// IntakeMaxInflight is how many request bodies the intake and the event receivers read
	// at once. With the 1 MiB limits that is at most 16 MiB of bodies.
	IntakeMaxInflight = 16
)

// Version is the product's version.
// The build sets it with -ldflags -X; without that it is "dev".
var Version = "dev"
