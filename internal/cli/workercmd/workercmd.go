// Package workercmd is the worker command.
// cmd/worker is its main. Tests call Run directly.
//
// The worker sends the invalidations that producers queue in Redis to the Cloudimage API.
// It coalesces them into requests of at most 15 URLs.
// A rate limit shared by every worker paces the requests.
// It has retries and a dead-letter queue.
// Its HTTP server serves the asynqmon UI, metrics, health and intake.
//
// Configuration is read from the environment.
// docs/configuration.md lists every variable.
// With no CLOUDIMAGE_API_KEY the worker refuses to start, unless CLOUDIMAGE_SANDBOX=true.
// The sandbox sends every request to a built-in API that answers like Cloudimage.
// It sends nothing anywhere.
package workercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/httpapi"
	"github.com/cipurge/cipurge/internal/httpserver"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/internal/worker"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// Main runs the worker and returns its exit status, having printed any error to stderr. It is the
// program's entry point (cmd/worker), so it also silences go-redis's process-wide logger, which
// would otherwise write plain-text lines into the JSON log (and before a one-line start-up error)
// for every failed dial; the worker logs the Redis errors it gets itself.
func Main(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) int {
	redis.SetLogger(quietRedisLog{})
	err := Run(ctx, args, environ, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
	}
	return ExitCode(err)
}

// quietRedisLog drops go-redis's internal log lines.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// usageError marks configuration and usage errors: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// ExitCode returns the exit status err stands for: 0 for nil, 2 for configuration and usage
// errors (and an unreachable Redis), 1 otherwise.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

const usageText = `usage:
  worker               run the purge worker (configuration from the environment, below)
  worker healthcheck   exit 0 when the worker at HTTP_ADDR answers /healthz, 1 otherwise
                       (for a container's HEALTHCHECK: the image has no shell or curl)
  worker --version     print the version

Every secret setting can come from a file instead: NAME_FILE=/run/secrets/name.

environment:
`

// healthcheck asks the worker at HTTP_ADDR for /healthz: nil when it answers 200. A wildcard
// address (0.0.0.0, ::, empty host) is probed on loopback.
func healthcheck(ctx context.Context, environ []string, stdout io.Writer) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR=%s: %w", cfg.HTTP.Addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	u := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", u, resp.Status)
	}
	fmt.Fprintln(stdout, "healthy:", u)
	return nil
}

// Run is the whole program: it returns when ctx is done (SIGTERM, SIGINT) after a graceful
// shutdown, or at once with a *usageError when the configuration is wrong or Redis is unreachable.
func Run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return runCommand(ctx, args, environ, stdout)
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return &usageError{err}
	}
	if err := cfg.ValidateAPI(); err != nil {
		return &usageError{err}
	}
	log := cfg.Logger(stderr)
	defer func() { _ = log.Sync() }()
	for _, m := range config.Unknown(environ) {
		log.Warn(m)
	}

	rdb, err := cfg.RedisClient()
	if err != nil {
		return &usageError{err}
	}
	defer rdb.Close()
	if err := cfg.Ping(ctx, rdb); err != nil {
		return &usageError{err}
	}

	set, err := cfg.Accounts()
	if err != nil {
		return &usageError{err}
	}
	if err := refuseOrphans(ctx, cfg, set, rdb); err != nil {
		return &usageError{err}
	}
	api, apiURL, stopSandbox, err := newAPI(cfg, rdb, log)
	if err != nil {
		return &usageError{err}
	}
	defer stopSandbox()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// One account keeps the series of today, without the label account.
	newMetrics, collected := worker.NewMetrics, []string(nil)
	if set.Len() > 1 {
		newMetrics = worker.NewAccountMetrics
	}
	lanes, err := newLanes(cfg, set, rdb, api, log, newMetrics(reg))
	if err != nil {
		return &usageError{err}
	}
	if set.Len() > 1 {
		collected = laneAccounts(lanes)
	}
	reg.MustRegister(httpserver.NewQueueCollector(rdb, httpserver.QueueCollectorOptions{KeyRejected: laneFlag(lanes, (*worker.Worker).KeyRejected),
		SendingStopped: laneFlag(lanes, (*worker.Worker).SendingStopped), Log: log.Named("metrics"), Accounts: collected}))
	srv, err := newServer(cfg, rdb, lanes, reg, log)
	if err != nil {
		return &usageError{err}
	}
	return serve(ctx, cfg, srv, lanes, log, apiURL)
}

// newLanes returns a lane per account of set, each sending with the account's own API client.
// A deployment of one account has one lane, on the keys and queues of today.
func newLanes(cfg *config.Config, set *accounts.Set, rdb redis.UniversalClient, api apiFor, log *zap.Logger, m *worker.Metrics) (*worker.Lanes, error) {
	var ws []*worker.Worker
	for _, a := range set.All() {
		c, err := api(a)
		if err != nil {
			return nil, err
		}
		w, err := worker.New(cfg.WorkerFor(a), rdb, c, log, m)
		if err != nil {
			if cfg.Several() {
				return nil, fmt.Errorf("account %q: %w", a.Name, err)
			}
			return nil, err
		}
		ws = append(ws, w)
	}
	return worker.NewLanes(ws...), nil
}

// runCommand runs the worker's commands: help, version and healthcheck.
func runCommand(ctx context.Context, args []string, environ []string, stdout io.Writer) error {
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		config.Usage(stdout)
		fmt.Fprintf(stdout, "\nCLOUDIMAGE_SANDBOX_FAULTS (with CLOUDIMAGE_SANDBOX=true): %s\n", sandbox.FaultsSyntax)
		return nil
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "cipurge worker", defaults.Version)
		return nil
	case "healthcheck":
		if len(args) > 1 {
			return &usageError{fmt.Errorf("healthcheck takes no arguments: it probes the worker at HTTP_ADDR (see --help)")}
		}
		return healthcheck(ctx, environ, stdout)
	}
	return &usageError{fmt.Errorf("unexpected argument %q: the worker takes no arguments, only environment variables (see --help)", args[0])}
}

// newServer returns the worker's HTTP handler: the UI, /status, metrics, health, the intake and
// the event receivers.
func newServer(cfg *config.Config, rdb redis.UniversalClient, w *worker.Lanes, reg *prometheus.Registry, log *zap.Logger) (http.Handler, error) {
	inflight := httpapi.NewGate(cfg.HTTP.IntakeMaxInflight, "INTAKE_MAX_INFLIGHT")
	intakeAPI, err := newIntake(cfg, rdb, log, inflight)
	if err != nil {
		return nil, err
	}
	eventsAPI, err := newEvents(cfg, rdb, reg, log, inflight)
	if err != nil {
		return nil, err
	}
	var (
		lookup   httpserver.Lookup
		requests httpserver.Requests
	)
	if norm, err := normalizer(cfg); err == nil {
		insp, err := newInspector(cfg, rdb, norm)
		if err != nil {
			return nil, err
		}
		lookup, requests = statusLookup(cfg, rdb, norm, insp), insp
	} else {
		log.Warn("/status cannot look URLs or requests up: the URL normalisation settings do not load", zap.Error(err))
	}
	return httpserver.New(httpserver.Options{
		UI:     httpserver.UI{Addr: cfg.HTTP.Addr, ReadOnly: cfg.HTTP.UIReadOnly, User: cfg.HTTP.UIUser, Password: cfg.HTTP.UIPassword},
		Status: cfg.Status(),
		Ready:  func(ctx context.Context) httpserver.Readiness { return w.Ready(ctx) },
		Redis:  rdb, Registry: reg, Log: log.Named("http"), Intake: intakeAPI, Events: eventsAPI, Lookup: lookup,
		Requests: requests, Accounts: statusAccounts(cfg),
	})
}

// statusAccounts are the accounts /status shows, with several; nil for one.
func statusAccounts(cfg *config.Config) []httpserver.StatusAccount {
	set, err := cfg.Accounts()
	if err != nil || !cfg.Several() {
		return nil
	}
	var out []httpserver.StatusAccount
	for _, a := range set.All() {
		out = append(out, httpserver.StatusAccount{Name: a.Name, Keys: set.KeyName(a.Name)})
	}
	return out
}

// statusLookup is /status's lookup of a URL: the history of the keys of its account.
func statusLookup(cfg *config.Config, rdb redis.UniversalClient, norm *normalize.Normalizer, insp *cipurge.Inspector) httpserver.Lookup {
	if !cfg.Several() {
		st := store.New(rdb)
		return func(ctx context.Context, raw string) (*inspect.History, error) {
			return inspect.LookupURL(ctx, st, norm, raw)
		}
	}
	set, _ := cfg.Accounts()
	return func(ctx context.Context, raw string) (*inspect.History, error) {
		return inspect.LookupRouted(ctx, rdb, set, raw)
	}
}

// newIntake returns the intake API: on with INTAKE_TOKEN, INTAKE_FLUSH_TOKEN or a scoped token of
// ACCOUNTS_FILE, else nil.
func newIntake(cfg *config.Config, rdb redis.UniversalClient, log *zap.Logger, inflight *httpapi.Gate) (http.Handler, error) {
	set, err := cfg.Accounts()
	if err != nil {
		return nil, err
	}
	if cfg.HTTP.IntakeToken == "" && cfg.HTTP.IntakeFlush == "" && len(set.Tokens()) == 0 {
		return nil, nil
	}
	norm, err := normalizer(cfg)
	if err != nil {
		return nil, fmt.Errorf("INTAKE_TOKEN is set, so the worker normalises URLs: %w", err)
	}
	client, err := newClient(cfg, rdb, norm, cipurge.WithFlushAll(cfg.Cloudimage.Token, cfg.Purge.AllCooldown))
	if err != nil {
		return nil, err
	}
	insp, err := newInspector(cfg, rdb, norm)
	if err != nil {
		return nil, err
	}
	return intake.New(intake.Options{
		Client: client, Token: cfg.HTTP.IntakeToken, MaxBytes: cfg.HTTP.IntakeMaxBytes, MaxURLs: cfg.HTTP.IntakeMaxURLs,
		FlushBearer: cfg.HTTP.IntakeFlush, Log: log.Named("intake"),
		Inflight: inflight, Inspector: insp, NoCallback: noCallback(cfg), Accounts: set,
	}), nil
}

// noCallback is why the intake refuses a request's callback, or "" when it takes one.
// Without a webhook secret no event is sent, so a callback would wait for nothing.
func noCallback(cfg *config.Config) string {
	if cfg.Webhook.SigningKey != "" {
		return ""
	}
	return "this worker has no WEBHOOK_SECRET, so no webhook event would be sent: set WEBHOOK_SECRET (or WEBHOOK_SECRET_FILE) on the workers, or leave callback out"
}

// serve listens on HTTP_ADDR, runs the worker until ctx is done, then shuts the server down.
func serve(ctx context.Context, cfg *config.Config, srv http.Handler, w *worker.Lanes, log *zap.Logger, apiURL string) error {
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return &usageError{fmt.Errorf("HTTP_ADDR=%s cannot be listened on: if another program (or worker) uses it, stop that one "+
			"or set HTTP_ADDR to a free port, e.g. HTTP_ADDR=127.0.0.1:8081 (%w)", cfg.HTTP.Addr, err)}
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Serve(ln) }()
	log.Info("http server listening", zap.String("addr", ln.Addr().String()),
		zap.String("ui", "http://"+ln.Addr().String()+httpserver.UIPath), zap.Bool("ui_readonly", cfg.HTTP.UIReadOnly))
	log.Info("worker starting", startupFields(cfg, apiURL, ln.Addr().String(), laneQueues(w))...)

	runErr := w.Run(ctx)

	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutCtx)
	if err := <-httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http server", zap.Error(err))
	}
	return runErr
}

// startupFields is what the start-up line says: the version, where invalidations go (the API URL,
// never the key; the sandbox and its faults), where Redis is, every lane's queues, the intake, the
// UI and /status.
func startupFields(cfg *config.Config, apiURL, addr string, queues []string) []zap.Field {
	h := cfg.HTTP
	var scoped, scopedEvents int
	if set, err := cfg.Accounts(); err == nil {
		scoped, scopedEvents = len(set.Tokens()), len(eventScopes(set))
	}
	intakeState := "off (INTAKE_TOKEN is empty)"
	if h.IntakeToken != "" || scoped > 0 {
		intakeState = "on at http://" + addr + "/v1/invalidations"
	}
	eventsState := "off (EVENTS_TOKEN is empty)"
	if h.EventsToken != "" || scopedEvents > 0 {
		eventsState = "on at http://" + addr + events.PathS3 + " and " + events.PathCloudEvents
	}
	flushState := "off (INTAKE_FLUSH_TOKEN is empty)"
	if h.IntakeFlush != "" {
		flushState = "on at http://" + addr + "/v1/invalidations/all"
	}
	hooks := "off (WEBHOOK_SECRET is empty: no event is sent)"
	if cfg.Webhook.SigningKey != "" {
		hooks = "on, default receiver " + webhook.Redact(cfg.Webhook.DefaultURL)
		if cfg.Webhook.DefaultURL == "" {
			hooks = "on, for requests that name a callback (WEBHOOK_URL is empty)"
		}
	}
	ui := "read-only"
	if !h.UIReadOnly {
		ui = "read-write (UI_READONLY=false)"
	}
	if h.UIPassword != "" {
		ui += ", basic auth as " + h.UIUser
	} else {
		ui += ", no password (loopback only)"
	}
	fields := []zap.Field{
		zap.String("version", defaults.Version),
		zap.String("api_url", apiURL),
		zap.Bool("sandbox", cfg.Cloudimage.Sandbox),
	}
	if cfg.Cloudimage.SandboxFault != "" {
		fields = append(fields, zap.String("sandbox_faults", cfg.Cloudimage.SandboxFault))
	}
	if set, err := cfg.Accounts(); err == nil && cfg.Several() {
		fields = append(fields, zap.Strings("accounts", set.Names()))
	}
	return append(fields,
		zap.String("redis", cfg.Where()),
		zap.Strings("queues", queues),
		zap.String("intake", intakeState),
		zap.String("flush_all_over_http", flushState),
		zap.String("events", eventsState),
		zap.String("webhooks", hooks),
		zap.String("ui", "http://"+addr+httpserver.UIPath+" ("+ui+")"),
		zap.String("status_page", "http://"+addr+"/status"),
	)
}

// newEvents returns the storage event receivers: on with EVENTS_TOKEN or a scoped token of
// ACCOUNTS_FILE that may post events, else the handler that says how to turn them on.
func newEvents(cfg *config.Config, rdb redis.UniversalClient, reg prometheus.Registerer, log *zap.Logger, inflight *httpapi.Gate) (http.Handler, error) {
	h := cfg.HTTP
	set, err := cfg.Accounts()
	if err != nil {
		return nil, err
	}
	scoped := eventScopes(set)
	if h.EventsToken == "" && len(scoped) == 0 {
		return events.Disabled(), nil
	}
	buckets, err := events.ParseBuckets(h.EventsBuckets)
	if err != nil {
		return nil, err
	}
	norm, err := normalizer(cfg)
	if err != nil {
		return nil, fmt.Errorf("EVENTS_TOKEN is set, so the worker normalises URLs: %w", err)
	}
	client, err := newClient(cfg, rdb, norm)
	if err != nil {
		return nil, err
	}
	return events.New(events.Options{
		Producer: client, Token: h.EventsToken, Buckets: buckets, Account: set.BucketAccount, MaxBytes: h.EventsMaxBytes,
		Scoped: scoped, Route: func(u string) (string, error) {
			a, err := set.Route(u, "")
			if err != nil {
				return "", err
			}
			return a.Name, nil
		},
		Log: log.Named("events"), Metrics: events.NewMetrics(reg), SNSTopics: h.EventsSNSTopics, Inflight: inflight,
	}), nil
}

// eventScopes are the scoped tokens of set that may post storage events.
func eventScopes(set *accounts.Set) []events.Scope {
	var out []events.Scope
	for _, t := range set.Tokens() {
		if t.Can(accounts.MayEvents) {
			out = append(out, events.Scope{Name: t.Name, Token: t.Value.Reveal(), Accounts: t.Accounts})
		}
	}
	return out
}

// newClient is the Go client the intake and the event receivers write through.
// With several accounts it writes for every account of ACCOUNTS_FILE, routing each URL; opts'
// WithFlushAll is then left out, since each account's flush-all is confirmed with its own token.
// With one it writes for that account, normalising with norm.
func newClient(cfg *config.Config, rdb redis.UniversalClient, norm *normalize.Normalizer, opts ...cipurge.ClientOption) (*cipurge.Client, error) {
	set, err := cfg.Accounts()
	if err != nil {
		return nil, err
	}
	base := []cipurge.ClientOption{cipurge.WithMaxRetry(cfg.Purge.MaxRetry), cipurge.WithBatchSize(cfg.Purge.BatchSize),
		cipurge.WithReplicaWait(cfg.Replicas().N, cfg.Replicas().Timeout)}
	if cfg.Several() {
		accts, err := fileAccounts(cfg)
		if err != nil {
			return nil, err
		}
		return cipurge.NewClient(rdb, nil, append(base, cipurge.WithAccounts(accts))...)
	}
	opts = append(append(base, cipurge.WithAccountName(set.All()[0].Name)), opts...)
	return cipurge.NewClient(rdb, norm, opts...)
}

// fileAccounts is ACCOUNTS_FILE for the Go API, read again: config checked it at start.
func fileAccounts(cfg *config.Config) (*cipurge.Accounts, error) {
	accts, err := cipurge.LoadAccounts(cfg.Cloudimage.AccountsFile)
	if err != nil {
		return nil, fmt.Errorf("ACCOUNTS_FILE=%s:\n%w", cfg.Cloudimage.AccountsFile, err)
	}
	return accts, nil
}

// newInspector is the reader of requests and URL histories for the intake and /status: every
// account's, with several.
func newInspector(cfg *config.Config, rdb redis.UniversalClient, norm *normalize.Normalizer) (*cipurge.Inspector, error) {
	if !cfg.Several() {
		return cipurge.NewInspector(rdb, norm)
	}
	accts, err := fileAccounts(cfg)
	if err != nil {
		return nil, err
	}
	return cipurge.NewInspector(rdb, nil, cipurge.InspectAccounts(accts))
}

// normalizer is the deployment's one normaliser, or nil with several accounts: each has its own,
// and the Go client routes each URL to it.
func normalizer(cfg *config.Config) (*normalize.Normalizer, error) {
	if cfg.Several() {
		return nil, nil
	}
	return cfg.Normalizer()
}

// laneQueues lists the queues of every lane, each lane's highest priority first.
func laneQueues(l *worker.Lanes) []string {
	var out []string
	for _, a := range laneAccounts(l) {
		out = append(out, tasks.QueuesOf(a).Names()...)
	}
	return out
}

// laneAccounts names the account of every lane: default for the one lane of today's keys.
func laneAccounts(l *worker.Lanes) []string {
	var out []string
	for _, w := range l.Workers() {
		out = append(out, tasks.QueuesOf(w.Config().Account).Account)
	}
	return out
}

// laneFlag returns f of the lane of an account, named as laneAccounts names it; false for an
// account with no lane here.
func laneFlag(l *worker.Lanes, f func(*worker.Worker) bool) func(account string) bool {
	return func(account string) bool {
		for _, w := range l.Workers() {
			if tasks.QueuesOf(w.Config().Account).Account == account {
				return f(w)
			}
		}
		return false
	}
}

// apiFor returns the Cloudimage client of an account: its own key, or the sandbox's.
type apiFor func(a *accounts.Account) (*apiclient.Client, error)

// newAPI returns the Cloudimage client of each account and the base URL they send to: the real
// API with each account's key, or the built-in sandbox (with CLOUDIMAGE_SANDBOX_FAULTS applied),
// which every account shares.
func newAPI(cfg *config.Config, rdb redis.UniversalClient, log *zap.Logger) (apiFor, string, func(), error) {
	ci := cfg.Cloudimage
	client := func(key, base string) (*apiclient.Client, error) {
		return apiclient.New(key, apiclient.WithBaseURL(base), apiclient.WithLogger(log.Named("api")),
			apiclient.WithUserAgent("cipurge/"+defaults.Version))
	}
	if !ci.Sandbox {
		return func(a *accounts.Account) (*apiclient.Client, error) { return client(a.APIKey.Reveal(), ci.APIURL) }, ci.APIURL, func() {}, nil
	}
	faults, err := sandbox.ParseFaults(ci.SandboxFault)
	if err != nil {
		return nil, "", nil, fmt.Errorf("CLOUDIMAGE_SANDBOX_FAULTS: %v (worker --help shows the syntax)", err)
	}
	const sandboxKey = "sandbox"
	// The sandbox keeps what it accepted in the worker's Redis while status checks may ask, so that
	// a restart does not turn a sent URL into "unconfirmed".
	keep := store.New(rdb).SandboxRecords(cfg.Purge.ConfirmDelay + cfg.Purge.ConfirmMax + time.Hour)
	sb, base, stop, err := sandbox.Start(sandbox.Options{Key: sandboxKey, StatusDelay: 3 * time.Second, Logger: log.Named("sandbox"), Keeper: keep})
	if err != nil {
		return nil, "", nil, fmt.Errorf("start the sandbox API: %w", err)
	}
	sb.ApplyFaults(faults)
	fields := []zap.Field{zap.String("sandbox_url", base)}
	if d := faults.String(); d != "" {
		fields = append(fields, zap.String("faults", d))
	}
	log.Warn("CLOUDIMAGE_SANDBOX=true: every request goes to the built-in sandbox API; nothing leaves this machine and no CDN cache is invalidated",
		fields...)
	c, err := client(sandboxKey, base)
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	return func(*accounts.Account) (*apiclient.Client, error) { return c, nil }, base, stop, nil
}
