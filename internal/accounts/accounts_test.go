package accounts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// three is a file of three accounts, one of each URL rule.
const three = `
accounts:
  - name: shop-a
    token: shopa
    api_key: key-a-secret
    hosts: [img.shop-a.com]
    origins: [https://storage.shop-a.com/]
    rate: 4
    burst: 2
    flush_all: {cooldown: 2h}
  - name: shop-b
    token: shopb
    api_key_file: b.key
    origin_prefix: https://bucket.example.com/b/
    aliases: {_media_: https://media.example.com/b}
  - name: shop-c
    token: shopc
    legacy_v7: true
    aliases: {_media_: https://media.example.com/c}
    origins: [https://shared.example.com/, https://bucket.example.com/]
`

func parseThree(t *testing.T) *Set {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "b.key"), []byte("key-b-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Parse([]byte(three), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParse(t *testing.T) {
	s := parseThree(t)
	if got := strings.Join(s.Names(), ","); got != "shop-a,shop-b,shop-c" {
		t.Fatalf("names %s", got)
	}
	a, b, c := s.All()[0], s.All()[1], s.All()[2]
	if a.Rate != 4 || a.Burst != 2 || a.Cooldown != 2*time.Hour || a.APIKey.Reveal() != "key-a-secret" {
		t.Errorf("shop-a: %+v", a)
	}
	// Unset fields take the defaults of today, from internal/defaults.
	if b.Rate != defaults.Rate || b.Burst != defaults.Burst || b.ConfirmRate != defaults.ConfirmRate || b.Cooldown != defaults.AllCooldown {
		t.Errorf("shop-b defaults: %+v", b)
	}
	if b.APIKey.Reveal() != "key-b-secret" {
		t.Errorf("shop-b key from its file: %q", b.APIKey.Reveal())
	}
	if !c.Normalizer().LegacyV7() || c.Token() != "shopc" {
		t.Errorf("shop-c: %+v", c)
	}
	// The key never prints.
	for _, out := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), fmt.Sprintf("%v", *a)} {
		if strings.Contains(out, "key-a-secret") {
			t.Errorf("the key printed: %s", out)
		}
	}
}

// TestParseErrors: every problem of the file at once, each naming the account, the field and the fix.
// It runs over 80 lines on purpose: most of it is the table of cases.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"empty", ``, []string{"declares no account"}},
		{"no list", `accounts: []`, []string{"declares no account"}},
		{"too many", "accounts:\n" + strings.Repeat("  - {name: a, token: a}\n", MaxAccounts+1), []string{"declares 65 accounts, more than 64"}},
		{"not yaml", `accounts: [`, []string{"not valid YAML"}},
		{"unknown field", "accounts:\n  - name: a\n    token: a\n    rat: 4\n",
			[]string{"line 4: field rat is not a field of an account: use name, token"}},
		{"unknown top-level field", "accounts:\n  - {name: a, token: a}\ntoken: []\n",
			[]string{"line 3: field token is not a field of the file: it has two, accounts (a list of accounts) and tokens"}},
		{"wrong type", "accounts:\n  - name: a\n    token: a\n    rate: fast\n", []string{"line 4: the value `fast` is not a number"}},
		{"bad duration", "accounts:\n  - name: a\n    token: a\n    flush_all: {cooldown: soon}\n", []string{"line 4: the value `soon` is not a duration"}},
		// The rates and the cooldown are the worker's to check: TestAccountsFileSending in internal/worker.
		{"every problem at once", `
accounts:
  - name: Shop A
    token: demo.cloudimg.io
    rate: -1
    burst: 0
  - name: ""
    token: ""
    api_key: k
    api_key_file: k.txt
  - name: c
    token: c
    api_key_file: missing.key
    origin_prefix: "https://c.cloudimg.io/x/"
    confirm_rate: -2
    flush_all: {cooldown: -1s}
  - name: d
    token: d
    hosts: [img.d.com/path]
    origins: ["https://d.cloudimg.io/", "ftp://x/"]
  - name: this-name-is-far-longer-than-thirty-two
    token: e
    aliases: {media: "https://m.example.com/"}
`, []string{
			`account #1, field name: "Shop A" has "S": use only lower-case letters, digits, - and _`,
			`account #1, field token: "demo.cloudimg.io" is a host or URL, not a token`,
			`account #2, field name: is empty`,
			`account #2, field api_key: and api_key_file are both set: use one`,
			`account #2, field token: is empty: set it to your Cloudimage token`,
			`account "c", field api_key_file: cannot read it:`,
			`account "c", field origin_prefix:`,
			`account "d", field hosts: entry "img.d.com/path" has a path`,
			`account "d", field origins: entry "https://d.cloudimg.io/" is a Cloudimage host`,
			`account "d", field origins: entry "ftp://x/"`,
			`account #5, field name: "this-name-is-far-longer-than-thirty-two" is longer than 32 characters`,
			`account #5, field aliases: alias name "media" must start and end with "_"`,
		}},
		{"shared between accounts", `
accounts:
  - {name: a, token: a, hosts: [img.example.com]}
  - {name: a, token: b}
  - {name: c, token: A, hosts: ["https://IMG.example.com/"]}
`, []string{
			`account "a", field name: names two accounts`,
			`account "c", field token: "a" is also the token of account "a"`,
			`account "c", field hosts: "img.example.com" is also a host of account "a"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file), t.TempDir())
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "accounts.file") || strings.Contains(msg, "Limit.") {
				t.Errorf("a Go name in:\n%s", msg)
			}
		})
	}
}

// TestErrorsHoldNoKey: a key in the file never shows in a message, whatever else is wrong.
func TestErrorsHoldNoKey(t *testing.T) {
	_, err := Parse([]byte("accounts:\n  - {name: A, token: '', api_key: hunter2-secret, api_key_file: x, rate: -1}\n"), t.TempDir())
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "cannot read the accounts file") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(p, []byte("accounts:\n  - {name: only, token: demo, api_key_file: key}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), "key"), []byte("k1\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Single()
	if err != nil || a.Name != "only" || a.APIKey.Reveal() != "k1" {
		t.Fatalf("single: %+v, %v", a, err)
	}
	// The one account answers to its name and to default.
	for _, n := range []string{"only", DefaultName} {
		if got, err := s.Lookup(n); err != nil || got != a {
			t.Errorf("Lookup(%s) = %v, %v", n, got, err)
		}
	}
}

// TestSingleIsGated: several accounts are refused where one is needed, with a message that says why.
func TestSingleIsGated(t *testing.T) {
	_, err := parseThree(t).Single()
	if !errors.Is(err, ErrSeveral) || !strings.Contains(err.Error(), "3 accounts are declared (shop-a, shop-b, shop-c), and this needs the URL rules of one account") {
		t.Fatalf("err = %v", err)
	}
}

func TestSingle(t *testing.T) {
	s, err := Single(Account{URL: normalize.Config{Token: "demo"}, Rate: 10, Burst: 5})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Single(); a.Name != DefaultName {
		t.Errorf("name %q", a.Name)
	}
	_, err = Single(Account{URL: normalize.Config{Token: "de mo"}, Burst: 0})
	var ce *normalize.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Token" { // Burst 0 is the worker's to refuse: TestSingleSending

		t.Errorf("errors for the caller to word: %v", err)
	}
}
