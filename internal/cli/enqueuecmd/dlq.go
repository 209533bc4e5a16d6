package enqueuecmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/term"

	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

func runDLQ(ctx context.Context, args []string, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage("dlq needs a command: ls, replay or rm%s", helpHint)
	}
	cmd := args[0]
	fs := flag.NewFlagSet("enqueue dlq "+cmd, flag.ContinueOnError)
	queue := fs.String("queue", "", "only the queue `Q` (default: every queue of the product)")
	limit := fs.Int("limit", 100, "ls: show at most `N` entries per queue")
	all := fs.Bool("all", false, "replay/rm: every entry (of --queue, or of every queue)")
	yes := fs.Bool("yes", false, "rm --all: do not ask for confirmation")
	asJSON := fs.Bool("json", false, "ls: print JSON")
	confirm := fs.String("confirm", "", "replay of a flush-all: `TOKEN`, your CLOUDIMAGE_TOKEN value (a fresh confirmation)")
	head := "usage:\n  enqueue dlq ls [--queue Q] [--limit N] [--json]\n  enqueue dlq replay (ID... | --all) [--queue Q] [--confirm=TOKEN]\n" +
		"  enqueue dlq rm (ID... | --all [--yes]) [--queue Q]\n\nflags:\n"
	if cmd == "-h" || cmd == "-help" || cmd == "--help" {
		return parseFlags(fs, []string{cmd}, head, stdout) // the dlq usage, exit 0
	}
	// Flags may follow the IDs too (enqueue dlq replay flush_all --confirm=...).
	var ids []string
	for rest := args[1:]; ; {
		if err := parseFlags(fs, rest, head, stdout); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	queues := tasks.QueueNames()
	if *queue != "" {
		if !slices.Contains(queues, *queue) {
			return usage("unknown --queue %q: use one of %s", *queue, strings.Join(queues, ", "))
		}
		queues = []string{*queue}
	}
	switch cmd {
	case "ls":
		if *limit < 1 {
			return usage("--limit %d: use 1 or more", *limit)
		}
	case "replay", "rm":
		if *all == (len(ids) > 0) {
			return usage("dlq %s needs task IDs or --all (not both)%s", cmd, helpHint)
		}
	default:
		return usage("unknown dlq command %q: use ls, replay or rm%s", cmd, helpHint)
	}
	if *confirm != "" && cmd != "replay" {
		return usage("--confirm only goes with dlq replay of a flush-all")
	}
	cfg, rdb, err := connect(ctx, environ)
	if err != nil {
		return err
	}
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	st := store.New(rdb)
	exist, err := status.ExistingQueues(insp)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if cmd == "ls" || (cmd == "replay" && *all) {
		// Bring the record in line with asynq first: tasks asynq archived without the worker get a
		// record, and those deleted in asynqmon or run again to completion are forgotten, so that
		// what is listed or replayed is what is really dead.
		if err := reconcile(ctx, cfg, st, stderr); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	// The product's own records hold every dead letter, also those asynq trimmed from its archive
	// (at most 10,000 per queue); asynq's archive may hold entries of older versions that have none.
	records, err := st.DeadLetters(ctx)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	recorded := map[string]store.DeadLetter{}
	byQueue := map[string][]store.DeadLetter{}
	for _, r := range records {
		if slices.Contains(queues, r.Queue) {
			recorded[r.ID] = r
			byQueue[r.Queue] = append(byQueue[r.Queue], r)
		}
	}
	known := queues[:0:0]
	total := 0 // dead letters in the queues asked for
	for _, q := range queues {
		archived := 0
		if exist[q] {
			info, err := insp.GetQueueInfo(q)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("queue %s: %w", q, err)}
			}
			archived = info.Archived
		}
		if exist[q] || len(byQueue[q]) > 0 {
			known = append(known, q)
		}
		total += max(archived, len(byQueue[q]))
	}
	queues = known

	switch cmd {
	case "ls":
		list := []status.DeadLetter{} // JSON: [] when empty, never null
		for _, q := range queues {
			n := 0
			for _, r := range byQueue[q] {
				if n == *limit {
					break
				}
				list = append(list, status.FromRecord(r))
				n++
			}
			if n == *limit || !exist[q] {
				continue
			}
			infos, err := insp.ListArchivedTasks(q, asynq.PageSize(*limit))
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("queue %s: %w", q, err)}
			}
			for _, ti := range infos {
				if _, ok := recorded[ti.ID]; !ok && n < *limit {
					list = append(list, status.Describe(ti))
					n++
				}
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
		shown := plural(int64(total), "dead letter", "dead letters")
		if len(list) < total {
			shown = fmt.Sprintf("showing %d of %s (--limit %d per queue)", len(list), shown, *limit)
		}
		fmt.Fprintf(stdout, "%s; replay with: enqueue dlq replay ID..., delete with: enqueue dlq rm ID...\n", shown)
		return nil
	case "replay", "rm":
		verb := "replayed"
		if cmd == "rm" {
			verb = "deleted"
		}
		if *all {
			if cmd == "rm" && total > 0 && !*yes {
				if err := confirmDelete(total, stdin, stdout); err != nil {
					return err
				}
			}
			total := 0
			for _, q := range queues {
				if cmd == "replay" && q == tasks.QueueAll {
					// A flush-all needs a fresh confirmation each time: never replayed in bulk.
					n := len(byQueue[q])
					if exist[q] {
						infos, err := insp.ListArchivedTasks(q)
						if err != nil {
							return &exitError{code: 2, err: fmt.Errorf("queue %s: %w", q, err)}
						}
						n = max(n, len(infos))
					}
					if n > 0 {
						fmt.Fprintf(stderr, "skipped %s: a flush-all is replayed only on its own, with a fresh confirmation: enqueue dlq replay %s --confirm=<your CLOUDIMAGE_TOKEN value>\n",
							plural(int64(n), "flush-all dead letter", "flush-all dead letters"), tasks.TaskIDAll)
					}
					continue
				}
				n, err := dlqAll(ctx, cmd, cfg, rdb, insp, st, q, exist[q], byQueue[q], stderr)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("queue %s: %w", q, err)}
				}
				total += n
			}
			fmt.Fprintf(stdout, "%s %s\n", verb, plural(int64(total), "dead letter", "dead letters"))
			return nil
		}
		failed := 0
		for _, id := range ids {
			q, err := findArchived(insp, queues, id)
			inArchive := err == nil
			rec, inRecord := recorded[id]
			if err != nil && inRecord {
				q, err = rec.Queue, nil // trimmed from asynq's archive: the product's record has it
			}
			if err == nil && cmd == "replay" && q == tasks.QueueAll {
				err = replayFlushAll(ctx, cfg, rdb, insp, id, *confirm, rec, inArchive)
				if err == nil {
					fmt.Fprintf(stdout, "replayed %s (queue %s) as a fresh, confirmed flush-all request: a worker will send it once\n", id, q)
					continue
				}
				var ee *exitError
				if errors.As(err, &ee) {
					return err
				}
			} else if err == nil {
				err = dlqOne(ctx, cmd, cfg, rdb, insp, st, q, id, inArchive, rec)
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

// reconcile runs store.ReconcileDeadLetters and says on stderr what it changed, if anything.
func reconcile(ctx context.Context, cfg *config.Config, st *store.Store, stderr io.Writer) error {
	res, err := st.ReconcileDeadLetters(ctx, store.SweepOptions{Queues: tasks.QueueNames(), HistoryTTL: cfg.Purge.HistoryTTL})
	if n := len(res.Added); n > 0 {
		fmt.Fprintf(stderr, "recorded %s that asynq archived without a worker (a lease expired on a last attempt, or archived by hand)\n",
			plural(int64(n), "dead letter", "dead letters"))
	}
	if n := len(res.Forgotten); n > 0 {
		fmt.Fprintf(stderr, "forgot %s whose task was deleted in asynq (asynqmon) or ran again and completed\n",
			plural(int64(n), "dead letter", "dead letters"))
	}
	return err
}

// dlqOne replays or deletes one dead letter: asynq's archived task when it still has it, else the
// product's record (a replay enqueues its payload again), and forgets the record.
func dlqOne(ctx context.Context, cmd string, cfg *config.Config, rdb redis.UniversalClient, insp *asynq.Inspector, st *store.Store,
	queue, id string, inArchive bool, rec store.DeadLetter) error {
	var err error
	switch {
	case cmd == "replay" && inArchive:
		err = insp.RunTask(queue, id)
	case cmd == "replay":
		err = enqueueRecord(ctx, cfg, rdb, rec)
	case inArchive:
		err = insp.DeleteTask(queue, id)
	}
	if err != nil {
		return err
	}
	return st.ForgetDeadLetters(ctx, id)
}

// dlqAll replays or deletes every dead letter of queue (flush-alls excepted by the caller) and
// returns how many; a recorded one that cannot be replayed is skipped, with a line on stderr.
func dlqAll(ctx context.Context, cmd string, cfg *config.Config, rdb redis.UniversalClient, insp *asynq.Inspector, st *store.Store,
	queue string, exists bool, recs []store.DeadLetter, stderr io.Writer) (int, error) {
	n := 0
	if exists {
		var err error
		if cmd == "replay" {
			n, err = insp.RunAllArchivedTasks(queue)
		} else {
			n, err = insp.DeleteAllArchivedTasks(queue)
		}
		if err != nil {
			return n, err
		}
	}
	ids := make([]string, 0, len(recs))
	extra := 0
	for _, r := range recs {
		if cmd != "replay" {
			ids = append(ids, r.ID)
			continue
		}
		if _, err := insp.GetTaskInfo(queue, r.ID); err == nil {
			ids = append(ids, r.ID)
			continue // asynq still had it: replayed above
		}
		if err := enqueueRecord(ctx, cfg, rdb, r); errors.Is(err, errUnreplayable) {
			fmt.Fprintf(stderr, "skipped %s: %v\n", r.ID, err)
			continue // the entry stays
		} else if err != nil {
			return n + extra, err
		}
		ids = append(ids, r.ID)
		extra++
	}
	if cmd == "rm" {
		extra = max(len(recs)-n, 0)
	}
	return n + extra, st.ForgetDeadLetters(ctx, ids...)
}

// enqueueRecord enqueues a dead letter again from the product's record, for one asynq no longer
// keeps: built by the constructor of its type (taskq.Rebuild: that type's retries and timeout),
// under the same task ID and queue. A payload that does not decode is refused (errUnreplayable).
func enqueueRecord(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, r store.DeadLetter) error {
	t, err := taskq.Rebuild(r.Type, r.Payload, r.Queue, cfg.Purge.MaxRetry)
	if err != nil {
		return fmt.Errorf("%w: %v; delete it with: enqueue dlq rm %s", errUnreplayable, err, r.ID)
	}
	c := asynq.NewClientFromRedisClient(rdb)
	if _, err := taskq.Enqueue(ctx, c, t, asynq.TaskID(r.ID)); err != nil {
		return err
	}
	return nil // enqueued, or already queued again
}

// errUnreplayable marks a dead letter whose recorded task cannot be enqueued again as it is.
var errUnreplayable = errors.New("cannot be replayed")

// replayFlushAll replaces the dead-lettered flush-all id by a fresh request confirmed with confirm
// (the CLOUDIMAGE_TOKEN value), under the usual rules (cooldown), through the Producer, which
// removes the dead letter only once the new request is enqueued. Without a matching confirmation
// it refuses with exit status 2 and leaves the dead letter as it is.
func replayFlushAll(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, insp *asynq.Inspector,
	id, confirm string, rec store.DeadLetter, inArchive bool) error {
	payload := rec.Payload
	if inArchive {
		ti, err := insp.GetTaskInfo(tasks.QueueAll, id)
		if err != nil {
			return err
		}
		payload = ti.Payload
	}
	reason := "replay of dead letter " + id
	if p, err := tasks.DecodeAll(payload); err == nil && p.Reason != "" {
		reason += ": " + p.Reason
	}
	err := newProducer(rdb, cfg, nil).RequestFlushAll(ctx, producer.FlushAll{Token: cfg.Cloudimage.Token, Confirm: confirm,
		Cooldown: cfg.Purge.AllCooldown, RequestedBy: requester(), Reason: reason, DeadLetter: id})
	var refused *flushall.RefusedError
	if errors.As(err, &refused) {
		return &exitError{code: 2, err: errors.New(replayRefusal(id, refused))}
	}
	return err
}

// replayRefusal words the Producer's refusal of dlq replay of the flush-all id, with the command's
// own fix.
func replayRefusal(id string, refused *flushall.RefusedError) string {
	refusal := "dlq replay " + id + " refused: "
	switch refused.Cause {
	case flushall.ErrNoToken:
		return refusal + "CLOUDIMAGE_TOKEN is not set, so there is nothing to confirm against. Nothing was replayed"
	case flushall.ErrNotConfirmed:
		return refusal + "it is a flush-all, and replaying one needs a fresh confirmation: " + flushall.Cost +
			". If you really mean it, run: enqueue dlq replay " + id + " --confirm=<your CLOUDIMAGE_TOKEN value>"
	case flushall.ErrMismatch:
		return refusal + "--confirm does not match CLOUDIMAGE_TOKEN. Nothing was replayed"
	case flushall.ErrPending:
		return "dlq replay " + id + ": " + refused.Error() + "; " + cancelHint + "; the dead letter stays"
	}
	return "dlq replay " + id + ": " + refused.Error() + "; the dead letter stays"
}

// findArchived returns the queue whose dead-letter queue holds task id. A task that exists but is
// not a dead letter is named with its state (a queued flush-all is cancelled another way).
func findArchived(insp *asynq.Inspector, queues []string, id string) (string, error) {
	for _, q := range queues {
		ti, err := insp.GetTaskInfo(q, id)
		if err != nil {
			continue
		}
		if ti.State == asynq.TaskStateArchived {
			return q, nil
		}
		if id == tasks.TaskIDAll {
			return "", fmt.Errorf("the flush-all is %s, not a dead letter: remove it with enqueue --all --cancel", ti.State)
		}
		return "", fmt.Errorf("task %s on queue %s is %s, not a dead letter", id, q, ti.State)
	}
	return "", fmt.Errorf("no dead letter with this ID in queues %s (enqueue dlq ls lists them)", strings.Join(queues, ", "))
}

// confirmDelete asks before dlq rm --all deletes n dead letters for good: on a terminal it asks for
// "yes"; elsewhere it refuses and names --yes.
func confirmDelete(n int, stdin io.Reader, stdout io.Writer) error {
	what := plural(int64(n), "dead letter", "dead letters")
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return usage("dlq rm --all deletes %s for good: add --yes to confirm; nothing was deleted", what)
	}
	fmt.Fprintf(stdout, "delete %s for good? Type yes to confirm: ", what)
	answer, _ := bufio.NewReader(stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "yes" && a != "y" {
		return &exitError{code: 1, err: errors.New("not confirmed; nothing was deleted")}
	}
	return nil
}
