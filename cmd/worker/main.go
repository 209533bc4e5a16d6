// Command worker sends the invalidations that producers queue in Redis to the Cloudimage API.
//
// It coalesces them into requests of at most 15 URLs. A rate limit shared by every worker paces
// the requests. It retries, and it keeps a dead-letter queue. Its HTTP server serves the asynqmon
// UI, metrics and health.
//
// Configuration comes from the environment. See docs/configuration.md. Without CLOUDIMAGE_API_KEY
// it refuses to start, unless CLOUDIMAGE_SANDBOX=true. The sandbox sends every request to a
// built-in API that answers like Cloudimage. Nothing is sent anywhere.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cipurge/cipurge/internal/cli/workercmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := workercmd.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
