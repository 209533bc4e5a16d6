// Package enqueuecmd is the enqueue command.
//
// It normalises URLs and queues them for the workers.
// It is also the operator's tool for the backlog, the dead-letter queue and flush-all.
// cmd/enqueue is its main. Tests call Run directly.
//
//	enqueue [flags] URL...
//	enqueue [flags] -f FILE            one URL a line; - reads standard input
//	enqueue [--prefix] FOLDER/*        a folder (prefix): every image under it
//	enqueue --all --confirm=TOKEN      flush everything (asks for the CLOUDIMAGE_TOKEN value)
//	enqueue status [--json] [URL...]   backlog, dead letters, send rate; or one URL's history
//	enqueue dlq ls|replay|rm           the dead-letter queue
//	enqueue webhooks ls|replay         webhook deliveries that finally failed
//
// # Exit status
//
// 0 means every input was accepted.
// A URL that is already pending counts as accepted.
// 1 means some lines were rejected. The others are still enqueued.
// 2 means a usage error, a configuration error or an unreachable Redis.
package enqueuecmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/term"

	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Main runs the command and returns its exit status, having printed any error to stderr. It is
// the program's entry point (cmd/enqueue), so it also silences go-redis's process-wide logger,
// which would otherwise print each failed dial as an extra line before the command's own
// one-line error.
// It also holds the heap near producer.MemoryLimit, so that a file of any size is read in bounded
// memory; a GOMEMLIMIT in environ wins.
func Main(ctx context.Context, args []string, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	redis.SetLogger(quietRedisLog{})
	if !slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, "GOMEMLIMIT=") }) {
		debug.SetMemoryLimit(producer.MemoryLimit)
	}
	for _, m := range config.Unknown(environ) {
		fmt.Fprintln(stderr, "enqueue: warning:", m)
	}
	return report(Run(ctx, args, environ, stdin, stdout, stderr), stderr)
}

// quietRedisLog drops go-redis's internal log lines: every Redis failure also reaches the command
// as an error, which it reports once.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// ExitCode returns the exit status that err stands for (0 for nil).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

// exitError carries an exit status and what to say.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usage(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// report prints err (if it has words) and returns the exit status.
func report(err error, stderr io.Writer) int {
	if err != nil && err.Error() != "" {
		fmt.Fprintln(stderr, "enqueue:", err)
	}
	return ExitCode(err)
}

const usageText = `usage:
  enqueue [flags] URL...
  enqueue [flags] -f FILE              one URL a line; "-" reads standard input;
                                       blank lines and lines starting with # are skipped
  enqueue [--prefix] FOLDER/*...        a folder (prefix): every image under it, in one
                                       search of Cloudimage's log (up to 60 s; PURGE_PREFIX_RATE)
  enqueue --confirm=TOKEN HOST/*       a prefix of a whole host, alias or token: confirmed,
                                       cooled down and sent once, as a flush-all is
  enqueue --all --confirm=TOKEN [--reason TEXT] [--account NAME]
                                       flush EVERY cached image (scope "all"); TOKEN is your
                                       CLOUDIMAGE_TOKEN value
  enqueue --all --cancel               remove a flush-all that is queued and not yet sent
  enqueue status [--json] [--account NAME] [URL...]
                                       backlog, dead letters, send rate, time to drain;
                                       with URLs: when each was requested, sent, confirmed
  enqueue status --request ID [--json] a request's progress: counts per state, URLs not done
  enqueue dlq ls [--queue Q] [--limit N] [--json]
  enqueue dlq replay (ID... | --all) [--queue Q] [--confirm=TOKEN]
                                       a flush-all is replayed only by its ID with
                                       --confirm=<CLOUDIMAGE_TOKEN value>; --all skips it
  enqueue dlq rm (ID... | --all [--yes]) [--queue Q]
  enqueue webhooks ls [--limit N] [--json]
                                       webhook deliveries that finally failed
  enqueue webhooks replay ID...        send them once more, now
  enqueue --version

Configuration comes from the environment (REDIS_URL, CLOUDIMAGE_TOKEN, ...): worker --help
lists every variable.

flags:
`

// helpHint ends every usage error: one line, and where to read more.
const helpHint = " (enqueue --help shows the usage)"

// parseFlags parses args into fs without printing anything: --help writes the usage (head, then
// the flags) to stdout and returns errHelped; any other problem is one line, a usage error.
func parseFlags(fs *flag.FlagSet, args []string, head string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, head)
		printFlags(stdout, fs)
		return errHelped
	}
	return usage("%s%s", spellFlags(err.Error()), helpHint)
}

// flagName spells a flag the way the usage does: -f for a one-letter flag, --name for the others.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// flagInError finds the flag the flag package names, always with one dash, in its errors
// ("flag provided but not defined: -bogus", "invalid value "x" for flag -limit: ...",
// "invalid boolean value "x" for -json: ...", "flag needs an argument: -f").
var flagInError = regexp.MustCompile(`(defined: |argument: |for flag |for )-([^\s:=]+)`)

// spellFlags rewrites the flag names in a flag package error as the usage spells them.
func spellFlags(msg string) string {
	return flagInError.ReplaceAllStringFunc(msg, func(m string) string {
		sub := flagInError.FindStringSubmatch(m)
		return sub[1] + flagName(sub[2])
	})
}

// errHelped says --help was answered: exit 0, nothing more to print.
var errHelped = &exitError{code: 0}

// printFlags writes fs's flags the way the usage spells them (flagName): --name, never -name;
// -f for a one-letter flag, never --f.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		line := "  " + flagName(f.Name)
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, help)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// Run is the whole program. Its error carries the exit status (ExitCode).
func Run(ctx context.Context, args []string, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := run(ctx, args, environ, stdin, stdout, stderr)
	if err == errHelped {
		return nil
	}
	return err
}

func run(ctx context.Context, args []string, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "status":
			return runStatus(ctx, args[1:], environ, stdout, stderr)
		case "dlq":
			return runDLQ(ctx, args[1:], environ, stdin, stdout, stderr)
		case "webhooks":
			return runWebhooks(ctx, args[1:], environ, stdout, stderr)
		}
	}
	a, err := parseEnqueue(args, stdout)
	if err != nil || a == nil {
		return err
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if a.all {
		fa, err := accountTarget(cfg, a.account, "to flush")
		if err != nil {
			return err
		}
		if a.cancel {
			return cancelFlushAll(ctx, cfg, fa, stdout)
		}
		return runFlushAll(ctx, cfg, fa, a.confirm, a.reason, stdout)
	}
	return runIngest(ctx, a, cfg, stdin, stdout, stderr)
}

// enqueueArgs is one enqueue command line.
type enqueueArgs struct {
	file, src, confirm, reason, idemKey, callback string
	account                                       string // --account: the account of every URL
	dryRun, bulk, asJSON, noProgress, all, cancel bool
	verbose, prefix                               bool
	urls                                          []string
	wait                                          waitFlag // --wait[=TIMEOUT]
}

// parseEnqueue reads an enqueue command line. It returns nil and no error after printing the
// usage or the version.
func parseEnqueue(args []string, stdout io.Writer) (*enqueueArgs, error) {
	a := &enqueueArgs{}
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.StringVar(&a.file, "f", "", "read URLs from `FILE`, one a line (- is standard input)")
	fs.BoolVar(&a.dryRun, "dry-run", false, "print the canonical key of each accepted input, exactly as it would be sent; enqueue nothing")
	fs.BoolVar(&a.bulk, "bulk", false, "mass re-ingest: enqueue ready-made requests on the low-priority bulk queue")
	fs.BoolVar(&a.asJSON, "json", false, "print the summary as JSON on standard output")
	fs.StringVar(&a.src, "source", "", "the source or reason recorded with the requests, a free `TEXT` (shown in asynqmon)")
	fs.BoolVar(&a.noProgress, "no-progress", false, "no progress line, even on a terminal")
	fs.BoolVar(&a.verbose, "verbose", false, "print every rejected line; without it the first "+group(rejectionsListed)+" are printed and the rest counted")
	fs.BoolVar(&a.all, "all", false, "request a flush of EVERY cached image (scope all); needs --confirm")
	fs.BoolVar(&a.prefix, "prefix", false, "read each input as a folder (a prefix): every image under it; a trailing / or /* is optional")
	fs.StringVar(&a.confirm, "confirm", "", "confirm --all, or a prefix of a whole host, alias or token, with `TOKEN`: your CLOUDIMAGE_TOKEN value")
	fs.StringVar(&a.reason, "reason", "", "with --all or a confirmed root prefix: why, a free `TEXT` recorded with the request")
	fs.BoolVar(&a.cancel, "cancel", false, "with --all: remove a flush-all that is queued and not yet sent")
	showVer := fs.Bool("version", false, "print the version and exit")
	fs.StringVar(&a.idemKey, "idempotency-key", "", "a `KEY` that makes a retried run safe: a run with a key an earlier run used queues nothing and prints that run's request ID")
	fs.StringVar(&a.account, "account", "", "the `NAME` of the account of every URL, over what each URL's form says (ACCOUNTS_FILE; default: the form decides); with --all, the account to flush")
	fs.StringVar(&a.callback, "callback", "", "the `URL` the worker posts this request's signed events to (https, or http to loopback)")
	fs.Var(&a.wait, "wait", "wait until the request is done, at most `TIMEOUT` (a bare --wait: 15m), with a progress line; exit 3 when some URLs failed for good, 4 when the wait ends first")
	if err := parseFlags(fs, args, usageText, stdout); err != nil {
		return nil, err
	}
	if *showVer {
		fmt.Fprintln(stdout, "cipurge enqueue", defaults.Version)
		return nil, nil
	}
	a.urls = fs.Args()
	return a, a.check()
}

// check refuses flags that do not go together.
func (a *enqueueArgs) check() error {
	switch {
	case a.all && (len(a.urls) > 0 || a.file != "" || a.bulk || a.dryRun):
		return usage("--all flushes everything and takes no URLs, -f, --bulk or --dry-run%s", helpHint)
	case a.all && a.prefix:
		return usage("--all flushes everything and takes no --prefix%s", helpHint)
	case !a.all && a.cancel:
		return usage("--cancel only goes with --all%s", helpHint)
	case a.confirm != "" && (a.bulk || a.dryRun):
		return usage("--confirm sends a root prefix as a flush-all is sent: not with --bulk or --dry-run%s", helpHint)
	case a.cancel && a.confirm != "":
		return usage("--all --cancel removes a queued flush-all and takes no --confirm%s", helpHint)
	case !a.all && a.file == "" && len(a.urls) == 0:
		return usage("nothing to enqueue: give URLs as arguments or a file with -f%s", helpHint)
	case a.file != "" && len(a.urls) > 0:
		return usage("give URLs as arguments or with -f, not both%s", helpHint)
	case a.wait.d > 0 && (a.all || a.dryRun):
		return usage("--wait waits for URLs enqueued: not with --all or --dry-run%s", helpHint)
	case len(a.idemKey) > store.MaxIdempotencyKey:
		return usage("--idempotency-key is %d bytes long: use at most %d%s", len(a.idemKey), store.MaxIdempotencyKey, helpHint)
	}
	if a.callback != "" {
		if err := webhook.CheckTarget(a.callback); err != nil {
			return usage("--callback: %v%s", err, helpHint)
		}
	}
	return nil
}

// runIngest enqueues the URLs of the arguments or of the file, and prints the summary.
func runIngest(ctx context.Context, a *enqueueArgs, cfg *config.Config, stdin io.Reader, stdout, stderr io.Writer) error {
	var norm *normalize.Normalizer // with several accounts each has its own: every URL is routed
	if !cfg.Several() {
		n, err := cfg.Normalizer()
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		norm = n
	}
	set, err := cfg.Accounts()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	home := set.All()[0].Name
	if a.account != "" {
		acct, err := set.Lookup(a.account)
		if err != nil {
			return usage("--account: %v%s", err, helpHint)
		}
		home = acct.Name
	}
	if a.confirm != "" && cfg.Several() {
		return usage("--confirm of a root prefix is not built for several accounts: request it from the intake with its account, or flush the account with --all --account%s", helpHint)
	}
	in, progress, closeIn, err := openInput(a, stdin, stderr)
	if err != nil {
		return err
	}
	defer closeIn()
	var prod *producer.Producer
	var lanes map[string]*producer.Producer
	var rdb redis.UniversalClient
	if !a.dryRun {
		rdb, err = dial(ctx, cfg, "nothing was enqueued")
		if err != nil {
			return err
		}
		defer rdb.Close()
		note := onceEach(func(note string) { fmt.Fprintln(stderr, "enqueue: note:", note) })
		prod = newProducer(rdb, cfg, note)
		if cfg.Several() {
			lanes = map[string]*producer.Producer{}
			for _, acct := range set.All() {
				lanes[acct.Name] = newProducerOf(rdb, cfg, set.KeyName(acct.Name), note)
			}
		}
	}
	msgs := newPrinter(stderr, a.verbose)
	defer msgs.flush()
	var roots []string
	o := ingestOptions{dryRun: a.dryRun, bulk: a.bulk, source: a.src, senders: 4, batch: 500, progress: progress, json: a.asJSON,
		idemKey: a.idemKey, callback: a.callback, folders: a.prefix, route: set, account: a.account, lanes: lanes, home: home}
	if set.Len() == 1 {
		o.recordAccount = set.All()[0].Name
	}
	if a.confirm != "" {
		o.root = func(key string) { roots = append(roots, key) }
	}
	if a.bulk {
		o.senders, o.batch = 16, 20*cfg.Purge.BatchSize
	}
	sum, err := ingest(ctx, in, norm, prod, o, stdout, msgs)
	if sum != nil {
		if err != nil {
			sum.Error = err.Error()
		}
		printSummary(sum, a.asJSON, stdout, msgs)
	}
	if err == nil && len(roots) > 0 {
		if err := requestRoots(ctx, cfg, prod, roots, a, stdout); err != nil {
			return err
		}
	}
	if err == nil && a.wait.d > 0 && sum.RequestID != "" {
		msgs.flush()
		insp, err := newInspector(cfg, rdb)
		if err != nil {
			return err
		}
		if err := waitRequest(ctx, insp, sum.RequestID, a.wait.d, stderr); err != nil {
			return err
		}
	}
	return ingestExit(sum, err)
}

// openInput returns the source of a's URLs: the arguments, or the file (- is stdin).
// progress says whether to draw the progress line. closeIn closes the file.
func openInput(a *enqueueArgs, stdin io.Reader, stderr io.Writer) (in source, progress bool, closeIn func(), err error) {
	closeIn = func() {}
	if a.file == "" {
		return &argSource{args: a.urls}, false, closeIn, nil
	}
	r := stdin
	if a.file != "-" {
		f, err := os.Open(a.file)
		if err != nil {
			return nil, false, closeIn, usage("%v", err)
		}
		r, closeIn = f, func() { f.Close() }
	}
	lr := newLineReader(r, normalize.MaxInputLen)
	note, err := lr.sniff()
	if err != nil {
		closeIn()
		return nil, false, func() {}, &exitError{code: 2, err: err}
	}
	if note != "" {
		fmt.Fprintln(stderr, "enqueue: note:", note)
	}
	return lr, !a.noProgress && isTerminal(stderr), closeIn, nil
}

// requestRoots requests each confirmed root prefix as a flush-all is requested: the same
// confirmation, the same cooldown, sent once. One waits at a time, as a flush-all does.
func requestRoots(ctx context.Context, cfg *config.Config, prod *producer.Producer, roots []string, a *enqueueArgs, stdout io.Writer) error {
	for _, key := range roots {
		err := prod.RequestFlushAll(ctx, producer.FlushAll{Token: cfg.Cloudimage.Token, Confirm: a.confirm,
			Cooldown: cfg.Purge.AllCooldown, RequestedBy: requester(), Reason: a.reason, Prefix: key})
		var refused *flushall.RefusedError
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "root prefix %s requested as a flush-all is (task %s on queue %s): a worker will send it once. "+
				"Every image under it is fetched again from the origin.\n", key, tasks.TaskIDAll, tasks.QueueAll)
		case errors.As(err, &refused):
			return &exitError{code: 2, err: fmt.Errorf("root prefix %s: %s", key, allRefusal(refused))}
		default:
			return &exitError{code: 2, err: fmt.Errorf("root prefix %s: %w; it was not enqueued", key, err)}
		}
	}
	return nil
}

// ingestExit is the exit of an ingest that ended with sum and err: 2 when it stopped, 1 when a
// line was rejected.
func ingestExit(sum *summary, err error) error {
	var ev *store.EvictionError
	if errors.As(err, &ev) {
		return &exitError{code: 2, err: fmt.Errorf("refused: %w; %d URLs were enqueued", err, sumEnqueued(sum))}
	}
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("%w; %d URLs were enqueued before it stopped: run the same command again (URLs still pending are not queued twice)", err, sumEnqueued(sum))}
	}
	if sum.Rejected > 0 {
		return &exitError{code: 1}
	}
	return nil
}

func sumEnqueued(s *summary) int64 {
	if s == nil {
		return 0
	}
	return s.Enqueued
}

func printSummary(s *summary, asJSON bool, stdout io.Writer, msgs *printer) {
	if asJSON {
		b, _ := json.MarshalIndent(s, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return
	}
	if s.RequestID != "" {
		// The request ID alone on standard output, for a script to keep: id=$(enqueue URL).
		fmt.Fprintln(stdout, s.RequestID)
	}
	if s.Replayed {
		msgs.printf("request %s: made earlier with this idempotency key; nothing was enqueued again\n", s.RequestID)
		return
	}
	if s.Mode == "dry-run" {
		msgs.printf("dry run: %s, %s accepted (%s distinct), %s, %s, %s skipped; nothing was enqueued\n",
			plural(s.Lines, "line", "lines"), group(s.Accepted), group(s.Accepted-s.Duplicates), plural(s.Duplicates, "duplicate", "duplicates"),
			rejected(s.Rejected, msgs), group(s.Skipped))
		return
	}
	extra := ""
	if s.Mode == "bulk" {
		extra = " in " + plural(s.Requests, "bulk request", "bulk requests")
	}
	msgs.printf("request %s: %s: %s enqueued%s, %s already pending, %s in the input, %s, %s skipped (%.1fs)\n",
		s.RequestID, plural(s.Lines, "line", "lines"), group(s.Enqueued), extra, group(s.AlreadyPending), plural(s.Duplicates, "duplicate", "duplicates"),
		rejected(s.Rejected, msgs), group(s.Skipped), s.Seconds)
}

// rejected writes the count of rejected lines, with how many of them were not printed.
func rejected(n int64, msgs *printer) string {
	if h := msgs.notShown(); h > 0 {
		return fmt.Sprintf("%s rejected (%s not printed: --verbose prints every one)", group(n), group(h))
	}
	return group(n) + " rejected"
}

// flushTarget is the account a flush-all is for: its keys and queues, its token and cooldown.
type flushTarget struct {
	name, keys, token string
	cooldown          time.Duration
}

// accountTarget is the account of enqueue --all or dlq: --account's. With one account it may be
// left out, and the variables give the token and cooldown as always. what says what the account
// is for, in the error that asks for it.
func accountTarget(cfg *config.Config, name, what string) (flushTarget, error) {
	one := flushTarget{token: cfg.Cloudimage.Token, cooldown: cfg.Purge.AllCooldown}
	set, err := cfg.Accounts()
	if err != nil {
		return one, &exitError{code: 2, err: err}
	}
	if name == "" && !cfg.Several() {
		return one, nil
	}
	if name == "" {
		return one, usage("this deployment has several accounts (%s): name the one %s with --account%s", strings.Join(set.Names(), ", "), what, helpHint)
	}
	acct, err := set.Lookup(name)
	if err != nil {
		return one, usage("--account: %v%s", err, helpHint)
	}
	if !cfg.Several() {
		return one, nil
	}
	return flushTarget{name: acct.Name, keys: set.KeyName(acct.Name), token: acct.Token(), cooldown: acct.Cooldown}, nil
}

func runFlushAll(ctx context.Context, cfg *config.Config, fa flushTarget, confirm, reason string, stdout io.Writer) error {
	// Not pinged first: the Producer checks the confirmation before it touches Redis, so an
	// unconfirmed request is refused whatever Redis does. It needs no normaliser.
	rdb, err := cfg.RedisClient()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer rdb.Close()
	err = newProducerOf(rdb, cfg, fa.keys, nil).RequestFlushAll(ctx, producer.FlushAll{Token: fa.token, Confirm: confirm,
		Cooldown: fa.cooldown, RequestedBy: requester(), Reason: reason})
	var refused *flushall.RefusedError
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "flush-all requested (task %s on queue %s): a worker will send it once. Every pending URL request made before it is covered by it.\n", tasks.TaskIDAll, tasks.QueuesOf(fa.keys).All)
		return nil
	case errors.As(err, &refused) && fa.name != "":
		return &exitError{code: 2, err: fmt.Errorf("account %s: %s", fa.name, strings.ReplaceAll(allRefusal(refused), "CLOUDIMAGE_TOKEN", "the account's token"))}
	case errors.As(err, &refused):
		return &exitError{code: 2, err: errors.New(allRefusal(refused))}
	}
	if perr := cfg.Ping(ctx, rdb); perr != nil {
		err = perr // Redis does not answer: say so as every command does
	}
	return &exitError{code: 2, err: fmt.Errorf("%w; nothing was enqueued", err)}
}

// cancelHint is how an operator removes the flush-all request that waits on its queue.
const cancelHint = "remove it with: enqueue --all --cancel"

// allRefusal words the Producer's refusal of enqueue --all, with the command's own fix.
func allRefusal(refused *flushall.RefusedError) string {
	switch refused.Cause {
	case flushall.ErrNoToken:
		return "flush-all refused: CLOUDIMAGE_TOKEN is not set, so there is nothing to confirm against. Nothing was sent."
	case flushall.ErrNotConfirmed:
		return "flush-all refused: " + flushall.Cost + ". Nothing was sent. If you really mean it, run: enqueue --all --confirm=<your CLOUDIMAGE_TOKEN value>"
	case flushall.ErrMismatch:
		return "flush-all refused: --confirm does not match CLOUDIMAGE_TOKEN. Nothing was sent. " + flushall.Cost
	case flushall.ErrPending:
		return refused.Error() + "; " + cancelHint
	}
	return config.Explain(refused).Error()
}

// cancelFlushAll removes the flush-all request that waits on its queue (pending, scheduled for a
// retry, or dead-lettered). One that a worker is sending right now cannot be called back.
func cancelFlushAll(ctx context.Context, cfg *config.Config, fa flushTarget, stdout io.Writer) error {
	rdb, err := dial(ctx, cfg, "")
	if err != nil {
		return err
	}
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	queue := tasks.QueuesOf(fa.keys).All
	ti, err := insp.GetTaskInfo(queue, tasks.TaskIDAll)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		fmt.Fprintln(stdout, "no flush-all is queued: nothing to cancel")
		return nil
	}
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("flush-all: %w", err)}
	}
	if ti.State == asynq.TaskStateActive {
		return &exitError{code: 1, err: errors.New("the flush-all is being sent right now (a worker holds it): it can no longer be cancelled")}
	}
	if err := insp.DeleteTask(queue, tasks.TaskIDAll); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("cancel the flush-all: %w", err)}
	}
	// As every way a flush-all task ends: its confirmation is used up (an attempt of it that a
	// worker left in flight stays counted, as outcome unknown). No task refers to it any more, so
	// this is tidiness, not safety: a failure is not worth an error.
	if p, err := tasks.DecodeAll(ti.Payload); err == nil {
		_, _ = store.New(rdb).For(fa.keys).AllDone(ctx, p.RequestedAt.UnixMilli())
	}
	fmt.Fprintf(stdout, "flush-all cancelled (it was %s): nothing was sent\n", ti.State)
	return nil
}

// requester names who runs the command (user@host), recorded with a flush-all request.
func requester() string {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		who += "@" + h
	}
	return who
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProducer is the command's producer on rdb, with the settings of cfg.
// note says what the Redis costs; nil is silent.
func newProducer(rdb redis.UniversalClient, cfg *config.Config, note func(string)) *producer.Producer {
	return newProducerOf(rdb, cfg, "", note)
}

// newProducerOf is newProducer for the keys and queues named keyName (accounts.Set.KeyName).
func newProducerOf(rdb redis.UniversalClient, cfg *config.Config, keyName string, note func(string)) *producer.Producer {
	return producer.New(rdb, producer.Settings{MaxRetry: cfg.Purge.MaxRetry, BatchSize: cfg.Purge.BatchSize,
		PolicyEvery: defaults.PolicyEvery, Note: note, Replicas: cfg.Replicas(), Account: keyName})
}

// onceEach returns say, saying each distinct message once: the producers of several accounts
// share one Redis, and so its notes.
func onceEach(say func(string)) func(string) {
	var mu sync.Mutex
	said := map[string]bool{}
	return func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		if !said[msg] {
			said[msg] = true
			say(msg)
		}
	}
}
