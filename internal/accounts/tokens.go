package accounts

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// What a scoped token may do: the values of a token's field may.
const (
	MayEnqueue = "enqueue" // POST /v1/invalidations for its accounts
	MayLookup  = "lookup"  // read its accounts' requests and URL histories
	MayFlush   = "flush"   // request a flush-all of one of its accounts
	MayEvents  = "events"  // post storage events whose URLs are its accounts'
)

// mays lists the values of may, in the order the docs give them.
var mays = []string{MayEnqueue, MayLookup, MayFlush, MayEvents}

// Token is a bearer token of the intake and the event receivers limited to some accounts.
// Its value is a Secret: it prints as [redacted] and is in no message.
type Token struct {
	Name     string   // names the token in the file's messages and in logs; never its value
	Value    Secret   // what a caller sends as "Authorization: Bearer <value>"
	Accounts []string // the accounts it reaches, by name
	May      []string // what it may do: MayEnqueue, MayLookup, MayFlush, MayEvents
}

// Reaches reports whether the token reaches the account named account.
func (t *Token) Reaches(account string) bool { return slices.Contains(t.Accounts, account) }

// Can reports whether the token may do what (one of the May* values).
func (t *Token) Can(what string) bool { return slices.Contains(t.May, what) }

// Only returns the token's account when it reaches exactly one, else "".
func (t *Token) Only() string {
	if len(t.Accounts) == 1 {
		return t.Accounts[0]
	}
	return ""
}

// Tokens returns the scoped tokens of the file, in declared order.
func (s *Set) Tokens() []*Token { return s.scoped }

// fileToken is one scoped token as written. Its yaml names are the file's field names.
type fileToken struct {
	Name      string   `yaml:"name"`
	Token     string   `yaml:"token"`
	TokenFile string   `yaml:"token_file"`
	Accounts  []string `yaml:"accounts"`
	May       []string `yaml:"may"`
}

// tokenFields lists a token's fields, for the message about a field that is not one.
const tokenFields = "name, token, token_file, accounts, may"

// TokenError is one problem of one scoped token of the file.
type TokenError struct {
	Token   string // the token's name, or "#N" (1-based) when it has none; never its value
	Field   string // the file's field, such as "accounts" or "may"
	Problem string // what is wrong and the fix
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token %s, field %s: %s", entry(e.Token), e.Field, e.Problem)
}

// tokens checks the file's scoped tokens against the accounts list and builds them.
// A relative token_file is read from dir.
func tokens(in []fileToken, list []*Account, dir string) ([]*Token, []error) {
	var errs []error
	out := make([]*Token, 0, len(in))
	names := map[string]bool{}
	values := map[Secret]string{}
	for i, ft := range in {
		t, who, terrs := ft.token(i, list, dir)
		errs = append(errs, terrs...)
		bad := func(field, format string, args ...any) {
			errs = append(errs, &TokenError{Token: who, Field: field, Problem: fmt.Sprintf(format, args...)})
		}
		if names[t.Name] && !strings.HasPrefix(who, "#") {
			bad("name", "names two tokens: give each token its own name")
		}
		names[t.Name] = true
		if t.Value != "" {
			if o, dup := values[t.Value]; dup {
				bad(valueField(ft), "has the same value as token %s: give each token its own secret value", o)
			}
			values[t.Value] = fmt.Sprintf("%q", t.Name)
		}
		out = append(out, t)
	}
	return out, errs
}

// valueField is the field that holds the token's value as written.
func valueField(ft fileToken) string {
	if ft.TokenFile != "" {
		return "token_file"
	}
	return "token"
}

// token checks one token as written and builds it. i is its index in the file.
// who is how its messages name it.
func (ft fileToken) token(i int, list []*Account, dir string) (t *Token, who string, errs []error) {
	who = ft.Name
	if p := tasks.CheckAccountName(ft.Name); p != "" {
		who = fmt.Sprintf("#%d", i+1)
		errs = append(errs, &TokenError{Token: who, Field: "name", Problem: strings.Replace(p, "the account", "the token", 1)})
	}
	bad := func(field, format string, args ...any) {
		errs = append(errs, &TokenError{Token: who, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	t = &Token{Name: ft.Name}
	switch {
	case ft.Token != "" && ft.TokenFile != "":
		bad("token", "and token_file are both set: use one (token_file keeps the secret out of this file)")
	case ft.TokenFile != "":
		b, p, err := readSecret(dir, ft.TokenFile)
		if err != nil {
			bad("token_file", "cannot read it: %v: point it at a readable file that holds the token", err)
		}
		t.Value = Secret(strings.TrimSpace(b))
		if err == nil && t.Value == "" {
			bad("token_file", "the file %s is empty: write the token's secret value in it", p)
		}
	case strings.TrimSpace(ft.Token) == "":
		bad("token", "is missing: set token_file (a file that holds the secret) or token")
	default:
		t.Value = Secret(strings.TrimSpace(ft.Token))
	}
	if strings.ContainsAny(t.Value.Reveal(), " \t\r\n") {
		bad(valueField(ft), "the value holds a space or a line break: a bearer token is one word; remove them")
	}
	for _, a := range list {
		if t.Value != "" && strings.EqualFold(t.Value.Reveal(), a.Token()) {
			bad(valueField(ft), "the value is the Cloudimage token of account %q, which every CDN URL of it shows: use a secret value", a.Name)
		}
	}
	t.Accounts = tokenAccounts(ft.Accounts, list, bad)
	t.May = tokenMay(ft.May, bad)
	return t, who, errs
}

// tokenAccounts checks the names of a token's accounts against list and returns them, each once.
func tokenAccounts(in []string, list []*Account, bad func(field, format string, args ...any)) []string {
	declared := make([]string, 0, len(list))
	for _, a := range list {
		declared = append(declared, a.Name)
	}
	return listOf(in, declared, func(format string, args ...any) { bad("accounts", format, args...) },
		"is empty: list the accounts the token reaches, e.g. accounts: ["+declared[0]+"]",
		"%q is not an account of this file: use one of "+strings.Join(declared, ", "))
}

// tokenMay checks what a token may do and returns it, each once.
func tokenMay(in []string, bad func(field, format string, args ...any)) []string {
	all := strings.Join(mays, ", ")
	return listOf(in, mays, func(format string, args ...any) { bad("may", format, args...) },
		"is empty: say what the token may do, any of "+all+", e.g. may: [enqueue, lookup]",
		"%q is not something a token may do: use any of "+all)
}

// listOf checks a list field: not empty, each entry one of allowed.
// It returns the entries, each once. empty is the problem of an empty list; unknown words an
// entry that is not allowed, given the entry.
func listOf(in, allowed []string, bad func(format string, args ...any), empty, unknown string) []string {
	if len(in) == 0 {
		bad("%s", empty)
	}
	var out []string
	for _, v := range in {
		switch {
		case !slices.Contains(allowed, v):
			bad(unknown, v)
		case !slices.Contains(out, v):
			out = append(out, v)
		}
	}
	return out
}

// RefuseTokenValues refuses a scoped token whose value equals one of the secrets given.
// secrets maps the name of a deployment-wide secret (the setting that holds it) to its value.
// A scoped token with that value would reach every account, whatever its accounts say.
// The messages name the token and the setting, never the value.
func (s *Set) RefuseTokenValues(secrets map[string]string) error {
	var errs []error
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, t := range s.scoped {
		for _, n := range names {
			if v := secrets[n]; v != "" && strings.TrimSpace(v) == t.Value.Reveal() {
				errs = append(errs, &TokenError{Token: t.Name, Field: "token", Problem: fmt.Sprintf(
					"the value is also %s, which reaches every account: give the scoped token its own secret value", n)})
			}
		}
	}
	return errors.Join(errs...)
}
