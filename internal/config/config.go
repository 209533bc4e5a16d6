// Package config reads the product's environment variables into one struct and validates them.
// Every error names the variable and says how to fix it.
//
// worker.Config.Validate is the one check of the worker's settings.
// config words its errors with the variables.
// The commands (internal/cli/*) turn a Config into the parts they wire together.
// Config builds only what every command needs first.
// That is the Redis client, the logger and the URL normaliser.
//
// The library code names no variable.
// This package maps its typed errors to the variables behind them, with Variable and Explain.
// So the commands print the variable and the fix.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/internal/worker"
)

// Redis is where the queues live.
type Redis struct {
	URL            string   `env:"REDIS_URL" secret:"true" help:"Redis; rediss:// for TLS, redis://:password@host:6379/0 for a password"`
	SentinelAddrs  []string `env:"REDIS_SENTINEL_ADDRS" envSeparator:"," help:"Sentinel: comma list of sentinels (user, password, db from REDIS_URL)"`
	SentinelMaster string   `env:"REDIS_SENTINEL_MASTER" help:"Sentinel: the master's name"`
	ClusterAddrs   []string `env:"REDIS_CLUSTER_ADDRS" envSeparator:"," help:"Redis Cluster: comma list of nodes"`
	TLSCAFile      string   `env:"REDIS_TLS_CA_FILE" help:"a CA (PEM) to verify a rediss:// server with"`
	// The replica wait: see Replicas.
	WaitReplicas int           `env:"REDIS_WAIT_REPLICAS" help:"replicas that must hold each write that acknowledges URLs before it counts (WAIT); 0: do not wait"`
	WaitTimeout  time.Duration `env:"REDIS_WAIT_TIMEOUT" help:"how long such a write waits for them; then it fails and says so"`
}

// Cloudimage is the API and the token's URL configuration.
type Cloudimage struct {
	APIURL       string   `env:"CLOUDIMAGE_API_URL" help:"the API's base URL (https://, or http:// on loopback only when a key is set)"`
	APIKey       string   `env:"CLOUDIMAGE_API_KEY" secret:"true" help:"the key from the Cloudimage console; never logged, never stored in Redis"`
	Sandbox      bool     `env:"CLOUDIMAGE_SANDBOX" help:"true: send to the built-in sandbox API (refused together with a key)"`
	SandboxFault string   `env:"CLOUDIMAGE_SANDBOX_FAULTS" help:"make the sandbox misbehave: reject=GLOB; 429=DURATION retry-after=SECS; 5xx=DURATION; fail-status=GLOB (syntax below)"`
	Token        string   `env:"CLOUDIMAGE_TOKEN" help:"your token; also what confirms a flush-all"`
	Hosts        []string `env:"CLOUDIMAGE_HOSTS" envSeparator:"," help:"comma list of custom CNAME hosts serving the token"`
	LegacyV7     bool     `env:"CLOUDIMAGE_LEGACY_V7" help:"true for tokens created before Nov 2021: keys carry /v7/"`
	OriginPrefix string   `env:"CLOUDIMAGE_ORIGIN_PREFIX" help:"the token's origin URL prefix; keys never include it"`
	Aliases      string   `env:"CLOUDIMAGE_ALIASES" help:"_name_=https://origin/base,...; keys use the alias"`
	AccountsFile string   `env:"ACCOUNTS_FILE" help:"a YAML file that declares the Cloudimage accounts in place of the CLOUDIMAGE_TOKEN, key, URL, rate and cooldown variables (docs/accounts.md); the worker runs a lane per account"`
}

// Purge is the pipeline's behaviour.
type Purge struct {
	Window       time.Duration `env:"PURGE_WINDOW" help:"every request waits this long, so that repeats collapse and requests share API calls"`
	MaxDelay     time.Duration `env:"PURGE_MAX_DELAY" help:"a partial batch waits at most this long for company"`
	BatchSize    int           `env:"PURGE_BATCH_SIZE" help:"URLs per API request (1-15; the API's cap is 15)"`
	Rate         float64       `env:"PURGE_RATE" help:"API requests per second, for all workers together (0 = no limit)"`
	Burst        int           `env:"PURGE_BURST" help:"requests allowed at once on top of the rate"`
	MaxRetry     int           `env:"PURGE_MAX_RETRY" help:"failed attempts retried before a request is dead-lettered (0: none)"`
	Concurrency  int           `env:"PURGE_CONCURRENCY" help:"tasks one worker runs at once"`
	AllCooldown  time.Duration `env:"PURGE_ALL_COOLDOWN" help:"minimum time between two flush-alls (0: none)"`
	HistoryTTL   time.Duration `env:"PURGE_HISTORY_TTL" help:"how long per-URL history (enqueue status URL) is kept"`
	Confirm      bool          `env:"PURGE_CONFIRM" help:"follow each accepted request until Cloudimage says DONE or ERROR"`
	ConfirmDelay time.Duration `env:"PURGE_CONFIRM_DELAY" help:"first status check after a request is accepted"`
	ConfirmRate  float64       `env:"PURGE_CONFIRM_RATE" help:"status checks per second, for all workers together, a budget of their own (0 = the same as PURGE_RATE)"`
	PrefixRate   float64       `env:"PURGE_PREFIX_RATE" help:"folder (prefix) requests per second, for all workers together, a budget of their own that never takes the URL rate (0 = no limit)"`
	Shutdown     time.Duration `env:"PURGE_SHUTDOWN_TIMEOUT" help:"on SIGTERM, running requests get this long before they go back to the queue"`
	RetryBase    time.Duration `env:"PURGE_RETRY_BASE" help:"first retry delay after a failure, doubled per failure"`
	BackoffBase  time.Duration `env:"PURGE_BACKOFF_BASE" help:"the fleet-wide pause after an outage or a 429 without Retry-After"`
	BackoffMax   time.Duration `env:"PURGE_BACKOFF_MAX" help:"the longest fleet-wide pause after a 429 without Retry-After; after an outage one request probes every 5 s (or this, if shorter)"`
	AuthProbe    time.Duration `env:"PURGE_AUTH_PROBE" help:"after a 401/403, how often one request tries the key again"`
	ConfirmMax   time.Duration `env:"PURGE_CONFIRM_TIMEOUT" help:"stop following a request after this long (marked unconfirmed)"`
	MaxResends   int           `env:"PURGE_MAX_RESENDS" help:"times URLs Cloudimage failed are sent again before they are dead-lettered (0: never)"`
}

// Log is the logger's configuration.
type Log struct {
	Level  string `env:"LOG_LEVEL" help:"debug, info, warn or error"`
	Format string `env:"LOG_FORMAT" help:"json or console"`
}

// HTTP is the worker's HTTP server: asynqmon, metrics, health and the intake API.
type HTTP struct {
	Addr              string   `env:"HTTP_ADDR" help:"the worker's HTTP server (UI, status, metrics, health, intake)"`
	UIReadOnly        bool     `env:"UI_READONLY" help:"false lets the UI delete, run and archive tasks"`
	UIUser            string   `env:"UI_USER" help:"basic auth user of the UI, /status and their APIs"`
	UIPassword        string   `env:"UI_PASSWORD" secret:"true" help:"basic auth password; required when HTTP_ADDR is not loopback"`
	IntakeToken       string   `env:"INTAKE_TOKEN" secret:"true" help:"turns on the HTTP intake API (Authorization: Bearer <token>)"`
	IntakeFlush       string   `env:"INTAKE_FLUSH_TOKEN" secret:"true" help:"turns on POST /v1/invalidations/all (flush-all over HTTP) with its own bearer token"`
	IntakeMaxBytes    int64    `env:"INTAKE_MAX_BYTES" help:"intake request body limit"`
	IntakeMaxURLs     int      `env:"INTAKE_MAX_URLS" help:"intake URLs per request limit"`
	EventsToken       string   `env:"EVENTS_TOKEN" secret:"true" help:"turns on the storage event receivers /v1/events/s3 and /v1/events/cloudevents (docs/events.md)"`
	EventsBuckets     string   `env:"EVENTS_BUCKETS" help:"bucket[/key/prefix/]=https://public/base/,... : where Cloudimage fetches each bucket's objects"`
	EventsMaxBytes    int64    `env:"EVENTS_MAX_BYTES" help:"event delivery body limit"`
	IntakeMaxInflight int      `env:"INTAKE_MAX_INFLIGHT" help:"request bodies the intake and the event receivers read at once; beyond it 503 with Retry-After"`
	EventsSNSTopics   []string `env:"EVENTS_SNS_TOPICS" envSeparator:"," help:"comma list of SNS topic ARNs whose messages are accepted (unset: every topic)"`
}

// Webhook is the events of requests that the workers post, signed.
// Its field names differ from every other section's: explain finds a variable by field name.
type Webhook struct {
	DefaultURL   string `env:"WEBHOOK_URL" help:"the default callback: where the workers post the events of a request that names none (https, or http on loopback)"`
	SigningKey   string `env:"WEBHOOK_SECRET" secret:"true" help:"signs every webhook delivery (Standard Webhooks): whsec_ and base64 of 24 to 64 random bytes; without it no event is sent"`
	AllowPrivate bool   `env:"WEBHOOK_ALLOW_PRIVATE" help:"true: deliveries may go to private addresses, a receiver inside your network (loopback is always allowed)"`
	Slots        int    `env:"WEBHOOK_CONCURRENCY" help:"webhook deliveries one worker runs at once, beside the invalidations"`
}

// Config is every variable the commands read.
type Config struct {
	Redis      Redis
	Cloudimage Cloudimage
	Purge      Purge
	Log        Log
	HTTP       HTTP
	Webhook    Webhook

	set *accounts.Set // the accounts of ACCOUNTS_FILE; nil without it
}

// Default is the configuration with no variable set: every default, each written once (the
// pipeline's in internal/defaults, shared with the packages that apply them).
func Default() Config {
	return Config{
		Redis:      Redis{URL: "redis://127.0.0.1:6379/0", WaitTimeout: time.Second},
		Cloudimage: Cloudimage{APIURL: "https://api.cloudimage.com"},
		Purge: Purge{
			Window: defaults.Window, MaxDelay: defaults.MaxDelay, BatchSize: defaults.BatchSize,
			Rate: defaults.Rate, Burst: defaults.Burst, MaxRetry: defaults.MaxRetry, Concurrency: defaults.Concurrency,
			AllCooldown: defaults.AllCooldown, HistoryTTL: defaults.HistoryTTL,
			Confirm: defaults.Confirm, ConfirmDelay: defaults.ConfirmDelay, ConfirmRate: defaults.ConfirmRate,
			Shutdown: defaults.ShutdownTimeout, RetryBase: defaults.RetryBase, PrefixRate: defaults.PrefixRate,
			BackoffBase: defaults.BackoffBase, BackoffMax: defaults.BackoffMax, AuthProbe: defaults.AuthProbe,
			ConfirmMax: defaults.ConfirmTimeout, MaxResends: defaults.MaxResends,
		},
		Log: Log{Level: "info", Format: "json"},
		HTTP: HTTP{
			Addr: "127.0.0.1:8080", UIReadOnly: true, UIUser: "admin",
			IntakeMaxBytes: defaults.IntakeMaxBytes, IntakeMaxURLs: defaults.IntakeMaxURLs, EventsMaxBytes: defaults.EventsMaxBytes,
			IntakeMaxInflight: defaults.IntakeMaxInflight,
		},
		Webhook: Webhook{Slots: webhook.DefaultConcurrency},
	}
}

// Load reads the configuration from environ (os.Environ's "KEY=value" form) and validates what
// both commands need. Errors name the variable and the fix.
func Load(environ []string) (*Config, error) {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	if err := readSecretFiles(m); err != nil {
		return nil, err
	}
	c := Default() // a variable that is not set keeps its default
	if err := env.ParseWithOptions(&c, env.Options{Environment: m}); err != nil {
		return nil, explain(err, reflect.TypeOf(c))
	}
	if err := c.loadAccounts(m); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// validate refuses what the commands cannot run with.
// The worker's settings are worker.Config.Validate's to judge.
func (c *Config) validate() error {
	errs := c.workerErrors()
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL=%q is not a level: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		bad("LOG_FORMAT=%q is not a format: use json or console", c.Log.Format)
	}
	r := c.Redis
	if len(r.SentinelAddrs) > 0 && r.SentinelMaster == "" {
		bad("REDIS_SENTINEL_ADDRS is set but REDIS_SENTINEL_MASTER is empty: set it to the master's name, e.g. mymaster")
	}
	if len(r.SentinelAddrs) > 0 && len(r.ClusterAddrs) > 0 {
		bad("REDIS_SENTINEL_ADDRS and REDIS_CLUSTER_ADDRS are both set: use one")
	}
	if r.WaitReplicas < 0 {
		bad("REDIS_WAIT_REPLICAS=%d is negative: use the number of replicas each write must reach, e.g. 1, or 0 not to wait", r.WaitReplicas)
	}
	if r.WaitTimeout <= 0 || r.WaitTimeout >= redisTimeout {
		bad("REDIS_WAIT_TIMEOUT=%s is out of range: use more than 0 and less than %s, the Redis read timeout, e.g. 1s", r.WaitTimeout, redisTimeout)
	}
	if c.HTTP.IntakeFlush != "" && c.HTTP.IntakeFlush == c.HTTP.IntakeToken {
		bad("INTAKE_FLUSH_TOKEN is the same as INTAKE_TOKEN: give flush-all its own secret, so that a producer's token cannot flush every cached image")
	}
	if c.HTTP.IntakeMaxBytes < 1024 {
		bad("INTAKE_MAX_BYTES=%d is too small: use at least 1024", c.HTTP.IntakeMaxBytes)
	}
	if c.HTTP.EventsMaxBytes < 1024 {
		bad("EVENTS_MAX_BYTES=%d is too small: use at least 1024", c.HTTP.EventsMaxBytes)
	}
	if c.HTTP.EventsToken != "" && strings.TrimSpace(c.HTTP.EventsBuckets) == "" {
		bad("EVENTS_TOKEN is set but EVENTS_BUCKETS is empty: map each bucket to the public base URL Cloudimage fetches it from, " +
			"e.g. EVENTS_BUCKETS=media=https://storage.example.com/media/ (see docs/events.md)")
	}
	for _, t := range c.HTTP.EventsSNSTopics {
		if !strings.HasPrefix(t, "arn:") || !strings.Contains(t, ":sns:") {
			bad("EVENTS_SNS_TOPICS holds %q, which is not an SNS topic ARN: use arn:aws:sns:<region>:<account>:<topic>, comma-separated", t)
		}
	}
	if c.HTTP.IntakeMaxInflight < 1 {
		bad("INTAKE_MAX_INFLIGHT=%d is out of range: use 1 or more", c.HTTP.IntakeMaxInflight)
	}
	if c.HTTP.IntakeMaxURLs < 1 {
		bad("INTAKE_MAX_URLS=%d is out of range: use 1 or more", c.HTTP.IntakeMaxURLs)
	}
	return errors.Join(append(errs, c.webhookErrors()...)...)
}

// webhookErrors checks the webhook settings with the rules of package webhook.
// A default callback needs a secret: receivers could not tell its events from forgeries.
func (c *Config) webhookErrors() []error {
	var errs []error
	wh := c.Webhook
	if wh.SigningKey != "" {
		if _, err := webhook.ParseSecret(wh.SigningKey); err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOK_SECRET: %w", err))
		}
	}
	if wh.DefaultURL == "" {
		return errs
	}
	if err := webhook.CheckTarget(wh.DefaultURL); err != nil {
		errs = append(errs, fmt.Errorf("WEBHOOK_URL: %w", err))
	} else if wh.SigningKey == "" {
		errs = append(errs, errors.New("WEBHOOK_URL is set but WEBHOOK_SECRET is empty: every delivery is signed, so set WEBHOOK_SECRET "+
			"(or WEBHOOK_SECRET_FILE) to whsec_ followed by base64 of 32 random bytes, e.g. whsec_$(openssl rand -base64 32), and give it to the receiver"))
	}
	return errs
}

// Worker is the worker's configuration from the environment's: the one place where a variable
// becomes a worker setting.
func (c *Config) Worker() worker.Config {
	p := c.Purge
	return worker.Config{
		Token: c.Cloudimage.Token, Window: p.Window, MaxDelay: p.MaxDelay, BatchSize: p.BatchSize,
		Limit: store.Limit{Rate: p.Rate, Burst: p.Burst}, ConfirmLimit: store.Limit{Rate: p.ConfirmRate, Burst: p.Burst},
		PrefixLimit: store.Limit{Rate: p.PrefixRate, Burst: 1}, MaxRetry: p.MaxRetry, Concurrency: p.Concurrency,
		AllCooldown: p.AllCooldown, HistoryTTL: p.HistoryTTL, Confirm: p.Confirm, ConfirmDelay: p.ConfirmDelay,
		ShutdownTimeout: p.Shutdown, RetryBase: p.RetryBase, BackoffBase: p.BackoffBase, BackoffMax: p.BackoffMax,
		AuthProbe: p.AuthProbe, ConfirmTimeout: p.ConfirmMax, MaxResends: p.MaxResends,
		Webhook:  webhook.Config{URL: c.Webhook.DefaultURL, Secret: c.Webhook.SigningKey, AllowPrivate: c.Webhook.AllowPrivate, Concurrency: c.Webhook.Slots},
		Replicas: c.Replicas(),
	}
}

// Replicas is the replica wait of REDIS_WAIT_REPLICAS and REDIS_WAIT_TIMEOUT; the zero value when
// it is off, as a worker configured in Go has it.
func (c *Config) Replicas() store.Replicas {
	if c.Redis.WaitReplicas == 0 {
		return store.Replicas{}
	}
	return store.Replicas{N: c.Redis.WaitReplicas, Timeout: c.Redis.WaitTimeout}
}

// workerVars names the variable behind each worker.Config field that Worker sets from one.
var workerVars = map[string]string{
	"Window": "PURGE_WINDOW", "MaxDelay": "PURGE_MAX_DELAY", "BatchSize": "PURGE_BATCH_SIZE",
	"Limit.Rate": "PURGE_RATE", "Limit.Burst": "PURGE_BURST", "ConfirmLimit.Rate": "PURGE_CONFIRM_RATE",
	"ConfirmLimit.Burst": "PURGE_BURST", "PrefixLimit.Rate": "PURGE_PREFIX_RATE", "MaxRetry": "PURGE_MAX_RETRY",
	"Concurrency": "PURGE_CONCURRENCY", "AllCooldown": "PURGE_ALL_COOLDOWN", "HistoryTTL": "PURGE_HISTORY_TTL",
	"ConfirmDelay": "PURGE_CONFIRM_DELAY", "ShutdownTimeout": "PURGE_SHUTDOWN_TIMEOUT", "RetryBase": "PURGE_RETRY_BASE",
	"BackoffBase": "PURGE_BACKOFF_BASE", "BackoffMax": "PURGE_BACKOFF_MAX", "AuthProbe": "PURGE_AUTH_PROBE",
	"ConfirmTimeout": "PURGE_CONFIRM_TIMEOUT", "MaxResends": "PURGE_MAX_RESENDS", "Webhook.Concurrency": "WEBHOOK_CONCURRENCY",
}

// workerErrors checks the worker's settings with worker.Config.Validate.
// It words each problem with the variable's name, its default and the fix.
// Two fields read from one variable give one message.
func (c *Config) workerErrors() []error {
	err := c.Worker().Validate()
	if err == nil {
		return nil
	}
	defs := map[string]string{}
	for _, v := range Variables() {
		defs[v.Name] = v.Default
	}
	name := func(field string, v any) string {
		if env, ok := workerVars[field]; ok {
			return fmt.Sprintf("%s=%v", env, v)
		}
		return fmt.Sprintf("%s %v", field, v)
	}
	var out []error
	said := map[string]bool{}
	for _, e := range joined(err) {
		var se *worker.SettingError
		if !errors.As(e, &se) {
			out = append(out, e)
			continue
		}
		msg := se.Say(name)
		if d, ok := defs[workerVars[se.Setting]]; ok {
			msg += " (default " + d + ")"
		}
		if !said[msg] {
			said[msg] = true
			out = append(out, errors.New(msg))
		}
	}
	return out
}

// joined returns the errors joined in err, or err alone.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// ValidateAPI checks what a worker needs to send: a key, or the sandbox; and that the key never
// travels in clear text (CLOUDIMAGE_API_URL is https://, or http:// on a loopback address).
// With ACCOUNTS_FILE each account is checked: an error names the account and the field.
func (c *Config) ValidateAPI() error {
	ci := c.Cloudimage
	keyed := ci.APIKey != ""
	if c.set != nil {
		var errs []error
		for _, a := range c.set.All() {
			switch key := a.APIKey.Reveal() != ""; {
			case ci.Sandbox && key:
				errs = append(errs, fmt.Errorf("CLOUDIMAGE_SANDBOX=true and ACCOUNTS_FILE's account %q has an api_key: remove the key from the file to use the sandbox, or unset CLOUDIMAGE_SANDBOX to use the real API", a.Name))
			case !ci.Sandbox && !key:
				errs = append(errs, fmt.Errorf("ACCOUNTS_FILE's account %q has no api_key: set api_key_file (or api_key) to the key from the Cloudimage console, or set CLOUDIMAGE_SANDBOX=true to try the product against the built-in sandbox API", a.Name))
			case key:
				keyed = true
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
	}
	if keyed {
		u, err := url.Parse(ci.APIURL)
		switch {
		case err != nil || u.Host == "":
			return fmt.Errorf("CLOUDIMAGE_API_URL=%q is not a URL: use https://api.cloudimage.com (the default)", ci.APIURL)
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		case u.Scheme == "http":
			return fmt.Errorf("CLOUDIMAGE_API_URL=%s is plain http:// on a host that is not loopback: the API key would travel in clear text. Use https:// (http:// is accepted on 127.0.0.1, ::1 and localhost only)", ci.APIURL)
		default:
			return fmt.Errorf("CLOUDIMAGE_API_URL=%s: use an https:// URL, e.g. https://api.cloudimage.com (the default)", ci.APIURL)
		}
	}
	switch {
	case ci.SandboxFault != "" && !ci.Sandbox:
		return errors.New("CLOUDIMAGE_SANDBOX_FAULTS is set but CLOUDIMAGE_SANDBOX is not true: the faults apply to the built-in sandbox API only; unset it, or set CLOUDIMAGE_SANDBOX=true")
	case c.set != nil:
	case ci.Sandbox && ci.APIKey != "":
		return errors.New("CLOUDIMAGE_SANDBOX=true and CLOUDIMAGE_API_KEY are both set: unset CLOUDIMAGE_API_KEY to use the sandbox, or CLOUDIMAGE_SANDBOX to use the real API")
	case !ci.Sandbox && ci.APIKey == "":
		return errors.New("CLOUDIMAGE_API_KEY is empty: set it to the key from the Cloudimage console (Invalidation), or set CLOUDIMAGE_SANDBOX=true to try the product against the built-in sandbox API, which sends nothing anywhere")
	}
	return nil
}

// explain rewrites caarlos0/env errors so that they name the variable, not the Go field.
func explain(err error, t reflect.Type) error {
	vars := map[string]string{}
	envFields(reflect.New(t).Elem(), func(f reflect.StructField, _ reflect.Value, name string) { vars[f.Name] = name })
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var out []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := vars[pe.Name]
			hint := "not valid"
			switch pe.Type.Kind() {
			case reflect.Int64:
				if pe.Type == reflect.TypeOf(time.Duration(0)) {
					hint = "not a duration: use one like 500ms, 2s, 1h"
				} else {
					hint = "not a whole number: use one, e.g. 10"
				}
			case reflect.Int:
				hint = "not a whole number: use one, e.g. 10"
			case reflect.Float64:
				hint = "not a number: use one, e.g. 10 or 2.5"
			case reflect.Bool:
				hint = "not true or false: use one of them"
			}
			// The setting and the fix first; the parser's words last, for the detail.
			out = append(out, fmt.Errorf("%s: %s (the parser said: %v)", name, hint, unquoteCause(pe.Err)))
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// unquoteCause shortens strconv's "strconv.ParseInt: parsing "x": invalid syntax" to its point.
func unquoteCause(err error) string {
	s := err.Error()
	if i := strings.Index(s, "parsing "); i >= 0 {
		s = s[i:]
	}
	return s
}

// isLoopbackHost reports whether host (no port) is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FileSuffix names the twin of a secret setting that reads its value from a file (Docker and
// Kubernetes secrets): CLOUDIMAGE_API_KEY_FILE=/run/secrets/cloudimage_api_key.
const FileSuffix = "_FILE"

// readSecretFiles replaces each secret setting's NAME_FILE twin (every field tagged secret:"true")
// by the file's content in m, without its final line break. An empty file is an empty value, as an
// empty variable is (compose mounts a file for every secret, used or not). A setting and its twin
// together and an unreadable file are errors that name the variable.
func readSecretFiles(m map[string]string) error {
	var errs []error
	for _, v := range Variables() {
		if !v.Secret {
			continue
		}
		path, ok := m[v.Name+FileSuffix]
		if !ok || path == "" {
			continue
		}
		if m[v.Name] != "" {
			errs = append(errs, fmt.Errorf("%s and %s%s are both set: use one", v.Name, v.Name, FileSuffix))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %v: point it at a readable file holding the value of %s", v.Name, FileSuffix, err, v.Name))
			continue
		}
		m[v.Name] = strings.TrimRight(string(b), "\r\n")
	}
	return errors.Join(errs...)
}

// Var is one environment variable the commands read.
type Var struct {
	Name    string
	Default string
	Help    string
	Secret  bool // never printed; NAME_FILE reads it from a file
}

// Variables returns every variable of Config, in the struct's order, with its default and help.
func Variables() []Var {
	var out []Var
	envFields(reflect.ValueOf(Default()), func(f reflect.StructField, v reflect.Value, name string) {
		out = append(out, Var{Name: name, Default: formatDefault(v), Help: f.Tag.Get("help"), Secret: f.Tag.Get("secret") == "true"})
	})
	return out
}

// envFields calls fn for every field of the struct v (nested structs included) that has an env
// tag, with the field's value.
func envFields(v reflect.Value, fn func(f reflect.StructField, v reflect.Value, name string)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
			envFields(v.Field(i), fn)
			continue
		}
		if name := f.Tag.Get("env"); name != "" {
			fn(f, v.Field(i), name)
		}
	}
}

// formatDefault writes a default as a user would set it: 2s, 60s, 1h, 168h; true; 10; a list with commas.
func formatDefault(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		switch {
		case x != 0 && x%time.Hour == 0:
			return fmt.Sprintf("%dh", x/time.Hour)
		case x != 0 && x%time.Second == 0:
			return fmt.Sprintf("%ds", x/time.Second)
		}
		return x.String()
	case []string:
		return strings.Join(x, ",")
	default:
		return fmt.Sprint(x)
	}
}

// Usage writes every variable with its default and meaning, for --help.
func Usage(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, v := range Variables() {
		help := v.Help
		if v.Secret {
			help += " (or " + v.Name + FileSuffix + ": read from a file)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, v.Default, help)
	}
	tw.Flush()
}
