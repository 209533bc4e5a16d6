// Command worker sends the invalidations that producers queue in Redis to the Cloudimage API:
// coalesced into requests of at most 15 URLs, under a rate limit shared by every worker, with
// retries, a dead-letter queue, and an HTTP server for the asynqmon UI, metrics and health.
//
// Configuration comes from the environment (docs/configuration.md). With no CLOUDIMAGE_API_KEY it refuses
// to start unless CLOUDIMAGE_SANDBOX=true, which sends every request to a built-in sandbox API
// that answers like Cloudimage and sends nothing anywhere.
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
