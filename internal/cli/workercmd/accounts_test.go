package workercmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeveralAccountsVariableRefused: with a file of several accounts, a variable that is an
// account's setting stops the worker at start, exit 2, before it touches Redis. The message names
// the file's field to set per account. A key missing from one account names that account.
func TestSeveralAccountsVariableRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(p, []byte("accounts:\n  - {name: a, token: a, api_key: ka}\n  - {name: b, token: b}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	// Port 1 refuses connections: a worker that got past its configuration would fail on Redis instead.
	env := []string{"ACCOUNTS_FILE=" + p, "REDIS_URL=redis://127.0.0.1:1/0"}
	err := Run(context.Background(), nil, append(env, "PURGE_BURST=3"), &out, &errb)
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "PURGE_BURST is set, and ACCOUNTS_FILE="+p+" declares 2 accounts (a, b): each account has its own burst in the file") {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	err = Run(context.Background(), nil, env, &out, &errb)
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), `ACCOUNTS_FILE's account "b" has no api_key`) {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
}
