package enqueuecmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// suggestFlushAfter is the drain estimate past which status mentions flush-all as an option.
const suggestFlushAfter = 24 * time.Hour

type queueStatus struct {
	Queue     string `json:"queue"`
	Pending   int    `json:"pending"`
	Active    int    `json:"active"`
	Scheduled int    `json:"scheduled"`
	Retry     int    `json:"retry"`
	Archived  int    `json:"dead_letters"`
}

type statusReport struct {
	Queues            []queueStatus `json:"queues"`
	WaitingURLs       int64         `json:"urls_in_window"`
	OldestWaiting     string        `json:"oldest_waiting,omitempty"`
	DeadLetters       int           `json:"dead_letters"`
	URLsPerSecond     float64       `json:"urls_per_second"`
	CallsPerSecond    float64       `json:"calls_per_second"`
	ConfiguredRate    float64       `json:"configured_rate"`
	BacklogCalls      int64         `json:"backlog_calls"`
	DrainSeconds      float64       `json:"drain_seconds,omitempty"`
	Paused            string        `json:"paused,omitempty"`
	URLsSentTotal     int64         `json:"urls_sent_total"`
	DroppedTotal      int64         `json:"dropped_as_satisfied_total"`
	LastFlushAll      string        `json:"last_flush_all,omitempty"`
	FlushAllSuggested bool          `json:"flush_all_suggested"`
}

func runStatus(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("enqueue status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, "usage: enqueue status [--json] [URL...]\n\nflags:\n", stdout); err != nil {
		return err
	}
	cfg, rdb, err := connect(ctx, environ)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if fs.NArg() > 0 {
		return urlStatus(ctx, cfg, rdb, fs.Args(), *asJSON, stdout, stderr)
	}
	st := store.New(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	rep := statusReport{ConfiguredRate: cfg.Purge.Rate}
	exist, err := existingQueues(insp)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	for _, q := range tasks.QueueNames() {
		if !exist[q] {
			rep.Queues = append(rep.Queues, queueStatus{Queue: q})
			continue
		}
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("queue %s: %w", q, err)}
		}
		qs := queueStatus{Queue: q, Pending: info.Pending, Active: info.Active, Scheduled: info.Scheduled, Retry: info.Retry, Archived: info.Archived}
		rep.Queues = append(rep.Queues, qs)
		rep.DeadLetters += qs.Archived
		if q == tasks.QueueInteractive || q == tasks.QueueBulk || q == tasks.QueueAll {
			calls := int64(qs.Pending + qs.Active + qs.Scheduled + qs.Retry)
			if q == tasks.QueueBulk {
				calls *= tasks.BulkRequests // a bulk task carries up to this many requests
			}
			rep.BacklogCalls += calls
		}
	}
	n, oldest, err := st.PendingCount(ctx)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rep.WaitingURLs = n
	if n > 0 {
		if now, err := st.Now(ctx); err == nil {
			rep.OldestWaiting = (time.Duration(now-oldest) * time.Millisecond).Round(time.Millisecond).String()
		}
	}
	batch := int64(max(cfg.Purge.BatchSize, 1))
	rep.BacklogCalls += (n + batch - 1) / batch
	rep.URLsPerSecond, rep.CallsPerSecond, err = st.SendRate(ctx, time.Minute)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if reason, left, err := st.PauseState(ctx); err == nil && left > 0 {
		rep.Paused = fmt.Sprintf("%s (%s left)", reason, left.Round(time.Second))
	}
	if tot, err := st.Totals(ctx); err == nil {
		rep.URLsSentTotal, rep.DroppedTotal = tot.URLsSent, tot.Dropped
	}
	if all, err := st.AllState(ctx); err == nil && all.SentAt > 0 {
		rep.LastFlushAll = time.UnixMilli(all.SentAt).UTC().Format(time.RFC3339) + " (uuid " + all.UUID + ")"
	}
	rate := cfg.Purge.Rate
	if rate <= 0 {
		rate = rep.CallsPerSecond
	}
	if rep.BacklogCalls > 0 && rate > 0 {
		rep.DrainSeconds = math.Ceil(float64(rep.BacklogCalls) / rate)
	}
	rep.FlushAllSuggested = time.Duration(rep.DrainSeconds)*time.Second > suggestFlushAfter

	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tDEAD LETTERS")
	for _, q := range rep.Queues {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", q.Queue, q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nURLs waiting for their window: %d", rep.WaitingURLs)
	if rep.OldestWaiting != "" {
		fmt.Fprintf(stdout, " (oldest %s)", rep.OldestWaiting)
	}
	fmt.Fprintf(stdout, "\ndead letters: %d (enqueue dlq ls)\n", rep.DeadLetters)
	fmt.Fprintf(stdout, "send rate, last minute: %.1f URLs/s in %.2f API calls/s (PURGE_RATE=%g calls/s)\n", rep.URLsPerSecond, rep.CallsPerSecond, cfg.Purge.Rate)
	if rep.Paused != "" {
		fmt.Fprintf(stdout, "PAUSED: %s\n", rep.Paused)
	}
	fmt.Fprintf(stdout, "backlog: about %d API calls", rep.BacklogCalls)
	if rep.DrainSeconds > 0 {
		fmt.Fprintf(stdout, ", about %s to drain at %g calls/s", (time.Duration(rep.DrainSeconds) * time.Second).String(), rate)
	}
	fmt.Fprintf(stdout, "\ntotals: %s sent, %s dropped as already satisfied\n", plural(rep.URLsSentTotal, "URL", "URLs"), plural(rep.DroppedTotal, "request", "requests"))
	if rep.LastFlushAll != "" {
		fmt.Fprintf(stdout, "last flush-all: %s\n", rep.LastFlushAll)
	}
	if rep.FlushAllSuggested {
		fmt.Fprintf(stdout, "\nThe backlog takes more than %s to drain at this rate. If most images changed, one flush-all may serve "+
			"you better than this many invalidations; it is never sent unless you ask:\n  %s\n  enqueue --all --confirm=<your CLOUDIMAGE_TOKEN value>\n",
			suggestFlushAfter, strings.ReplaceAll(tasks.FlushAllCost, ": ", ":\n  "))
	}
	return nil
}

func urlStatus(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, urls []string, asJSON bool, stdout, stderr io.Writer) error {
	norm, err := cfg.Normalizer()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	prod := tasks.NewProducer(rdb, norm)
	var out []*tasks.History
	bad := 0
	for _, u := range urls {
		h, err := prod.Lookup(ctx, u)
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

// printHistory writes what is known of one URL: waiting, queued in which task (and that task's
// state), sent when in which request, and its outcome; a dead letter with the task ID that
// `enqueue dlq replay` takes, or that its dead letter was deleted.
func printHistory(w io.Writer, h *tasks.History, ttl time.Duration) {
	ts := func(t *time.Time) string { return t.Format(time.RFC3339Nano) }
	fmt.Fprintf(w, "%s\n", h.Key)
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

// existingQueues returns the queues asynq knows (a queue exists once a task was enqueued on it).
func existingQueues(insp *asynq.Inspector) (map[string]bool, error) {
	qs, err := insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	m := make(map[string]bool, len(qs))
	for _, q := range qs {
		m[q] = true
	}
	return m, nil
}

// connect loads the configuration and connects to Redis, or says why not (exit status 2).
func connect(ctx context.Context, environ []string) (*config.Config, redis.UniversalClient, error) {
	cfg, err := config.Load(environ)
	if err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	rdb, err := dial(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, rdb, nil
}

// dial connects to the Redis cfg names, or says why not (exit status 2).
func dial(ctx context.Context, cfg *config.Config) (redis.UniversalClient, error) {
	rdb, err := cfg.RedisClient()
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if err := cfg.Ping(ctx, rdb); err != nil {
		rdb.Close()
		return nil, &exitError{code: 2, err: err}
	}
	return rdb, nil
}
