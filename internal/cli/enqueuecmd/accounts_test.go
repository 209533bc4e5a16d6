package enqueuecmd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestSeveralAccounts: with a file of several accounts, enqueue routes each URL to its account's
// keys under one request; a URL of no account is rejected (exit 1) and the rest is queued.
// status shows each account, or --account's; a URL's history is read from its account's keys;
// --all flushes the account --account names, confirmed with its token.
func TestSeveralAccounts(t *testing.T) {
	r := testredis.Start(t)
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	file := "accounts:\n  - {name: a, token: a, origins: [\"https://a.example.com/\"]}\n  - {name: b, token: b, origins: [\"https://b.example.com/\"]}\n"
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ACCOUNTS_FILE=" + p, "REDIS_URL=redis://" + r.Addr() + "/0"}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		err := enqueuecmd.Run(context.Background(), args, env, strings.NewReader(""), &out, &errb)
		if err != nil {
			errb.WriteString(err.Error())
		}
		return enqueuecmd.ExitCode(err), out.String(), errb.String()
	}
	code, out, errs := run("https://a.example.com/1.jpg", "https://b.example.com/2.jpg", "https://c.example.com/3.jpg", "https://b.example.com/4.jpg")
	if code != 1 || !strings.Contains(errs, "3 enqueued") || !strings.Contains(errs, "which no account lists") {
		t.Fatalf("enqueue: exit %d, %q, %q", code, out, errs)
	}
	ctx := context.Background()
	for acct, want := range map[string]int64{"a": 1, "b": 2, "default": 0} {
		if n := r.Client().ZCard(ctx, store.KeysFor(acct).Pending).Val(); n != want {
			t.Errorf("pending of %s: %d, want %d", acct, n, want)
		}
	}
	id := strings.TrimSpace(out)
	if code, out, errs := run("status", "--request", id); code != 0 || !strings.Contains(out, "accounts a, b") || !strings.Contains(out, "0 of 3 confirmed, 3 waiting") {
		t.Errorf("status --request: exit %d, %q, %q", code, out, errs)
	}
	if code, out, errs := run("status"); code != 0 || !strings.Contains(out, "== account a ==") || !strings.Contains(out, "== account b ==") ||
		!strings.Contains(out, "purge:b") || !strings.Contains(out, "URLs waiting for their window: 2") {
		t.Errorf("status: exit %d, %q, %q", code, out, errs)
	}
	if code, out, _ := run("status", "--account", "a", "--json"); code != 0 || !strings.Contains(out, `"account": "a"`) || strings.Contains(out, `"account": "b"`) {
		t.Errorf("status --account a: exit %d, %q", code, out)
	}
	if code, out, errs := run("status", "--json", "https://b.example.com/2.jpg"); code != 0 || !strings.Contains(out, `"account": "b"`) || !strings.Contains(out, "pending_since") {
		t.Errorf("status URL: exit %d, %q, %q", code, out, errs)
	}
	if code, _, errs := run("--all", "--confirm", "b"); code != 2 || !strings.Contains(errs, "several accounts (a, b): name the one to flush with --account") {
		t.Errorf("--all without --account: exit %d, %q", code, errs)
	}
	if code, _, errs := run("--all", "--account", "b", "--confirm", "a"); code != 2 || !strings.Contains(errs, "account b: flush-all refused") {
		t.Errorf("--all --account b confirmed with a's token: exit %d, %q", code, errs)
	}
	if code, out, errs := run("--all", "--account", "b", "--confirm", "b"); code != 0 || !strings.Contains(out, "on queue flush-all:b") {
		t.Errorf("--all --account b: exit %d, %q, %q", code, out, errs)
	}
	if code, out, errs := run("--all", "--cancel", "--account", "b"); code != 0 || !strings.Contains(out, "flush-all cancelled") {
		t.Errorf("--all --cancel --account b: exit %d, %q, %q", code, out, errs)
	}
	dead := store.DeadLetter{ID: "dead-of-b", Queue: "purge:b", Type: tasks.TypeURLs, URLs: []string{"https://b.example.com/dead.jpg"},
		Reason: "rejected: 400 Bad Request", Attempts: 1, At: time.Now().UnixMilli()}
	if err := store.New(r.Client()).For("b").KeepDeadLetter(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run("dlq", "ls"); code != 2 || !strings.Contains(errs, "name the one whose dead letters to read with --account") {
		t.Errorf("dlq ls without --account: exit %d, %q", code, errs)
	}
	if code, out, errs := run("dlq", "ls", "--account", "b"); code != 0 || !strings.Contains(out, "dead-of-b  queue=purge:b") {
		t.Errorf("dlq ls --account b: exit %d, %q, %q", code, out, errs)
	}
	if code, out, _ := run("dlq", "ls", "--account", "a"); code != 0 || strings.Contains(out, "dead-of-b") {
		t.Errorf("dlq ls --account a: exit %d, %q", code, out)
	}
	if code, out, errs := run("dlq", "rm", "--all", "--yes", "--account", "b"); code != 0 || !strings.Contains(out, "1 dead letter") {
		t.Errorf("dlq rm --all --account b: exit %d, %q, %q", code, out, errs)
	}
	if code, _, errs := run("--bulk", "https://a.example.com/5.jpg", "https://b.example.com/6.jpg"); code != 0 {
		t.Errorf("--bulk: exit %d, %q", code, errs)
	}
	for _, q := range []string{tasks.QueuesOf("a").Bulk, tasks.QueuesOf("b").Bulk} {
		if n := r.Client().LLen(ctx, taskq.PendingKey(q)).Val(); n != 1 {
			t.Errorf("%s: %d tasks, want 1", q, n)
		}
	}
}

// TestAccountFlag: --account takes the deployment's account, by its name or as default, and
// refuses another name at start, exit 2, naming the accounts there are.
func TestAccountFlag(t *testing.T) {
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(p, []byte("accounts:\n  - {name: shop, token: demo}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  []string
		name string
		code int
		want string
	}{
		{[]string{"CLOUDIMAGE_TOKEN=demo"}, "default", 0, "https://img.example.com/a.jpg\n"},
		{[]string{"ACCOUNTS_FILE=" + p}, "shop", 0, "https://img.example.com/a.jpg\n"},
		{[]string{"ACCOUNTS_FILE=" + p}, "default", 0, "https://img.example.com/a.jpg\n"},
		{[]string{"CLOUDIMAGE_TOKEN=demo"}, "shop", 2, `--account: no account is named "shop": use one of default`},
		{[]string{"ACCOUNTS_FILE=" + p}, "other", 2, `--account: no account is named "other": use one of shop`},
	} {
		var out, errb bytes.Buffer
		err := enqueuecmd.Run(context.Background(), []string{"--dry-run", "--account", c.name, "https://demo.cloudimg.io/img.example.com/a.jpg"},
			c.env, strings.NewReader(""), &out, &errb)
		got := out.String()
		if err != nil {
			got = err.Error()
		}
		if enqueuecmd.ExitCode(err) != c.code || !strings.Contains(got, c.want) {
			t.Errorf("%v --account %s: exit %d, %q; want %d, %q", c.env, c.name, enqueuecmd.ExitCode(err), got, c.code, c.want)
		}
	}
}
