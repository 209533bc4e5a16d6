// Command enqueue requests Cloudimage invalidations and manages the queue.
//
//	enqueue [flags] URL...
//	enqueue [flags] -f FILE            one URL a line; - reads standard input
//	enqueue --bulk -f FILE             mass re-ingest on the low-priority bulk queue
//	enqueue --all --confirm=TOKEN      flush everything (confirmed with the CLOUDIMAGE_TOKEN value)
//	enqueue status [--json] [URL...]   backlog, dead letters, send rate; or one URL's history
//	enqueue dlq ls|replay|rm           the dead-letter queue
//
// The exit status is 0 when every input was accepted. It is 1 when some lines were rejected. The
// other lines are still enqueued. It is 2 for a usage error, a configuration error or an
// unreachable Redis.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := enqueuecmd.Main(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
