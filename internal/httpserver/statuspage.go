package httpserver

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/figures"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// StatusPath is the product's own status page: what waits, what was sent, what failed, the
// recent requests, and one URL's history or one request's progress. HTML, or JSON with Accept:
// application/json. ?url=U looks a URL up; ?request=ID looks a request up.
const StatusPath = "/status"

// statusDeadLetters is how many of the last dead letters the page lists.
const statusDeadLetters = 10

// StatusRecentRequests is how many of the newest requests the page lists.
const StatusRecentRequests = 20

// Requests reads the requests producers made, for /status. A *cipurge.Inspector is one.
type Requests interface {
	Request(ctx context.Context, id string) (*cipurge.RequestStatus, error)
	RecentRequests(ctx context.Context, n int) ([]*cipurge.RequestStatus, error)
}

// noNormaliser is what the page says when the worker could not build its URL normaliser.
const noNormaliser = " need the URL normalisation settings (CLOUDIMAGE_TOKEN ...), which did not load"

// Lookup returns what is known of one URL, in any form (inspect.LookupURL).
type Lookup func(ctx context.Context, raw string) (*inspect.History, error)

// StatusAccount is an account /status shows: its name, and the name of its keys and queues
// (accounts.Set.KeyName).
type StatusAccount struct{ Name, Keys string }

// statusPage is GET /status.
type statusPage struct {
	reader   *status.Reader
	lookup   Lookup
	requests Requests
	fallback status.Options
	log      *zap.Logger
	accounts []StatusAccount // with several accounts: each, in declared order; nil for one
}

// statusView is what the page shows, and the JSON answer.
type statusView struct {
	Status      *status.Snapshot `json:"status"`
	URL         string           `json:"url,omitempty"`
	Lookup      *inspect.History `json:"lookup,omitempty"`
	LookupError string           `json:"lookup_error,omitempty"`
	// RecentRequests are the newest requests, newest first, with their counts.
	RecentRequests      []*cipurge.RequestStatus `json:"recent_requests"`
	RecentRequestsError string                   `json:"recent_requests_error,omitempty"`
	RequestID           string                   `json:"request_id,omitempty"` // ?request=: the request asked for
	Request             *cipurge.RequestStatus   `json:"request,omitempty"`
	RequestError        string                   `json:"request_error,omitempty"`
	// Accounts are every account's snapshot, without dead letters, when the worker sends for
	// several and the page shows them all (no ?account=). Status is then the first account's.
	Accounts []*status.Snapshot `json:"accounts,omitempty"`
}

func (p *statusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	o := p.fallback
	o.DeadLetters = statusDeadLetters
	acct, all, known := p.account(r.URL.Query().Get("account"))
	if !known {
		http.Error(w, fmt.Sprintf("no account is named %q: use one of %s", r.URL.Query().Get("account"), strings.Join(p.names(), ", ")), http.StatusNotFound)
		return
	}
	snap, err := p.read(ctx, acct, o)
	var others []*status.Snapshot
	for _, a := range all {
		if err == nil {
			var one *status.Snapshot
			one, err = p.read(ctx, a, p.fallback)
			others = append(others, one)
		}
	}
	if err != nil {
		p.log.Warn("status page: reading Redis failed", zap.Error(err))
		http.Error(w, "cannot read the status from Redis: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	v := statusView{Status: snap, URL: strings.TrimSpace(r.URL.Query().Get("url")), Accounts: others}
	if v.URL != "" {
		if p.lookup == nil {
			v.LookupError = "lookups" + noNormaliser
		} else if h, err := p.lookup(ctx, v.URL); err != nil {
			v.LookupError = err.Error()
		} else {
			v.Lookup = h
		}
	}
	if err := p.addRequests(ctx, &v, strings.TrimSpace(r.URL.Query().Get("request"))); err != nil {
		p.log.Warn("status page: reading the requests failed", zap.Error(err))
		http.Error(w, "cannot read the requests from Redis: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, v)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := statusTemplate.Execute(w, v); err != nil {
		p.log.Debug("status page", zap.Error(err))
	}
}

// account returns the account ?account=name asks for, and every account when the page shows
// them all: with several accounts and no name. known is false for a name of no account.
// With one account the name may be its own, default, or none.
func (p *statusPage) account(name string) (one StatusAccount, all []StatusAccount, known bool) {
	if len(p.accounts) == 0 {
		return StatusAccount{}, nil, name == "" || name == tasks.DefaultAccount
	}
	if name == "" {
		return p.accounts[0], p.accounts, true
	}
	for _, a := range p.accounts {
		if a.Name == name {
			return a, nil, true
		}
	}
	return StatusAccount{}, nil, false
}

// names lists the accounts the page may show.
func (p *statusPage) names() []string {
	if len(p.accounts) == 0 {
		return []string{tasks.DefaultAccount}
	}
	out := make([]string, len(p.accounts))
	for i, a := range p.accounts {
		out[i] = a.Name
	}
	return out
}

// read reads the snapshot of account a (the zero value: the one account of the deployment).
func (p *statusPage) read(ctx context.Context, a StatusAccount, o status.Options) (*status.Snapshot, error) {
	if a.Name == "" {
		return p.reader.Read(ctx, o)
	}
	snap, err := p.reader.For(a.Keys).Read(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a.Name, err)
	}
	snap.Account = a.Name
	return snap, nil
}

// addRequests adds the recent requests to v, and request id when not "". A request that does
// not exist is said in v; a failed read of Redis is the error.
func (p *statusPage) addRequests(ctx context.Context, v *statusView, id string) error {
	v.RequestID = id
	if p.requests == nil {
		v.RecentRequestsError = "requests" + noNormaliser
		if id != "" {
			v.RequestError = v.RecentRequestsError
		}
		return nil
	}
	recent, err := p.requests.RecentRequests(ctx, StatusRecentRequests)
	if err != nil {
		return err
	}
	v.RecentRequests = recent
	if id == "" {
		return nil
	}
	req, err := p.requests.Request(ctx, id)
	switch {
	case errors.Is(err, cipurge.ErrNoRequest):
		v.RequestError = err.Error()
	case err != nil:
		return err
	}
	v.Request = req
	return nil
}

// requestState is a request's state in words: done (and how many failed), open, or not done.
func requestState(r *cipurge.RequestStatus) string {
	switch {
	case r.Done && r.Failed():
		return fmt.Sprintf("done %s, %d of %d failed for good", figures.Time(*r.DoneAt), r.Dead, r.URLs)
	case r.Done:
		return "done " + figures.Time(*r.DoneAt)
	case r.Open:
		return "not done: a bulk run still adds URLs"
	}
	return "not done"
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") || r.URL.Query().Get("format") == "json"
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ts": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000 MST")
	},
	"time":     figures.Time,
	"secs":     figures.Seconds,
	"rate":     figures.Rate,
	"plural":   figures.Plural,
	"pause":    status.DescribePause,
	"listed":   func(ps []store.PauseRecord, p *store.PauseRecord) bool { return slices.Contains(ps, *p) },
	"join":     strings.Join,
	"dead":     func(state string) bool { return state == store.StateDead },
	"reqstate": requestState,
}).Parse(statusHTML))

const statusHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cipurge status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.alert{background:#fff3cd;border:1px solid #e0c36c;padding:.6em .9em;margin:.5em 0;border-radius:4px}
.bad{background:#f8d7da;border-color:#d9898f}.ok{color:#1b6e2f}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px;word-break:break-all}
form{margin:.5em 0}input[type=text]{width:70%;padding:.35em;font:inherit}button{padding:.35em 1em;font:inherit}
nav a{margin-right:1em}.big{font-size:1.6em;font-weight:600}.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:12em;max-width:20em}
th.n{text-align:right}#recent-requests code{word-break:normal;white-space:nowrap}
</style></head><body>
{{$s := .Status}}
<nav><a href="/">home</a><a href="/monitoring/">asynqmon UI</a><a href="/status?format=json">JSON</a><a href="/metrics">metrics</a><a href="/readyz">readiness</a></nav>
<h1>cipurge status{{if $s.Account}}: account {{$s.Account}}{{end}}</h1>
<p>Read from Redis at {{time $s.At}}. Every worker shares this state.</p>
{{if .Accounts}}<h2>Accounts</h2>
<table id="accounts"><tr><th>account</th><th class="n">URLs in window</th><th class="n">backlog (API calls)</th><th class="n">dead letters</th><th class="n">URLs sent</th><th>state</th></tr>
{{range .Accounts}}<tr><td><a href="/status?account={{.Account}}">{{.Account}}</a></td><td class="n">{{.WaitingURLs}}</td><td class="n">{{.BacklogCalls}}</td><td class="n">{{.DeadLetters}}</td><td class="n">{{.URLsSentTotal}}</td><td>{{if .Paused}}paused: {{.Paused}}{{else if .SendingStopped}}stopped{{else if .PausedQueues}}queue paused{{else}}sending normally{{end}}</td></tr>
{{end}}</table>
<p>Below: the account {{$s.Account}}. Each account's page: <code>/status?account=NAME</code>.</p>{{end}}

<section id="alerts">
{{if $s.Paused}}<div class="alert" id="shared-pause"><b>Sending is paused for every worker:</b> {{$s.Paused}}</div>{{end}}
{{range $s.SendingStopped}}<div class="alert bad" id="sending-stopped"><b>Sending stopped:</b> {{.}}</div>{{end}}
{{range $s.PausedQueues}}<div class="alert" id="paused-queue"><b>Queue {{.}} is paused by an operator</b> (asynq queue pause or the UI): its tasks wait. Resume with <code>asynq queue unpause {{.}}</code>.</div>{{end}}
{{if not $s.Workers}}<div class="alert bad" id="no-worker"><b>No worker is alive:</b> nothing is sent.</div>{{end}}
{{if and $s.Workers (not $s.Paused) (not $s.SendingStopped) (not $s.PausedQueues)}}<p class="ok" id="all-clear">Sending normally.</p>{{end}}
</section>

{{if or $s.RecentPauses $s.LastOutage}}<h2>Recent pauses</h2>
<ul id="recent-pauses">{{range $s.RecentPauses}}<li>{{pause .}}</li>{{end}}
{{with $s.LastOutage}}{{if not (listed $s.RecentPauses .)}}<li id="last-outage">last outage: {{pause .}}</li>{{end}}{{end}}</ul>{{end}}

<h2>Look up a URL</h2>
<form id="lookup" method="get" action="/status"><input type="text" name="url" value="{{.URL}}" placeholder="any form: https://img.example.com/a.jpg, a CDN URL with a resize, /img.example.com/a.jpg" aria-label="URL"> <button type="submit">Look up</button></form>
{{if .LookupError}}<div class="alert bad" id="lookup-error">{{.LookupError}}</div>{{end}}
{{with .Lookup}}<table id="history">
<tr><th>canonical key</th><td><code>{{.Key}}</code>{{if eq .Kind "prefix"}} (a prefix: every image under this folder){{end}}</td></tr>
{{if .PendingSince}}<tr><th>pending</th><td>since {{ts .PendingSince}}, waiting for its window</td></tr>{{end}}
{{if and .QueuedAt (not (dead .State))}}<tr><th>queued</th><td>requested {{ts .QueuedAt}}, in task <code>{{.Task}}</code>{{if .TaskQueue}} on queue {{.TaskQueue}}{{end}}: {{.TaskState}}{{if .TaskError}} (last error: {{.TaskError}}){{end}}</td></tr>{{end}}
{{if .SentAt}}<tr><th>sent</th><td>{{ts .SentAt}} in request <code>{{.UUID}}</code> (requested {{ts .RequestedAt}})</td></tr>{{else if and (dead .State) .QueuedAt}}<tr><th>requested</th><td>{{ts .QueuedAt}}</td></tr>{{end}}
{{if .State}}<tr><th>state</th><td id="history-state"><b>{{if dead .State}}dead-lettered{{else}}{{.State}}{{end}}</b>{{if .Detail}}: {{.Detail}}{{end}}
{{if dead .State}}{{if eq .TaskState "deleted"}}<br>its dead letter was deleted: enqueue the URL again to send it{{else}}<br>task <code>{{.Task}}</code> on queue {{.TaskQueue}}: <code>enqueue dlq replay {{.Task}}</code>{{end}}{{end}}</td></tr>{{end}}
{{with .CoveredBy}}<tr><th>covered</th><td id="history-covered">{{.String}}</td></tr>{{end}}
{{if not (or .PendingSince .QueuedAt .SentAt .State)}}<tr><th>history</th><td>no request known within PURGE_HISTORY_TTL</td></tr>{{end}}
</table>{{end}}

<h2>Look up a request</h2>
<form id="request-lookup" method="get" action="/status"><input type="text" name="request" value="{{.RequestID}}" placeholder="a request ID from enqueue, the intake or the Go API: rq_..." aria-label="request ID"> <button type="submit">Look up</button></form>
{{if .RequestError}}<div class="alert bad" id="request-error">{{.RequestError}}</div>{{end}}
{{with .Request}}<table id="request">
<tr><th>request</th><td><code>{{.ID}}</code>, made {{time .MadeAt}}</td></tr>
<tr><th>state</th><td id="request-state"><b>{{reqstate .}}</b> (done means {{.DoneMeans}})</td></tr>
<tr><th>URLs</th><td>{{.URLs}}: {{.Waiting}} waiting, {{.Sent}} sent, {{.Confirmed}} {{.DoneMeans}}, {{.Dead}} dead-lettered, {{.Flushed}} covered by a flush-all; {{.Resent}} resent</td></tr>
{{if .Callback}}<tr><th>callback</th><td><code>{{.Callback}}</code></td></tr>{{end}}
{{if .NotDone}}<tr><th>not done yet</th><td id="request-not-done">{{range .NotDone}}<a href="/status?url={{.}}"><code>{{.}}</code></a><br>{{end}}{{if gt .URLs (len .NotDone)}}(among its first URLs: a request keeps counts, not every URL){{end}}</td></tr>{{end}}
</table>{{end}}
<h2>Now</h2>
<div class="cards">
<div class="card" id="waiting"><div>URLs waiting for their window</div><div class="big">{{$s.WaitingURLs}}</div><div>{{if $s.OldestWaiting}}oldest {{$s.OldestWaiting}}{{else}}none waiting{{end}}</div></div>
<div class="card" id="rate"><div>send rate, last minute</div><div class="big">{{rate $s.CallsPerSecond}} calls/s</div><div>{{rate $s.URLsPerSecond}} URLs/s; configured {{rate $s.ConfiguredRate}} calls/s ({{$s.RateSource}})</div></div>
<div class="card" id="drain"><div>time to drain</div><div class="big">{{if $s.DrainSeconds}}{{secs $s.DrainSeconds}}{{else if $s.BacklogCalls}}unknown{{else}}nothing to send{{end}}</div><div>{{plural $s.BacklogCalls "API call" "API calls"}} of backlog{{if $s.DrainNote}}; {{$s.DrainNote}}{{end}}</div></div>
<div class="card" id="dead-count"><div>dead letters</div><div class="big">{{$s.DeadLetters}}</div><div><code>enqueue dlq ls</code></div></div>
</div>

<h2>Queues</h2>
<table id="queues"><tr><th>queue</th><th class="n">pending</th><th class="n">in flight</th><th class="n">scheduled</th><th class="n">retry</th><th class="n">dead letters</th><th></th></tr>
{{range $s.Queues}}<tr><td>{{.Queue}}</td><td class="n">{{.Pending}}</td><td class="n">{{.Active}}</td><td class="n">{{.Scheduled}}</td><td class="n">{{.Retry}}</td><td class="n">{{.Archived}}</td><td>{{if .Paused}}<b>paused</b>{{end}}</td></tr>
{{end}}</table>

<h2>Workers</h2>
<table id="workers"><tr><th>worker</th><th>version</th><th class="n">PURGE_RATE</th><th class="n">burst</th><th class="n">batch</th><th class="n">concurrency</th><th>confirm</th><th>sending</th></tr>
{{range $s.Workers}}<tr><td><code>{{.ID}}</code></td><td>{{.Version}}</td><td class="n">{{rate .Rate}}</td><td class="n">{{.Burst}}</td><td class="n">{{.BatchSize}}</td><td class="n">{{.Concurrency}}</td><td>{{.Confirm}}</td><td>{{if .Stopped}}<b>stopped {{.Stopped}}</b>{{else}}ok{{end}}</td></tr>
{{else}}<tr><td colspan="8">none alive</td></tr>{{end}}</table>

<h2>Recent requests</h2>
{{if .RecentRequestsError}}<div class="alert" id="recent-requests-error">{{.RecentRequestsError}}</div>{{end}}
<table id="recent-requests"><tr><th>request</th><th>made</th><th class="n">URLs</th><th class="n">waiting</th><th class="n">sent</th><th class="n">confirmed</th><th class="n">dead letters</th><th class="n">flush-all</th><th class="n">resent</th><th>state</th></tr>
{{range .RecentRequests}}<tr><td><a href="/status?request={{.ID}}"><code>{{.ID}}</code></a></td><td>{{time .MadeAt}}</td><td class="n">{{.URLs}}</td><td class="n">{{.Waiting}}</td><td class="n">{{.Sent}}</td><td class="n">{{.Confirmed}}</td><td class="n">{{.Dead}}</td><td class="n">{{.Flushed}}</td><td class="n">{{.Resent}}</td><td>{{reqstate .}}</td></tr>
{{else}}<tr><td colspan="10">none within PURGE_HISTORY_TTL</td></tr>{{end}}</table>

<h2>Last dead letters</h2>
<table id="dead-letters"><tr><th>task (enqueue dlq replay ID)</th><th>queue</th><th>attempts</th><th>dead-lettered</th><th>reason</th><th>URLs</th></tr>
{{range $s.LastDeadLetters}}<tr><td><code>{{.ID}}</code></td><td>{{.Queue}}</td><td class="n">{{.Attempts}}</td><td>{{time .LastFailed}}</td><td>{{.LastError}}</td><td>{{range .URLs}}<code>{{.}}</code><br>{{end}}{{.Payload}}</td></tr>
{{else}}<tr><td colspan="6">none</td></tr>{{end}}</table>

</body></html>
`
