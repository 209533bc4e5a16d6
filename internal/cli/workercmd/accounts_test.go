package workercmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeveralAccountsRefused: a file of several accounts stops the worker at start, exit 2, before
// it touches Redis, with a message that says sending for several accounts is not built yet.
func TestSeveralAccountsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(p, []byte("accounts:\n  - {name: a, token: a}\n  - {name: b, token: b}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	// Port 1 refuses connections: a worker that got past its configuration would fail on Redis instead.
	err := Run(context.Background(), nil, []string{"ACCOUNTS_FILE=" + p, "CLOUDIMAGE_SANDBOX=true", "REDIS_URL=redis://127.0.0.1:1/0"}, &out, &errb)
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "ACCOUNTS_FILE="+p+": 2 accounts are declared (a, b), but sending for several accounts is not built yet") {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
}
