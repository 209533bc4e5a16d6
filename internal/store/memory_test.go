package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/testredis"
)

// TestGuard: allkeys-* is refused with the policy and the fix; volatile-* is said once and
// allowed; noeviction is allowed silently; the policy is read again after the interval.
func TestGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client()
	var notes []string
	g := NewGuard(New(rdb), 1, func(s string) { notes = append(notes, s) }) // 1 ns: read every time
	set := func(p string) {
		t.Helper()
		if err := rdb.ConfigSet(ctx, "maxmemory-policy", p).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Check(ctx); err != nil || len(notes) != 0 {
		t.Fatalf("noeviction: %v, notes %q", err, notes)
	}
	set("allkeys-lru")
	err := g.Check(ctx)
	var ev *EvictionError
	if !errors.As(err, &ev) || ev.Policy != "allkeys-lru" || !strings.Contains(err.Error(), "CONFIG SET maxmemory-policy noeviction") {
		t.Fatalf("allkeys-lru: %v", err)
	}
	set("volatile-lru")
	for range 3 {
		if err := g.Check(ctx); err != nil {
			t.Fatalf("volatile-lru: %v", err)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "volatile-lru") || !strings.Contains(notes[0], "sent twice") {
		t.Errorf("volatile-lru notes %q, want one that says what it costs", notes)
	}
	// CONFIG GET refused (as on managed Redis), by an ACL or by the command renamed away: said
	// once, naming the refusal, and allowed.
	if err := rdb.Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	app := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, Username: "app", Password: "pw"})
	t.Cleanup(func() { app.Close() })
	renamed := testredis.Start(t, testredis.WithArgs("--rename-command", "CONFIG", "")).Client()
	for refusal, c := range map[string]redis.UniversalClient{"NOPERM": app, "unknown command": renamed} {
		notes = nil
		g := NewGuard(New(c), 1, func(s string) { notes = append(notes, s) })
		for range 2 {
			if err := g.Check(ctx); err != nil {
				t.Errorf("CONFIG GET refused (%s): %v", refusal, err)
			}
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "CONFIG GET") || !strings.Contains(notes[0], refusal) {
			t.Errorf("CONFIG GET refused (%s): notes %q, want one naming it", refusal, notes)
		}
	}
}

// replyErr is an error reply of Redis, as go-redis returns it (a redis.Error).
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

// TestConfigRefused: only Redis refusing CONFIG GET itself (ACL, a renamed or removed command, no
// such subcommand; the wordings of Redis 5 to 7) is a refusal; every other error reply, and every
// error that is not a reply, leaves the policy unknown now.
func TestConfigRefused(t *testing.T) {
	for _, c := range []struct {
		err     error
		refused bool
	}{
		{replyErr("NOPERM User app has no permissions to run the 'config|get' command"), true},
		{replyErr("NOPERM this user has no permissions to run the 'config' command or its subcommand"), true},
		{replyErr("ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxmemory-policy' "), true},
		{replyErr("ERR unknown command `CONFIG`, with args beginning with: `GET`, `maxmemory-policy`, "), true},
		{replyErr("ERR unknown subcommand 'GET'. Try CONFIG HELP."), true},
		{replyErr("ERR Unknown subcommand or wrong number of arguments for 'GET'. Try CONFIG HELP."), true},
		{fmt.Errorf("master 127.0.0.1:7001: %w", replyErr("NOPERM User default has no permissions to run the 'config|get' command")), true},
		{replyErr("LOADING Redis is loading the dataset in memory"), false},
		{replyErr("NOAUTH Authentication required."), false},
		{replyErr("WRONGPASS invalid username-password pair or user is disabled."), false},
		{replyErr("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), false},
		{replyErr("READONLY You can't write against a read only replica."), false},
		{replyErr("OOM command not allowed when used memory > 'maxmemory'."), false},
		{replyErr("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT."), false},
		{replyErr("CLUSTERDOWN The cluster is down"), false},
		{replyErr("TRYAGAIN Multiple keys request during rehashing of slot"), false},
		{replyErr("ERR max number of clients reached"), false},
		{replyErr("ERR unknown"), false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, false},
		{context.DeadlineExceeded, false},
		{io.EOF, false},
		{errors.New("NOPERM not a reply, only its words"), false},
	} {
		if got := ConfigRefused(c.err); got != c.refused {
			t.Errorf("ConfigRefused(%q) = %v, want %v", c.err, got, c.refused)
		}
	}
}

// TestGuardMasters: every master's policy counts. One master's allkeys-* refuses whatever the others
// answered (a refusal of CONFIG GET, an error, volatile-*); a master that refuses CONFIG GET is said
// once and allowed when the others are not allkeys-*; a master that cannot answer now leaves the
// policy unknown, which refuses before the first reading.
func TestGuardMasters(t *testing.T) {
	noperm := replyErr("NOPERM User default has no permissions to run the 'config|get' command")
	loading := replyErr("LOADING Redis is loading the dataset in memory")
	for _, c := range []struct {
		name   string
		nodes  []nodePolicy
		want   string // "evicts", "unknown" or "" (allowed)
		policy string // Policy() after
		notes  int
	}{
		{"one refuses, one allkeys", []nodePolicy{{err: noperm}, {policy: "allkeys-lru"}, {policy: "noeviction"}}, "evicts", "allkeys-lru", 0},
		{"allkeys after one refuses", []nodePolicy{{policy: "noeviction"}, {err: noperm}, {policy: "allkeys-random"}}, "evicts", "allkeys-random", 0},
		{"one loading, one allkeys", []nodePolicy{{err: loading}, {policy: "allkeys-lfu"}}, "evicts", "allkeys-lfu", 0},
		{"allkeys over volatile", []nodePolicy{{policy: "volatile-lru"}, {policy: "allkeys-lru"}}, "evicts", "allkeys-lru", 0},
		{"one refuses, the others noeviction", []nodePolicy{{err: noperm}, {policy: "noeviction"}, {policy: "noeviction"}}, "", "", 1},
		{"one refuses, one volatile", []nodePolicy{{err: noperm}, {policy: "volatile-lru"}}, "", "volatile-lru", 2},
		{"one loading, the others noeviction", []nodePolicy{{policy: "noeviction"}, {err: loading}, {policy: "noeviction"}}, "unknown", "", 0},
		{"one loading, one refuses", []nodePolicy{{err: noperm}, {err: loading}}, "unknown", "", 0},
		{"all noeviction", []nodePolicy{{policy: "noeviction"}, {policy: "noeviction"}, {policy: "noeviction"}}, "", "noeviction", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var notes []string
			g := NewGuard(New(nil), time.Hour, func(s string) { notes = append(notes, s) })
			g.read = func(context.Context) policyReading { return readingOf(c.nodes) }
			if err := g.Check(context.Background()); verdict(err) != c.want {
				t.Errorf("Check: %v, want %q", err, c.want)
			}
			if p := g.Policy(); p != c.policy {
				t.Errorf("Policy() = %q, want %q", p, c.policy)
			}
			if len(notes) != c.notes {
				t.Errorf("notes %q, want %d", notes, c.notes)
			}
		})
	}
}

// verdict names what Check answered: "evicts", "unknown", "" (allowed), or the error.
func verdict(err error) string {
	var ev *EvictionError
	var unknown *PolicyUnknownError
	switch {
	case errors.As(err, &ev):
		return "evicts"
	case errors.As(err, &unknown):
		return "unknown"
	case err != nil:
		return err.Error()
	}
	return ""
}

// TestGuardUnknownNow: an error that is not a refusal is not taken for one: before the first reading
// it refuses (*PolicyUnknownError, nothing said), after one the last reading stands (noeviction
// allows, allkeys-* refuses), and the policy is read again after unknownRetry, not a whole interval.
func TestGuardUnknownNow(t *testing.T) {
	var notes []string
	g := NewGuard(New(nil), time.Hour, func(s string) { notes = append(notes, s) })
	var answer nodePolicy
	reads := 0
	g.read = func(context.Context) policyReading { reads++; return readingOf([]nodePolicy{answer}) }
	ctx := context.Background()
	check := func(when, want string) {
		t.Helper()
		g.next = time.Time{} // the interval has passed
		if err := g.Check(ctx); verdict(err) != want {
			t.Errorf("%s: Check = %v, want %q", when, err, want)
		}
	}
	answer = nodePolicy{err: replyErr("LOADING Redis is loading the dataset in memory")}
	check("loading, never read", "unknown")
	if err := g.Check(ctx); !strings.Contains(fmt.Sprint(err), "LOADING") || reads != 1 {
		t.Errorf("within unknownRetry: %v after %d reads, want the same refusal without a read", err, reads)
	}
	if left := time.Until(g.next); left > unknownRetry {
		t.Errorf("an unknown policy is read again in %s, want at most %s", left, unknownRetry)
	}
	answer = nodePolicy{policy: "noeviction"}
	check("noeviction", "")
	if left := time.Until(g.next); left < time.Hour-time.Minute {
		t.Errorf("a policy read is read again in %s, want the interval", left)
	}
	for _, e := range []error{replyErr("NOAUTH Authentication required."), replyErr("MASTERDOWN Link with MASTER is down"), context.DeadlineExceeded} {
		answer = nodePolicy{err: e}
		check(e.Error()+" after noeviction", "")
	}
	answer = nodePolicy{policy: "allkeys-lru"}
	check("allkeys-lru", "evicts")
	answer = nodePolicy{err: replyErr("LOADING Redis is loading the dataset in memory")}
	check("loading after allkeys-lru", "evicts")
	if p := g.Policy(); p != "allkeys-lru" {
		t.Errorf("Policy() = %q after an unknown reading, want the last one read", p)
	}
	if len(notes) != 0 {
		t.Errorf("errors that are no refusal were said as one: %q", notes)
	}
}

// TestGuardNoAuth: a real redis-server's NOAUTH (a password missing) is no refusal of CONFIG GET:
// the guard refuses, says nothing, and allows once the policy can be read. (The guard before took
// it for a refusal: it said it cannot check and allowed writes.)
func TestGuardNoAuth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var notes []string
	locked := testredis.Start(t)
	if err := locked.Client().ConfigSet(ctx, "requirepass", "pw").Err(); err != nil {
		t.Fatal(err)
	}
	anon := redis.NewClient(&redis.Options{Addr: locked.Addr()})
	t.Cleanup(func() { anon.Close() })
	g := NewGuard(New(anon), 1, func(s string) { notes = append(notes, s) })
	if err := g.Check(ctx); verdict(err) != "unknown" || !strings.Contains(err.Error(), "NOAUTH") || len(notes) != 0 {
		t.Fatalf("NOAUTH: %v, notes %q; want a refusal naming NOAUTH and nothing said", err, notes)
	}
	authed := redis.NewClient(&redis.Options{Addr: locked.Addr(), Password: "pw"})
	t.Cleanup(func() { authed.Close() })
	g.store = New(authed)
	g.read = g.store.readPolicy
	time.Sleep(2 * unknownRetry) // the guard reads again after unknownRetry; nothing to wait on but the time
	if err := g.Check(ctx); err != nil || g.Policy() != "noeviction" {
		t.Errorf("once the policy can be read: %v, policy %q", err, g.Policy())
	}
}
