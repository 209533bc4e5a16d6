package enqueuecmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/config"
)

// Exit statuses of enqueue --wait, besides 0 (every URL confirmed, or sent when done means
// sent), 1 (some inputs rejected) and 2 (an error). They are a contract with scripts.
const (
	exitSomeFailed = 3 // the request is done, and some URLs were dead-lettered or not known to be done
	exitTimedOut   = 4 // the wait ended before the request was done
)

// defaultWait is how long a bare --wait waits.
const defaultWait = 15 * time.Minute

// waitFlag is --wait[=TIMEOUT]: a bare --wait waits defaultWait.
type waitFlag struct{ d time.Duration }

func (w *waitFlag) String() string {
	if w == nil || w.d == 0 {
		return ""
	}
	return w.d.String()
}

func (w *waitFlag) IsBoolFlag() bool { return true }

func (w *waitFlag) Set(v string) error {
	switch v {
	case "true":
		w.d = defaultWait
		return nil
	case "false":
		w.d = 0
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("give a positive duration such as --wait=10m, or --wait alone for %s", defaultWait)
	}
	w.d = d
	return nil
}

// newInspector is the read side on rdb, with cfg's normaliser: every account's with several.
func newInspector(cfg *config.Config, rdb redis.UniversalClient) (*cipurge.Inspector, error) {
	if cfg.Several() {
		accts, err := cipurge.LoadAccounts(cfg.Cloudimage.AccountsFile)
		if err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("ACCOUNTS_FILE=%s:\n%w", cfg.Cloudimage.AccountsFile, err)}
		}
		insp, err := cipurge.NewInspector(rdb, nil, cipurge.InspectAccounts(accts))
		if err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		return insp, nil
	}
	norm, err := cfg.Normalizer()
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	insp, err := cipurge.NewInspector(rdb, norm)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return insp, nil
}

// waitRequest waits up to d for request id, with a progress line on stderr (rewritten in place on
// a terminal, a line per change otherwise), and returns the exit status it calls for.
func waitRequest(ctx context.Context, insp *cipurge.Inspector, id string, d time.Duration, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tty := isTerminal(stderr)
	last := ""
	st, err := insp.WaitRequest(ctx, id, 0, func(s *cipurge.RequestStatus) {
		line := progressLine(s)
		switch {
		case tty:
			fmt.Fprintf(stderr, "\r\033[K%s", line)
		case line != last:
			fmt.Fprintln(stderr, line)
		}
		last = line
	})
	if tty {
		fmt.Fprintln(stderr)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &exitError{code: exitTimedOut, err: fmt.Errorf("request %s is not done after %s; enqueue status --request %s follows it", id, d, id)}
	case err != nil:
		return &exitError{code: 2, err: err}
	case st.Failed():
		return &exitError{code: exitSomeFailed, err: fmt.Errorf("request %s is done: %d of %d URLs failed for good (enqueue dlq ls)", id, st.Dead, st.URLs)}
	}
	return nil
}

// progressLine is one line of a request's progress.
func progressLine(s *cipurge.RequestStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "request %s: %d of %d %s", s.ID, s.Confirmed+s.Flushed, s.URLs, s.DoneMeans)
	for _, c := range []struct {
		n    int64
		what string
	}{{s.Waiting, "waiting"}, {s.Sent, "sent"}, {s.Resent, "resent"}, {s.Dead, "dead-lettered"}, {s.Flushed, "covered by a flush-all"}} {
		if c.n > 0 {
			fmt.Fprintf(&b, ", %d %s", c.n, c.what)
		}
	}
	if s.Done {
		b.WriteString(": done")
	}
	return b.String()
}

// requestStatus prints request id's progress: `enqueue status --request ID`.
func requestStatus(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, id string, asJSON bool, stdout io.Writer) error {
	insp, err := newInspector(cfg, rdb)
	if err != nil {
		return err
	}
	st, err := insp.Request(ctx, id)
	if errors.Is(err, cipurge.ErrNoRequest) {
		return &exitError{code: 1, err: err}
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if asJSON {
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintln(stdout, progressLine(st))
	fmt.Fprintf(stdout, "made %s; done means %s\n", st.MadeAt.Format(time.RFC3339), st.DoneMeans)
	switch {
	case len(st.Accounts) > 1:
		fmt.Fprintf(stdout, "accounts %s\n", strings.Join(st.Accounts, ", "))
	case st.Account != cipurge.DefaultAccount:
		fmt.Fprintf(stdout, "account %s\n", st.Account)
	}
	if st.DoneAt != nil {
		fmt.Fprintf(stdout, "done %s\n", st.DoneAt.Format(time.RFC3339))
	}
	if st.Callback != "" {
		fmt.Fprintf(stdout, "callback %s\n", st.Callback)
	}
	for _, u := range st.NotDone {
		fmt.Fprintf(stdout, "not done: %s\n", u)
	}
	return nil
}
