package accounts

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// scopedTokens are the tokens of three's accounts, one of each kind.
const scopedTokens = `
tokens:
  - name: cms-shop-a
    token_file: cms.token
    accounts: [shop-a]
    may: [enqueue, lookup]
  - name: ops
    token: ops-secret-value-1
    accounts: [shop-a, shop-b, shop-a]
    may: [enqueue, lookup, flush, events, flush]
`

// parseTokens parses three with scopedTokens.
func parseTokens(t *testing.T) *Set {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, "b.key", "key-b-secret\n")
	write(t, dir, "cms.token", "cms-secret-value-1\n")
	s, err := Parse([]byte(three+scopedTokens), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseTokens(t *testing.T) {
	s := parseTokens(t)
	toks := s.Tokens()
	if len(toks) != 2 {
		t.Fatalf("%d tokens, want 2", len(toks))
	}
	cms, ops := toks[0], toks[1]
	if cms.Name != "cms-shop-a" || cms.Value.Reveal() != "cms-secret-value-1" || cms.Only() != "shop-a" {
		t.Errorf("cms: %+v", cms)
	}
	if !cms.Can(MayEnqueue) || !cms.Can(MayLookup) || cms.Can(MayFlush) || cms.Can(MayEvents) {
		t.Errorf("cms may %v", cms.May)
	}
	if !cms.Reaches("shop-a") || cms.Reaches("shop-b") {
		t.Errorf("cms reaches %v", cms.Accounts)
	}
	if !slices.Equal(ops.Accounts, []string{"shop-a", "shop-b"}) || len(ops.May) != 4 || ops.Only() != "" {
		t.Errorf("ops: accounts %v, may %v", ops.Accounts, ops.May)
	}
	if strings.Contains(strings.Join([]string{ops.Value.String(), cms.Value.String()}, " "), "secret") {
		t.Error("a token's value prints")
	}
	if s2 := parseThree(t); len(s2.Tokens()) != 0 {
		t.Errorf("a file without tokens has %d", len(s2.Tokens()))
	}
}

func TestParseTokenErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.key", "key-b-secret\n")
	write(t, dir, "empty.token", "\n")
	bad := `
tokens:
  - name: Bad Name
    token: hunter2-value-a
    accounts: [shop-a]
    may: [enqueue]
  - name: both
    token: hunter2-value-b
    token_file: x.token
    accounts: []
    may: []
  - name: unknown
    token: hunter2-value-c
    accounts: [shop-x]
    may: [purge]
  - name: unknown
    token: hunter2-value-c
    accounts: [shop-a]
    may: [lookup]
  - name: none
    accounts: [shop-a]
    may: [lookup]
  - name: empty
    token_file: empty.token
    accounts: [shop-a]
    may: [lookup]
  - name: missing
    token_file: missing.token
    accounts: [shop-a]
    may: [lookup]
  - name: public
    token: SHOPB
    accounts: [shop-b]
    may: [lookup]
  - name: spaced
    token: "hunter2 value"
    accounts: [shop-b]
    may: [lookup]
`
	_, err := Parse([]byte(three+bad), dir)
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, w := range []string{
		`token #1, field name: "Bad Name" has "B": use only lower-case letters`,
		`token "both", field token: and token_file are both set: use one`,
		`token "both", field accounts: is empty: list the accounts the token reaches, e.g. accounts: [shop-a]`,
		`token "both", field may: is empty: say what the token may do, any of enqueue, lookup, flush, events`,
		`token "unknown", field accounts: "shop-x" is not an account of this file: use one of shop-a, shop-b, shop-c`,
		`token "unknown", field may: "purge" is not something a token may do: use any of enqueue, lookup, flush, events`,
		`token "unknown", field name: names two tokens`,
		`token "unknown", field token: has the same value as token "unknown"`,
		`token "none", field token: is missing: set token_file (a file that holds the secret) or token`,
		`token "empty", field token_file: the file ` + filepath.Join(dir, "empty.token") + ` is empty`,
		`token "missing", field token_file: cannot read it: ` + filepath.Join(dir, "missing.token") + `: no such file or directory`,
		`token "public", field token: the value is the Cloudimage token of account "shop-b"`,
		`token "spaced", field token: the value holds a space`,
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("a token's value in:\n%s", msg)
	}
	_, err = Parse([]byte(three+"tokens:\n  - {name: a, token: x, accounts: [shop-a], may: [lookup], scope: all}\n"), dir)
	if err == nil || !strings.Contains(err.Error(), "field scope is not a field of a token: use name, token, token_file, accounts, may") {
		t.Errorf("unknown field: %v", err)
	}
}

// TestRefuseTokenValues: a scoped token may not share its value with a token that reaches every
// account; the message names the setting and the token, not the value.
func TestRefuseTokenValues(t *testing.T) {
	s := parseTokens(t)
	if err := s.RefuseTokenValues(map[string]string{"INTAKE_TOKEN": "other", "EVENTS_TOKEN": ""}); err != nil {
		t.Errorf("distinct values refused: %v", err)
	}
	err := s.RefuseTokenValues(map[string]string{"INTAKE_TOKEN": "other", "INTAKE_FLUSH_TOKEN": "ops-secret-value-1"})
	want := `token "ops", field token: the value is also INTAKE_FLUSH_TOKEN, which reaches every account`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
