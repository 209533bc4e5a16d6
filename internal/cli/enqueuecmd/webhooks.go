package enqueuecmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/webhook"
)

// webhooksArgs is one webhooks command line: ls or replay, shaped as dlq's.
type webhooksArgs struct {
	cmd    string
	ids    []string
	limit  int
	asJSON bool
}

const webhooksHead = "usage:\n  enqueue webhooks ls [--limit N] [--json]\n  enqueue webhooks replay ID...\n\n" +
	"Deliveries that finally failed (after retries for 24 h, or at once when the receiver\n" +
	"redirects or is not allowed) stay in the webhooks queue: ls lists them, replay sends them\n" +
	"once more, now.\n\nflags:\n"

// runWebhooks runs enqueue webhooks ls or replay.
func runWebhooks(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	a, err := parseWebhooks(args, stdout)
	if err != nil || a == nil {
		return err
	}
	_, rdb, err := connect(ctx, environ)
	if err != nil {
		return err
	}
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if a.cmd == "ls" {
		return listFailedWebhooks(insp, a, stdout)
	}
	failed := 0
	for _, id := range a.ids {
		err := webhook.Replay(insp, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			err = fmt.Errorf("no failed delivery has this id: enqueue webhooks ls lists them")
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", id, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "replayed %s: a worker sends it now; if it fails again, it comes back to the list\n", id)
	}
	if failed > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// parseWebhooks reads a webhooks command line. It returns nil and no error after the usage.
func parseWebhooks(args []string, stdout io.Writer) (*webhooksArgs, error) {
	if len(args) == 0 {
		return nil, usage("webhooks needs a command: ls or replay%s", helpHint)
	}
	a := &webhooksArgs{cmd: args[0]}
	fs := flag.NewFlagSet("enqueue webhooks "+a.cmd, flag.ContinueOnError)
	fs.IntVar(&a.limit, "limit", 100, "ls: show at most `N` failed deliveries")
	fs.BoolVar(&a.asJSON, "json", false, "ls: print JSON")
	if a.cmd == "-h" || a.cmd == "-help" || a.cmd == "--help" {
		return nil, parseFlags(fs, []string{a.cmd}, webhooksHead, stdout)
	}
	if err := parseFlags(fs, args[1:], webhooksHead, stdout); err != nil {
		return nil, err
	}
	a.ids = fs.Args()
	switch a.cmd {
	case "ls":
		if a.limit < 1 {
			return nil, usage("--limit %d: use 1 or more", a.limit)
		}
		if len(a.ids) > 0 {
			return nil, usage("webhooks ls takes no IDs%s", helpHint)
		}
	case "replay":
		if len(a.ids) == 0 {
			return nil, usage("webhooks replay needs the IDs of failed deliveries (enqueue webhooks ls lists them)%s", helpHint)
		}
	default:
		return nil, usage("unknown webhooks command %q: use ls or replay%s", a.cmd, helpHint)
	}
	return a, nil
}

// listFailedWebhooks prints webhooks ls.
func listFailedWebhooks(insp *asynq.Inspector, a *webhooksArgs, stdout io.Writer) error {
	tis, err := webhook.Failed(insp, a.limit)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	list := make([]webhook.FailedDelivery, 0, len(tis))
	for _, ti := range tis {
		list = append(list, webhook.Describe(ti))
	}
	if a.asJSON {
		b, _ := json.MarshalIndent(list, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no failed webhook delivery")
		return nil
	}
	for _, f := range list {
		fmt.Fprintf(stdout, "%s  event=%s request=%s receiver=%s attempts=%d last_failed=%s\n  error: %s\n",
			f.ID, f.Event, f.Request, f.Receiver, f.Attempts, f.LastFailed.UTC().Format(time.RFC3339), f.LastError)
		if f.URL != "" {
			fmt.Fprintf(stdout, "  url:   %s\n", f.URL)
		}
	}
	fmt.Fprintf(stdout, "%s; replay with: enqueue webhooks replay ID...\n", plural(int64(len(list)), "failed delivery", "failed deliveries"))
	return nil
}
