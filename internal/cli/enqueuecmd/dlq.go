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

	"golang.org/x/term"

	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// dlqArgs is one dlq command line.
type dlqArgs struct {
	cmd     string   // ls, replay or rm
	ids     []string // the task IDs named
	queues  []string // the queues asked for
	limit   int
	all     bool
	yes     bool
	asJSON  bool
	confirm string
	account string // --account: whose dead letters; required with several accounts
}

// dlqRun is one dlq command at work: its line, the configuration and the dead letters read.
type dlqRun struct {
	dlqArgs
	cfg            *config.Config
	target         flushTarget // the account read: its keys, queues, token and cooldown
	dlq            *inspect.DLQ
	view           *inspect.View
	stdin          io.Reader
	stdout, stderr io.Writer
}

func runDLQ(ctx context.Context, args []string, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	a, err := parseDLQ(args, stdout)
	if err != nil || a == nil {
		return err
	}
	cfg, rdb, err := connect(ctx, environ)
	if err != nil {
		return err
	}
	defer rdb.Close()
	target, err := accountTarget(cfg, a.account, "whose dead letters to read")
	if err != nil {
		return err
	}
	a.queues = accountQueues(a.queues, target.keys)
	st := store.New(rdb).For(target.keys)
	r := &dlqRun{dlqArgs: *a, cfg: cfg, target: target, dlq: inspect.NewDLQ(st, cfg.Purge.MaxRetry), stdin: stdin, stdout: stdout, stderr: stderr}
	if a.cmd == "ls" || (a.cmd == "replay" && a.all) {
		// Bring the record in line with asynq first, so that what is listed or replayed is what
		// is really dead.
		if err := reconcile(ctx, cfg, st, stderr); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	if r.view, err = r.dlq.Read(ctx, a.queues); err != nil {
		return &exitError{code: 2, err: err}
	}
	switch {
	case a.cmd == "ls":
		return r.list()
	case a.all:
		return r.every(ctx)
	}
	return r.each(ctx)
}

// parseDLQ reads a dlq command line. It returns nil and no error after printing the usage.
func parseDLQ(args []string, stdout io.Writer) (*dlqArgs, error) {
	if len(args) == 0 {
		return nil, usage("dlq needs a command: ls, replay or rm%s", helpHint)
	}
	a := &dlqArgs{cmd: args[0]}
	fs := flag.NewFlagSet("enqueue dlq "+a.cmd, flag.ContinueOnError)
	queue := fs.String("queue", "", "only the queue `Q` (default: every queue of the product)")
	fs.IntVar(&a.limit, "limit", 100, "ls: show at most `N` entries per queue")
	fs.BoolVar(&a.all, "all", false, "replay/rm: every entry (of --queue, or of every queue)")
	fs.BoolVar(&a.yes, "yes", false, "rm --all: do not ask for confirmation")
	fs.BoolVar(&a.asJSON, "json", false, "ls: print JSON")
	fs.StringVar(&a.confirm, "confirm", "", "replay of a flush-all: `TOKEN`, your CLOUDIMAGE_TOKEN value (a fresh confirmation)")
	fs.StringVar(&a.account, "account", "", "with several accounts (ACCOUNTS_FILE): the dead letters of the account `NAME` (required then)")
	head := "usage:\n  enqueue dlq ls [--queue Q] [--limit N] [--json]\n  enqueue dlq replay (ID... | --all) [--queue Q] [--confirm=TOKEN]\n" +
		"  enqueue dlq rm (ID... | --all [--yes]) [--queue Q]\n  (with several accounts, each takes --account NAME)\n\nflags:\n"
	if a.cmd == "-h" || a.cmd == "-help" || a.cmd == "--help" {
		return nil, parseFlags(fs, []string{a.cmd}, head, stdout) // the dlq usage, exit 0
	}
	// Flags may follow the IDs too (enqueue dlq replay flush_all --confirm=...).
	for rest := args[1:]; ; {
		if err := parseFlags(fs, rest, head, stdout); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		a.ids = append(a.ids, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	a.queues = tasks.QueueNames()
	if *queue != "" {
		if !slices.Contains(a.queues, *queue) {
			return nil, usage("unknown --queue %q: use one of %s", *queue, strings.Join(a.queues, ", "))
		}
		a.queues = []string{*queue}
	}
	return a, a.check()
}

// check refuses flags that do not go with the command.
func (a *dlqArgs) check() error {
	switch a.cmd {
	case "ls":
		if a.limit < 1 {
			return usage("--limit %d: use 1 or more", a.limit)
		}
	case "replay", "rm":
		if a.all == (len(a.ids) > 0) {
			return usage("dlq %s needs task IDs or --all (not both)%s", a.cmd, helpHint)
		}
	default:
		return usage("unknown dlq command %q: use ls, replay or rm%s", a.cmd, helpHint)
	}
	if a.confirm != "" && a.cmd != "replay" {
		return usage("--confirm only goes with dlq replay of a flush-all")
	}
	return nil
}

// list prints dlq ls.
func (r *dlqRun) list() error {
	list, err := r.dlq.List(r.view, r.limit)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if r.asJSON {
		b, _ := json.MarshalIndent(list, "", "  ")
		fmt.Fprintln(r.stdout, string(b))
		return nil
	}
	if len(list) == 0 {
		fmt.Fprintln(r.stdout, "the dead-letter queue is empty")
		return nil
	}
	for _, d := range list {
		printDeadLetter(r.stdout, d)
	}
	shown := plural(int64(r.view.Total), "dead letter", "dead letters")
	if len(list) < r.view.Total {
		shown = fmt.Sprintf("showing %d of %s (--limit %d per queue)", len(list), shown, r.limit)
	}
	fmt.Fprintf(r.stdout, "%s; replay with: enqueue dlq replay ID..., delete with: enqueue dlq rm ID...\n", shown)
	return nil
}

func printDeadLetter(w io.Writer, d inspect.DeadLetter) {
	fmt.Fprintf(w, "%s  queue=%s type=%s attempts=%d last_failed=%s\n  error: %s\n", d.ID, d.Queue, d.Type, d.Attempts, d.LastFailed.UTC().Format(time.RFC3339), d.LastError)
	if len(d.URLs) > 0 {
		fmt.Fprintf(w, "  urls:  %s\n", strings.Join(d.URLs, "\n         "))
	} else if d.Payload != "" {
		fmt.Fprintf(w, "  payload: %s\n", d.Payload)
	}
}

// verb is what dlq replay or rm did to a dead letter.
func (r *dlqRun) verb() string {
	if r.cmd == "rm" {
		return "deleted"
	}
	return "replayed"
}

// every runs dlq replay --all or rm --all. A flush-all is never replayed in bulk: each needs a
// fresh confirmation.
func (r *dlqRun) every(ctx context.Context) error {
	if r.cmd == "rm" && r.view.Total > 0 && !r.yes {
		if err := confirmDelete(r.view.Total, r.stdin, r.stdout); err != nil {
			return err
		}
	}
	skipped := func(id string, err error) { fmt.Fprintf(r.stderr, "skipped %s: %v\n", id, err) }
	total := 0
	for _, q := range r.view.Queues {
		var n int
		var err error
		switch {
		case r.cmd == "replay" && q == r.allQueue():
			err = r.skipFlushAlls(q)
		case r.cmd == "replay":
			n, err = r.dlq.ReplayAll(ctx, r.view, q, skipped)
		default:
			n, err = r.dlq.DeleteAll(ctx, r.view, q)
		}
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("queue %s: %w", q, err)}
		}
		total += n
	}
	fmt.Fprintf(r.stdout, "%s %s\n", r.verb(), plural(int64(total), "dead letter", "dead letters"))
	return nil
}

// skipFlushAlls says how to replay the flush-all dead letters of q that replay --all leaves.
func (r *dlqRun) skipFlushAlls(q string) error {
	n, err := r.dlq.Count(r.view, q)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(r.stderr, "skipped %s: a flush-all is replayed only on its own, with a fresh confirmation: enqueue dlq replay %s --confirm=<your CLOUDIMAGE_TOKEN value>\n",
			plural(int64(n), "flush-all dead letter", "flush-all dead letters"), tasks.TaskIDAll)
	}
	return nil
}

// each runs dlq replay or rm of the IDs named. It exits 1 when any failed.
func (r *dlqRun) each(ctx context.Context) error {
	failed := 0
	for _, id := range r.ids {
		e, err := r.dlq.Find(r.view, id)
		switch {
		case err != nil:
		case r.cmd == "replay" && e.Queue == r.allQueue():
			err = r.replayFlushAll(ctx, e)
			var ee *exitError
			if errors.As(err, &ee) {
				return err
			}
			if err == nil {
				fmt.Fprintf(r.stdout, "replayed %s (queue %s) as a fresh, confirmed flush-all request: a worker will send it once\n", id, e.Queue)
				continue
			}
		case r.cmd == "replay":
			err = r.dlq.Replay(ctx, e)
		default:
			err = r.dlq.Delete(ctx, e)
		}
		if err != nil {
			fmt.Fprintf(r.stderr, "%s: %v\n", id, err)
			failed++
			continue
		}
		fmt.Fprintf(r.stdout, "%s %s (queue %s)\n", r.verb(), id, e.Queue)
	}
	if failed > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// allQueue is the flush-all queue of the account read.
func (r *dlqRun) allQueue() string { return tasks.QueuesOf(r.target.keys).All }

// accountQueues are the queues of the account whose keys are named keys, for the default
// account's names in queues (their order kept).
func accountQueues(queues []string, keys string) []string {
	own := tasks.QueuesOf(keys).Names()
	out := make([]string, 0, len(queues))
	for _, q := range queues {
		out = append(out, own[slices.Index(tasks.QueueNames(), q)])
	}
	return out
}

// reconcile runs inspect.Reconcile and says on stderr what it changed, if anything.
func reconcile(ctx context.Context, cfg *config.Config, st *store.Store, stderr io.Writer) error {
	res, err := inspect.Reconcile(ctx, st, cfg.Purge.HistoryTTL)
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

// replayFlushAll replaces the dead-lettered flush-all e by a fresh request confirmed with
// --confirm, under the usual rules (cooldown), through the Producer.
// The Producer removes the dead letter only once the new request is enqueued.
// Without a matching confirmation it refuses with exit status 2 and leaves the dead letter.
func (r *dlqRun) replayFlushAll(ctx context.Context, e inspect.Entry) error {
	payload, err := r.dlq.FlushAllPayload(e)
	if err != nil {
		return err
	}
	reason := "replay of dead letter " + e.ID
	if p, err := tasks.DecodeAll(payload); err == nil && p.Reason != "" {
		reason += ": " + p.Reason
	}
	t := r.target
	err = newProducerOf(r.dlq.Store().Client(), r.cfg, t.keys, nil).RequestFlushAll(ctx, producer.FlushAll{Token: t.token, Confirm: r.confirm,
		Cooldown: t.cooldown, RequestedBy: requester(), Reason: reason, DeadLetter: e.ID})
	var refused *flushall.RefusedError
	if errors.As(err, &refused) {
		return &exitError{code: 2, err: errors.New(replayRefusal(e.ID, refused))}
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
	return "dlq replay " + id + ": " + config.Explain(refused).Error() + "; the dead letter stays"
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
