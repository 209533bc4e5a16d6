package sandbox

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FaultsSyntax documents what ParseFaults accepts (CLOUDIMAGE_SANDBOX_FAULTS).
const FaultsSyntax = `faults separated by ";", each NAME=VALUE with options after a space:
  reject=GLOB                      400 for every request with a URL matching GLOB (the URL is dead-lettered)
  fail-status=GLOB                 accepted, then Cloudimage reports matching URLs failed in the status check
  429=DURATION [retry-after=SECS]  429 Too Many Requests (with Retry-After) for DURATION
  5xx=DURATION [code=503]          an outage: 500-599 (default 503) for DURATION
  ...=DURATION [after=DURATION]    a window starts at the sandbox's first invalidation request, plus after
  status=STATUS [match=GLOB] [for=DURATION]
                                   once its stages are over, a request with a URL matching GLOB (default *)
                                   reports STATUS (ERROR_CDN_NODE, or any other) instead of DONE: for ever,
                                   or for DURATION and then DONE; a STATUS that starts with ERROR lists every
                                   URL under failed
GLOB: * matches any run of characters (slashes too), ? one character; matched against the canonical URL.
Example: reject=*/broken/*; 429=10s retry-after=3 after=5s; 5xx=20s after=60s; fail-status=*/flaky/*;
status=ERROR_CDN_NODE match=*/edge/*; status=QUEUED for=30s`

// Faults is a set of faults the sandbox applies from the start, parsed from
// CLOUDIMAGE_SANDBOX_FAULTS by ParseFaults. Windows (429, 5xx) start at the first invalidation
// request the sandbox receives, plus their After, so that they meet the first URLs a user sends.
type Faults struct {
	Reject     []string // globs: requests with a matching URL get 400
	FailStatus []string // globs: matching URLs end under "failed" in the status check
	RateLimit  *Window  // 429 with Retry-After
	Outage     *Window  // 5xx
	Statuses   []Status // the status reported instead of DONE, the first match applies
}

// Status makes the status check of a request with a URL matching Match report Status once the
// request's stages are over: for ever (For 0), or for For and then DONE.
type Status struct {
	Status string
	Match  string // a glob; "*" matches every request
	For    time.Duration
}

// maxStatusFaults bounds the status faults: a request records which one applies in a byte.
const maxStatusFaults = 255

// Window is a stretch of time, relative to the first invalidation request, during which the
// sandbox answers Code (with Retry-After for a 429).
type Window struct {
	After, For time.Duration
	Code       int
	RetryAfter string // seconds, for a 429; "" sends none
}

// ParseFaults parses spec (see FaultsSyntax). The empty spec is no faults.
func ParseFaults(spec string) (*Faults, error) {
	f := &Faults{}
	for _, item := range strings.Split(spec, ";") {
		fields := strings.Fields(item)
		if len(fields) == 0 {
			continue
		}
		name, value, ok := strings.Cut(fields[0], "=")
		if !ok || value == "" {
			return nil, fmt.Errorf("%q: want NAME=VALUE", fields[0])
		}
		o := faultOptions{name: name, opts: map[string]string{}}
		for _, kv := range fields[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || v == "" {
				return nil, fmt.Errorf("%q: options are key=value", kv)
			}
			o.opts[k] = v
		}
		if err := f.add(name, value, o); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// faultOptions are the key=value options of one fault.
type faultOptions struct {
	name string
	opts map[string]string
}

// only refuses an option that is not among allowed.
func (o faultOptions) only(allowed ...string) error {
	for k := range o.opts {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s: unknown option %q (allowed: %s)", o.name, k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// add adds the fault name=value with its options to f.
func (f *Faults) add(name, value string, o faultOptions) error {
	switch name {
	case "reject", "fail-status":
		if err := o.only(); err != nil {
			return err
		}
		if _, err := globRegexp(value); err != nil {
			return fmt.Errorf("%s=%s: %w", name, value, err)
		}
		if name == "reject" {
			f.Reject = append(f.Reject, value)
		} else {
			f.FailStatus = append(f.FailStatus, value)
		}
		return nil
	case "429", "5xx":
		return f.addWindow(name, value, o)
	case "status":
		return f.addStatus(value, o)
	}
	return fmt.Errorf("unknown fault %q: use reject, fail-status, 429, 5xx or status", name)
}

// addWindow adds a 429 or 5xx window: the fault name lasting value.
func (f *Faults) addWindow(name, value string, o faultOptions) error {
	w := &Window{Code: 429}
	var err error
	if w.For, err = time.ParseDuration(value); err != nil || w.For <= 0 {
		return fmt.Errorf("%s=%s: want a duration like 30s", name, value)
	}
	if a, ok := o.opts["after"]; ok {
		if w.After, err = time.ParseDuration(a); err != nil || w.After < 0 {
			return fmt.Errorf("%s: after=%s: want a duration like 10s", name, a)
		}
	}
	if name == "429" {
		if err := o.only("after", "retry-after"); err != nil {
			return err
		}
		if ra, ok := o.opts["retry-after"]; ok {
			if n, err := strconv.Atoi(ra); err != nil || n < 0 {
				return fmt.Errorf("429: retry-after=%s: want whole seconds", ra)
			}
			w.RetryAfter = ra
		}
		f.RateLimit = w
		return nil
	}
	if err := o.only("after", "code"); err != nil {
		return err
	}
	w.Code = 503
	if c, ok := o.opts["code"]; ok {
		if w.Code, err = strconv.Atoi(c); err != nil || w.Code < 500 || w.Code > 599 {
			return fmt.Errorf("5xx: code=%s: want 500 to 599", c)
		}
	}
	f.Outage = w
	return nil
}

// addStatus adds a status fault: checks answer value.
func (f *Faults) addStatus(value string, o faultOptions) error {
	if err := o.only("match", "for"); err != nil {
		return err
	}
	st := Status{Status: value, Match: "*"}
	if m, ok := o.opts["match"]; ok {
		if _, err := globRegexp(m); err != nil {
			return fmt.Errorf("status: match=%s: %w", m, err)
		}
		st.Match = m
	}
	if d, ok := o.opts["for"]; ok {
		var err error
		if st.For, err = time.ParseDuration(d); err != nil || st.For <= 0 {
			return fmt.Errorf("status: for=%s: want a duration like 30s", d)
		}
	}
	if len(f.Statuses) == maxStatusFaults {
		return fmt.Errorf("status: more than %d status faults", maxStatusFaults)
	}
	f.Statuses = append(f.Statuses, st)
	return nil
}

// String describes the faults in words, for the worker's start-up log.
func (f *Faults) String() string {
	var parts []string
	for _, g := range f.Reject {
		parts = append(parts, "400 for URLs matching "+g)
	}
	for _, g := range f.FailStatus {
		parts = append(parts, "status check fails URLs matching "+g)
	}
	for _, st := range f.Statuses {
		s := "status " + st.Status + " instead of DONE for requests with a URL matching " + st.Match
		if st.For > 0 {
			s += ", for " + st.For.String()
		}
		parts = append(parts, s)
	}
	for _, w := range []*Window{f.RateLimit, f.Outage} {
		if w == nil {
			continue
		}
		s := fmt.Sprintf("%d for %s, %s after the first request", w.Code, w.For, w.After)
		if w.RetryAfter != "" {
			s += " (Retry-After: " + w.RetryAfter + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// ApplyFaults makes s misbehave as f says, from now on: patterns at once, windows from the first
// invalidation request (plus their After).
func (s *Server) ApplyFaults(f *Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range f.Reject {
		re, _ := globRegexp(g) // ParseFaults checked it
		s.rejectGlobs = append(s.rejectGlobs, re)
	}
	for _, g := range f.FailStatus {
		re, _ := globRegexp(g)
		s.failGlobs = append(s.failGlobs, re)
	}
	for _, st := range f.Statuses {
		re, _ := globRegexp(st.Match)
		if len(s.statusFaults) < maxStatusFaults {
			s.statusFaults = append(s.statusFaults, statusFault{status: st.Status, match: re, lasts: st.For})
		}
	}
	s.planned = append(s.planned, f.RateLimit, f.Outage)
}

// statusFault is an installed Status fault.
type statusFault struct {
	status string
	match  *regexp.Regexp
	lasts  time.Duration // 0: for ever
}

// armPlanned starts the planned windows at now, the first invalidation request; s.mu is held.
func (s *Server) armPlanned(now time.Time) {
	for _, w := range s.planned {
		if w == nil {
			continue
		}
		from, until := now.Add(w.After), now.Add(w.After+w.For)
		if w.Code == 429 {
			s.rateFrom, s.rateUntil, s.retryAfter = from, until, w.RetryAfter
		} else {
			s.failFrom, s.failUntil, s.failCode = from, until, w.Code
		}
	}
	s.planned = nil
}

// globRegexp compiles a glob: * any run of characters, ? one character, the rest literal.
func globRegexp(g string) (*regexp.Regexp, error) {
	if g == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	var b strings.Builder
	b.WriteString("^")
	for _, r := range g {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

func matchAny(res []*regexp.Regexp, u string) bool {
	for _, re := range res {
		if re.MatchString(u) {
			return true
		}
	}
	return false
}
