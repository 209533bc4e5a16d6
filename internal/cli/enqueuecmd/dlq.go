package enqueuecmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// deadLetter is one archived task as the dlq commands show it.
type deadLetter struct {
	ID         string    `json:"id"`
	Queue      string    `json:"queue"`
	Type       string    `json:"type"`
	Attempts   int       `json:"attempts"`
	LastFailed time.Time `json:"last_failed_at"`
	LastError  string    `json:"last_error"`
	URLs       []string  `json:"urls,omitempty"`
	Payload    string    `json:"payload,omitempty"` // when it does not decode
}

func runDLQ(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage("dlq needs a command: ls, replay or rm")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("enqueue dlq "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	queue := fs.String("queue", "", "only this `queue` (default: every queue of the product)")
	limit := fs.Int("limit", 100, "ls: show at most `N` entries per queue")
	all := fs.Bool("all", false, "replay/rm: every entry (of --queue, or of every queue)")
	asJSON := fs.Bool("json", false, "ls: print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2}
	}
	queues := tasks.QueueNames()
	if *queue != "" {
		queues = []string{*queue}
	}
	ids := fs.Args()
	switch cmd {
	case "ls":
	case "replay", "rm":
		if *all == (len(ids) > 0) {
			return usage("dlq %s needs task IDs or --all (not both)", cmd)
		}
	default:
		return usage("unknown dlq command %q: use ls, replay or rm", cmd)
	}
	_, rdb, err := connect(ctx, environ)
	if err != nil {
		return err
	}
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	exist, err := existingQueues(insp)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	known := queues[:0:0]
	for _, q := range queues {
		if exist[q] {
			known = append(known, q)
		}
	}
	queues = known

	switch cmd {
	case "ls":
		var list []deadLetter
		for _, q := range queues {
			infos, err := insp.ListArchivedTasks(q, asynq.PageSize(*limit))
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("queue %s: %w", q, err)}
			}
			for _, ti := range infos {
				list = append(list, describeTask(ti))
			}
		}
		if *asJSON {
			b, _ := json.MarshalIndent(list, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return nil
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "the dead-letter queue is empty")
			return nil
		}
		for _, d := range list {
			fmt.Fprintf(stdout, "%s  queue=%s type=%s attempts=%d last_failed=%s\n  error: %s\n", d.ID, d.Queue, d.Type, d.Attempts, d.LastFailed.UTC().Format(time.RFC3339), d.LastError)
			if len(d.URLs) > 0 {
				fmt.Fprintf(stdout, "  urls:  %s\n", strings.Join(d.URLs, "\n         "))
			} else if d.Payload != "" {
				fmt.Fprintf(stdout, "  payload: %s\n", d.Payload)
			}
		}
		fmt.Fprintf(stdout, "%d dead letter(s); replay with: enqueue dlq replay ID..., delete with: enqueue dlq rm ID...\n", len(list))
		return nil
	case "replay", "rm":
		verb := "replayed"
		if cmd == "rm" {
			verb = "deleted"
		}
		if *all {
			total := 0
			for _, q := range queues {
				var n int
				var err error
				if cmd == "replay" {
					n, err = insp.RunAllArchivedTasks(q)
				} else {
					n, err = insp.DeleteAllArchivedTasks(q)
				}
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("queue %s: %w", q, err)}
				}
				total += n
			}
			fmt.Fprintf(stdout, "%s %d dead letter(s)\n", verb, total)
			return nil
		}
		failed := 0
		for _, id := range ids {
			q, err := findArchived(insp, queues, id)
			if err == nil {
				if cmd == "replay" {
					err = insp.RunTask(q, id)
				} else {
					err = insp.DeleteTask(q, id)
				}
			}
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", id, err)
				failed++
				continue
			}
			fmt.Fprintf(stdout, "%s %s (queue %s)\n", verb, id, q)
		}
		if failed > 0 {
			return &exitError{code: 1}
		}
	}
	return nil
}

// findArchived returns the queue whose dead-letter queue holds task id.
func findArchived(insp *asynq.Inspector, queues []string, id string) (string, error) {
	for _, q := range queues {
		ti, err := insp.GetTaskInfo(q, id)
		if err == nil && ti.State == asynq.TaskStateArchived {
			return q, nil
		}
	}
	return "", fmt.Errorf("no dead letter with this ID in queues %s (enqueue dlq ls lists them)", strings.Join(queues, ", "))
}

func describeTask(ti *asynq.TaskInfo) deadLetter {
	d := deadLetter{ID: ti.ID, Queue: ti.Queue, Type: ti.Type, Attempts: ti.Retried, LastFailed: ti.LastFailedAt, LastError: ti.LastErr}
	switch ti.Type {
	case tasks.TypeURLs:
		if p, err := tasks.DecodeURLs(ti.Payload); err == nil {
			d.URLs = p.URLs
		}
	case tasks.TypeConfirm:
		if p, err := tasks.DecodeConfirm(ti.Payload); err == nil {
			d.URLs = p.URLs
		}
	}
	if d.URLs == nil && ti.Type != tasks.TypeAll {
		d.Payload = truncate(string(ti.Payload), 300)
	}
	return d
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
