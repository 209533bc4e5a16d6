package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/defaults"
)

// writeAccounts writes an accounts file and returns its path.
func writeAccounts(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAccountsWithoutFile: the variables of today make the one account default.
func TestAccountsWithoutFile(t *testing.T) {
	c, err := Load([]string{"CLOUDIMAGE_TOKEN=demo", "CLOUDIMAGE_API_KEY=k-secret", "CLOUDIMAGE_HOSTS=img.example.com",
		"CLOUDIMAGE_ALIASES=_m_=https://m.example.com/x", "PURGE_RATE=3", "PURGE_ALL_COOLDOWN=5m"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	a, err := set.Single()
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != accounts.DefaultName || a.Token() != "demo" || a.APIKey.Reveal() != "k-secret" || a.Rate != 3 ||
		a.Burst != defaults.Burst || a.Cooldown != 5*time.Minute || a.URL.Aliases["_m_"] != "https://m.example.com/x" {
		t.Errorf("default account: %+v", a)
	}
	if _, err := (&Config{Cloudimage: Cloudimage{Token: "de mo"}, Purge: Purge{Burst: 1}}).Accounts(); err == nil ||
		!strings.Contains(err.Error(), "CLOUDIMAGE_TOKEN") {
		t.Errorf("an error names the variable: %v", err)
	}
}

// TestAccountsFileOfOne: one account in the file runs as the variables of today would.
func TestAccountsFileOfOne(t *testing.T) {
	p := writeAccounts(t, `
accounts:
  - name: shop
    token: demo
    api_key: k-secret
    hosts: [img.example.com]
    origin_prefix: https://s.example.com/media/
    rate: 4
    burst: 2
    flush_all: {cooldown: 10m}
`)
	// CLOUDIMAGE_TOKEN=demo is what `make run` sets: the file's own value is no conflict.
	c, err := Load([]string{"ACCOUNTS_FILE=" + p, "CLOUDIMAGE_TOKEN=demo"})
	if err != nil {
		t.Fatal(err)
	}
	w := c.Worker()
	if w.Token != "demo" || w.Limit.Rate != 4 || w.Limit.Burst != 2 || w.AllCooldown != 10*time.Minute || c.Cloudimage.APIKey != "k-secret" {
		t.Errorf("worker settings from the file: %+v", w)
	}
	n, err := c.Normalizer()
	if err != nil {
		t.Fatal(err)
	}
	if k, err := n.Normalize("https://s.example.com/media/a.jpg"); err != nil || k != "a.jpg" {
		t.Errorf("the file's URL rules: %q, %v", k, err)
	}
	set, _ := c.Accounts()
	if a, err := set.Lookup(accounts.DefaultName); err != nil || a.Name != "shop" {
		t.Errorf("the one account is the default: %v, %v", a, err)
	}
	if err := c.ValidateAPI(); err != nil {
		t.Errorf("ValidateAPI: %v", err)
	}
}

// TestAccountsFileErrors: the file's problems name ACCOUNTS_FILE, the account and the field.
// A variable the file owns, set to another value, is refused without printing either value.
func TestAccountsFileErrors(t *testing.T) {
	p := writeAccounts(t, "accounts:\n  - {name: shop, token: demo, api_key: file-secret}\n")
	_, err := Load([]string{"ACCOUNTS_FILE=" + p, "CLOUDIMAGE_TOKEN=other", "CLOUDIMAGE_API_KEY=env-secret", "PURGE_RATE=3", "PURGE_WINDOW=2s"})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{
		`CLOUDIMAGE_TOKEN is set, and ACCOUNTS_FILE=` + p + ` declares the account "shop" with another token`,
		`CLOUDIMAGE_API_KEY is set`, `PURGE_RATE is set`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "PURGE_WINDOW") {
		t.Errorf("a key or an unowned variable in %v", err)
	}
	bad := writeAccounts(t, "accounts:\n  - {name: shop, token: '', rate: -1}\n")
	if _, err := Load([]string{"ACCOUNTS_FILE=" + bad}); err == nil || !strings.Contains(err.Error(), "ACCOUNTS_FILE="+bad+":\n") ||
		!strings.Contains(err.Error(), `account "shop", field token: is empty`) || !strings.Contains(err.Error(), `account "shop", field rate: -1 is negative`) {
		t.Errorf("file errors: %v", err)
	}
	noKey := writeAccounts(t, "accounts:\n  - {name: shop, token: demo}\n")
	c, err := Load([]string{"ACCOUNTS_FILE=" + noKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateAPI(); err == nil || !strings.Contains(err.Error(), `ACCOUNTS_FILE's account "shop" has no api_key`) {
		t.Errorf("ValidateAPI without a key: %v", err)
	}
}

// TestAccountsFileOfSeveral: a file of several accounts loads. Each lane takes the account's own
// settings and keys, the rest from the variables. A variable the file owns is refused, naming
// the field to set per account. ValidateAPI checks every account's key.
func TestAccountsFileOfSeveral(t *testing.T) {
	p := writeAccounts(t, "accounts:\n  - {name: a, token: ta, api_key: ka, rate: 3, burst: 2, confirm_rate: 1, flush_all: {cooldown: 5m}}\n"+
		"  - {name: default, token: tb, api_key: kb}\n")
	c, err := Load([]string{"ACCOUNTS_FILE=" + p, "PURGE_WINDOW=3s"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Several() {
		t.Error("Several is false")
	}
	set, _ := c.Accounts()
	a, _ := set.Lookup("a")
	w := c.WorkerFor(a)
	if w.Account != "a" || w.Token != "ta" || w.Limit.Rate != 3 || w.Limit.Burst != 2 || w.ConfirmLimit.Rate != 1 ||
		w.AllCooldown != 5*time.Minute || w.Window != 3*time.Second {
		t.Errorf("lane a: %+v", w)
	}
	b, _ := set.Lookup("default")
	if w := c.WorkerFor(b); w.Account != accounts.DefaultName || w.Limit.Rate != defaults.Rate || w.Token != "tb" {
		t.Errorf("lane default: %+v", w)
	}
	if _, err := c.Normalizer(); !errors.Is(err, accounts.ErrSeveral) {
		t.Errorf("Normalizer with several accounts: %v", err)
	}
	if err := c.ValidateAPI(); err != nil {
		t.Errorf("ValidateAPI: %v", err)
	}
	if err := (&Config{Cloudimage: Cloudimage{Sandbox: true}, set: set}).ValidateAPI(); err == nil ||
		!strings.Contains(err.Error(), `account "a" has an api_key`) || !strings.Contains(err.Error(), `account "default" has an api_key`) {
		t.Errorf("ValidateAPI with the sandbox and keys: %v", err)
	}
	noKey := writeAccounts(t, "accounts:\n  - {name: a, token: ta, api_key: ka}\n  - {name: b, token: tb}\n")
	if c, err := Load([]string{"ACCOUNTS_FILE=" + noKey}); err != nil {
		t.Fatal(err)
	} else if err := c.ValidateAPI(); err == nil || !strings.Contains(err.Error(), `ACCOUNTS_FILE's account "b" has no api_key`) || strings.Contains(err.Error(), `"a"`) {
		t.Errorf("ValidateAPI with a key missing: %v", err)
	}
	_, err = Load([]string{"ACCOUNTS_FILE=" + p, "PURGE_RATE=3", "CLOUDIMAGE_API_KEY=env-secret"})
	for _, want := range []string{
		"PURGE_RATE is set, and ACCOUNTS_FILE=" + p + " declares 2 accounts (a, default): each account has its own rate in the file; unset PURGE_RATE, and set rate per account in the file",
		"CLOUDIMAGE_API_KEY is set",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Errorf("a key in %v", err)
	}
}

// TestAccountsFileTokenIsNotAGlobalToken: a scoped token with the value of a token that reaches
// every account is refused, naming both, never the value.
func TestAccountsFileTokenIsNotAGlobalToken(t *testing.T) {
	p := writeAccounts(t, "accounts:\n  - {name: shop, token: demo}\n"+
		"tokens:\n  - {name: cms, token: shared-secret-1, accounts: [shop], may: [enqueue]}\n")
	_, err := Load([]string{"ACCOUNTS_FILE=" + p, "INTAKE_TOKEN=shared-secret-1"})
	want := `token "cms", field token: the value is also INTAKE_TOKEN, which reaches every account`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "shared-secret") {
		t.Errorf("err = %v, want %q", err, want)
	}
	if _, err := Load([]string{"ACCOUNTS_FILE=" + p, "INTAKE_TOKEN=other-secret-1"}); err != nil {
		t.Errorf("distinct values: %v", err)
	}
}
