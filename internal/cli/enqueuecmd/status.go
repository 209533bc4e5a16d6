package enqueuecmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/figures"
	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/store"
)

func runStatus(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("enqueue status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	reqID := fs.String("request", "", "show the progress of the request `ID` that enqueue printed")
	account := fs.String("account", "", "with several accounts (ACCOUNTS_FILE): show the account `NAME` only (default: every account)")
	if err := parseFlags(fs, args, "usage: enqueue status [--json] [--account NAME] [URL...]\n       enqueue status [--json] --request ID\n\nflags:\n", stdout); err != nil {
		return err
	}
	if *reqID != "" && fs.NArg() > 0 {
		return usage("give URLs or --request, not both%s", helpHint)
	}
	cfg, rdb, err := connect(ctx, environ)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if *reqID != "" {
		return requestStatus(ctx, cfg, rdb, *reqID, *asJSON, stdout)
	}
	if fs.NArg() > 0 {
		return urlStatus(ctx, cfg, rdb, fs.Args(), *asJSON, stdout, stderr)
	}
	names, err := statusAccounts(cfg, *account)
	if err != nil {
		return err
	}
	if names == nil {
		rep, err := status.NewReader(rdb).Read(ctx, cfg.Status())
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		if *asJSON {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return nil
		}
		printSnapshot(stdout, rep)
		return nil
	}
	return accountsStatus(ctx, cfg, rdb, names, *asJSON, stdout)
}

// statusAccounts are the accounts enqueue status shows, by the name of their keys: nil for the
// one account of a deployment (today's output), every account with several, or --account's.
func statusAccounts(cfg *config.Config, account string) ([]string, error) {
	set, err := cfg.Accounts()
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if account != "" {
		a, err := set.Lookup(account)
		if err != nil {
			return nil, usage("--account: %v%s", err, helpHint)
		}
		if !cfg.Several() {
			return nil, nil
		}
		return []string{a.Name}, nil
	}
	if !cfg.Several() {
		return nil, nil
	}
	return set.Names(), nil
}

// accountsStatus writes the snapshot of each account of names: a section each, or a JSON list.
func accountsStatus(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, names []string, asJSON bool, stdout io.Writer) error {
	set, _ := cfg.Accounts()
	r := status.NewReader(rdb)
	reps := make([]*status.Snapshot, 0, len(names))
	for _, name := range names {
		rep, err := r.For(set.KeyName(name)).Read(ctx, cfg.Status())
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("account %s: %w", name, err)}
		}
		rep.Account = name
		reps = append(reps, rep)
	}
	if asJSON {
		b, _ := json.MarshalIndent(reps, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	for i, rep := range reps {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "== account %s ==\n", rep.Account)
		printSnapshot(stdout, rep)
	}
	return nil
}

// printSnapshot writes the status for a terminal.
func printSnapshot(stdout io.Writer, rep *status.Snapshot) {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tDEAD LETTERS\t")
	for _, q := range rep.Queues {
		paused := ""
		if q.Paused {
			paused = "PAUSED (asynq queue unpause " + q.Queue + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", q.Queue, q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived, paused)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nURLs waiting for their window: %d", rep.WaitingURLs)
	if rep.OldestWaiting != "" {
		fmt.Fprintf(stdout, " (oldest %s)", rep.OldestWaiting)
	}
	fmt.Fprintf(stdout, "\ndead letters: %d (enqueue dlq ls)\n", rep.DeadLetters)
	fmt.Fprintf(stdout, "status checks waiting: %d\n", rep.ConfirmBacklog)
	fmt.Fprintf(stdout, "workers alive: %d", len(rep.Workers))
	if len(rep.Workers) > 0 {
		w := rep.Workers[0]
		fmt.Fprintf(stdout, " (PURGE_RATE=%g, PURGE_BURST=%d, PURGE_BATCH_SIZE=%d, PURGE_CONCURRENCY=%d, version %s)", w.Rate, w.Burst, w.BatchSize, w.Concurrency, w.Version)
	}
	fmt.Fprintln(stdout)
	for _, s := range rep.SendingStopped {
		fmt.Fprintf(stdout, "SENDING STOPPED: %s\n", s)
	}
	fmt.Fprintf(stdout, "send rate, last minute: %s URLs/s in %s API calls/s (configured %s calls/s, from the %s)\n",
		figures.Rate(rep.URLsPerSecond), figures.Rate(rep.CallsPerSecond), figures.Rate(rep.ConfiguredRate), rep.RateSource)
	if rep.Paused != "" {
		fmt.Fprintf(stdout, "PAUSED: %s\n", rep.Paused)
	}
	printPauses(stdout, rep)
	for _, q := range rep.PausedQueues {
		fmt.Fprintf(stdout, "QUEUE PAUSED: %s (by an operator: asynq queue pause; resume with asynq queue unpause %s)\n", q, q)
	}
	fmt.Fprintf(stdout, "backlog: about %s", plural(rep.BacklogCalls, "API call", "API calls"))
	if rep.DrainSeconds > 0 {
		fmt.Fprintf(stdout, ", about %s to drain at %s calls/s", figures.Seconds(rep.DrainSeconds), figures.Rate(rep.DrainRate))
	}
	if rep.DrainNote != "" {
		fmt.Fprintf(stdout, " (%s)", rep.DrainNote)
	}
	fmt.Fprintf(stdout, "\ntotals: %s sent, %s dropped as already satisfied\n", plural(rep.URLsSentTotal, "URL", "URLs"), plural(rep.DroppedTotal, "request", "requests"))
	if rep.LastFlushAll != "" {
		fmt.Fprintf(stdout, "last flush-all: %s\n", rep.LastFlushAll)
	}
	if rep.FlushAllSuggested {
		fmt.Fprintf(stdout, "\nThe backlog takes more than %s to drain at this rate. If most images changed, one flush-all may serve "+
			"you better than this many invalidations; it is never sent unless you ask:\n  %s\n  enqueue --all --confirm=<your CLOUDIMAGE_TOKEN value>\n",
			status.SuggestFlushAfter, strings.ReplaceAll(flushall.Cost, ": ", ":\n  "))
	}
}

// printPauses writes the latest shared pauses and the last outage, one line each.
func printPauses(w io.Writer, rep *status.Snapshot) {
	if len(rep.RecentPauses) > 0 {
		fmt.Fprintln(w, "recent pauses of every worker (newest first):")
	}
	for _, p := range rep.RecentPauses {
		fmt.Fprintf(w, "  %s\n", status.DescribePause(p))
	}
	if o := rep.LastOutage; o != nil && !slices.Contains(rep.RecentPauses, *o) {
		fmt.Fprintf(w, "last outage: %s\n", status.DescribePause(*o))
	}
}

// urlStatus prints the history of each of urls, read from the keys of its account.
func urlStatus(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, urls []string, asJSON bool, stdout, stderr io.Writer) error {
	lookup, err := urlLookup(cfg, rdb)
	if err != nil {
		return err
	}
	var out []*inspect.History
	bad := 0
	for _, u := range urls {
		h, err := lookup(ctx, u)
		if err != nil {
			fmt.Fprintf(stderr, "%s\n", err)
			bad++
			continue
		}
		out = append(out, h)
	}
	if asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		for _, h := range out {
			printHistory(stdout, h, cfg.Purge.HistoryTTL)
		}
	}
	if bad > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// urlLookup reads a URL's history: from the keys of its account, with several accounts.
func urlLookup(cfg *config.Config, rdb redis.UniversalClient) (func(context.Context, string) (*inspect.History, error), error) {
	if cfg.Several() {
		set, err := cfg.Accounts()
		if err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		return func(ctx context.Context, raw string) (*inspect.History, error) {
			return inspect.LookupRouted(ctx, rdb, set, raw)
		}, nil
	}
	norm, err := cfg.Normalizer()
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	st := store.New(rdb)
	return func(ctx context.Context, raw string) (*inspect.History, error) {
		return inspect.LookupURL(ctx, st, norm, raw)
	}, nil
}

// printHistory writes what is known of one URL: waiting, queued in which task (and that task's
// state), sent when in which request, and its outcome; a dead letter with the task ID that
// `enqueue dlq replay` takes, or that its dead letter was deleted.
func printHistory(w io.Writer, h *inspect.History, ttl time.Duration) {
	ts := func(t *time.Time) string { return t.Format(time.RFC3339Nano) }
	fmt.Fprintf(w, "%s\n", h.Key)
	if h.Kind == inspect.KindPrefix {
		fmt.Fprintf(w, "  kind           prefix (every image under this folder)\n")
	}
	if h.PendingSince != nil {
		fmt.Fprintf(w, "  pending since  %s (waiting for its window)\n", ts(h.PendingSince))
	}
	dead := h.State == store.StateDead
	if h.QueuedAt != nil && !dead {
		fmt.Fprintf(w, "  queued         requested %s, in request task %s", ts(h.QueuedAt), h.Task)
		switch h.TaskState {
		case "pending":
			fmt.Fprintf(w, " on queue %s (waiting to be sent)\n", h.TaskQueue)
		case "active":
			fmt.Fprintf(w, " on queue %s (being sent now)\n", h.TaskQueue)
		case "scheduled", "retry":
			fmt.Fprintf(w, " on queue %s (%s: waiting to be tried again; last error: %s)\n", h.TaskQueue, h.TaskState, h.TaskError)
		case "deleted":
			fmt.Fprintf(w, " (the task no longer exists: deleted by an operator, or done without sending it)\n")
		default:
			fmt.Fprintf(w, " on queue %s (%s)\n", h.TaskQueue, h.TaskState)
		}
	}
	if h.SentAt != nil {
		fmt.Fprintf(w, "  requested      %s\n  sent           %s in request %s\n", ts(h.RequestedAt), ts(h.SentAt), h.UUID)
	} else if dead && h.QueuedAt != nil {
		fmt.Fprintf(w, "  requested      %s\n", ts(h.QueuedAt))
	}
	if h.CoveredBy != nil {
		fmt.Fprintf(w, "  state          %s\n", h.CoveredBy)
	}
	switch {
	case dead && h.TaskState == "deleted":
		fmt.Fprintf(w, "  state          dead-lettered (%s); its dead letter was deleted: enqueue the URL again to send it\n", h.Detail)
	case dead:
		fmt.Fprintf(w, "  state          dead-lettered (%s)\n                 task %s on queue %s: enqueue dlq replay %s\n", h.Detail, h.Task, h.TaskQueue, h.Task)
	case h.SentAt != nil:
		fmt.Fprintf(w, "  state          %s", h.State)
		if h.Detail != "" {
			fmt.Fprintf(w, " (%s)", h.Detail)
		}
		fmt.Fprintln(w)
	case h.PendingSince == nil && h.QueuedAt == nil:
		fmt.Fprintf(w, "  no request known in the last %s (PURGE_HISTORY_TTL)\n", ttl)
	}
}

// connect loads the configuration and connects to Redis, or says why not (exit status 2).
func connect(ctx context.Context, environ []string) (*config.Config, redis.UniversalClient, error) {
	cfg, err := config.Load(environ)
	if err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	rdb, err := dial(ctx, cfg, "")
	if err != nil {
		return nil, nil, err
	}
	return cfg, rdb, nil
}

// dial connects to the Redis cfg names, or says why not (exit status 2). When Redis does not
// answer, unanswered (if not empty) is added to the error, e.g. "nothing was enqueued".
func dial(ctx context.Context, cfg *config.Config, unanswered string) (redis.UniversalClient, error) {
	rdb, err := cfg.RedisClient()
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if err := cfg.Ping(ctx, rdb); err != nil {
		rdb.Close()
		if unanswered != "" {
			err = fmt.Errorf("%w; %s", err, unanswered)
		}
		return nil, &exitError{code: 2, err: err}
	}
	return rdb, nil
}
