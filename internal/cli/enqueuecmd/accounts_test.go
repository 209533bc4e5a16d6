package enqueuecmd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
)

// TestSeveralAccountsRefused: a file of several accounts stops enqueue's URLs at start, exit 2,
// with a message that says why. (The worker runs a lane per account; status and the dead-letter
// queue read Redis.)
func TestSeveralAccountsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(p, []byte("accounts:\n  - {name: a, token: a}\n  - {name: b, token: b}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ACCOUNTS_FILE=" + p, "REDIS_URL=redis://127.0.0.1:1/0"}
	for _, args := range [][]string{{"https://img.example.com/a.jpg"}} {
		var out, errb bytes.Buffer
		err := enqueuecmd.Run(context.Background(), args, env, strings.NewReader(""), &out, &errb)
		if enqueuecmd.ExitCode(err) != 2 || !strings.Contains(err.Error(), "2 accounts are declared (a, b), but sending for several accounts is not built yet") {
			t.Errorf("enqueue %q: exit %d: %v", args, enqueuecmd.ExitCode(err), err)
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
