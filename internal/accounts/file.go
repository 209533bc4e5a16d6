package accounts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// file is the accounts file: YAML, with the accounts and the scoped tokens.
type file struct {
	Accounts []fileAccount `yaml:"accounts"`
	Tokens   []fileToken   `yaml:"tokens"`
}

// fileAccount is one account as written. Its yaml names are the file's field names.
type fileAccount struct {
	Name         string            `yaml:"name"`
	Token        string            `yaml:"token"`
	APIKey       string            `yaml:"api_key"`
	APIKeyFile   string            `yaml:"api_key_file"`
	Hosts        []string          `yaml:"hosts"`
	LegacyV7     bool              `yaml:"legacy_v7"`
	OriginPrefix string            `yaml:"origin_prefix"`
	Aliases      map[string]string `yaml:"aliases"`
	Origins      []string          `yaml:"origins"`
	Buckets      []string          `yaml:"buckets"`
	Rate         *float64          `yaml:"rate"`
	Burst        *int              `yaml:"burst"`
	ConfirmRate  *float64          `yaml:"confirm_rate"`
	FlushAll     struct {
		Cooldown *time.Duration `yaml:"cooldown"`
	} `yaml:"flush_all"`
}

// fields lists an account's fields, for the message about a field that is not one.
const fields = "name, token, api_key, api_key_file, hosts, legacy_v7, origin_prefix, aliases, origins, buckets, rate, burst, confirm_rate, flush_all"

// normalizeFields maps normalize.Config's fields to the file's.
var normalizeFields = map[string]string{
	"Token": "token", "Hosts": "hosts", "LegacyV7": "legacy_v7", "OriginPrefix": "origin_prefix", "Aliases": "aliases",
}

// workerFields maps the worker settings an account sets to the file's fields.
var workerFields = map[string]string{
	"Limit.Rate": "rate", "Limit.Burst": "burst", "ConfirmLimit.Rate": "confirm_rate",
	"ConfirmLimit.Burst": "burst", "AllCooldown": "flush_all.cooldown",
}

// FieldError is one problem of one account of the file.
type FieldError struct {
	Account string // the account's name, or "#N" (1-based) when it has none
	Field   string // the file's field, such as "token" or "flush_all.cooldown"
	Problem string // what is wrong and the fix
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("account %s, field %s: %s", entry(e.Account), e.Field, e.Problem)
}

// entry words the name of an entry of the file: quoted, or "#N" as it is.
func entry(name string) string {
	if strings.HasPrefix(name, "#") {
		return name
	}
	return fmt.Sprintf("%q", name)
}

// Load reads the accounts file at path and validates it (Parse).
// A relative api_key_file is read from the file's folder.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the accounts file: %v: point it at a readable YAML file (docs/accounts.md)", err)
	}
	return Parse(data, filepath.Dir(path))
}

// Parse reads and validates an accounts file. dir is where a relative api_key_file or token_file is.
// Every problem is reported, joined: each a *FieldError, a *TokenError or a problem of the YAML,
// with its line. No message holds an API key or a token's value.
func Parse(data []byte, dir string) (*Set, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	if len(f.Accounts) == 0 {
		return nil, errors.New("the accounts file declares no account: list them under accounts:, e.g. accounts: [{name: default, token: demo}] (docs/accounts.md)")
	}
	if len(f.Accounts) > MaxAccounts {
		return nil, fmt.Errorf("the accounts file declares %d accounts, more than %d: the account is a metric label, "+
			"so its values are bounded; run a second deployment for the rest", len(f.Accounts), MaxAccounts)
	}
	var errs []error
	list := make([]*Account, 0, len(f.Accounts))
	for i, fa := range f.Accounts {
		a, aerrs := fa.account(i, dir)
		errs = append(errs, aerrs...)
		list = append(list, a)
	}
	// What two accounts share is checked even when one of them has a problem of its own.
	s, err := newSet(list)
	if err != nil {
		errs = append(errs, err)
	}
	scoped, terrs := tokens(f.Tokens, list, dir)
	errs = append(errs, terrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.scoped = scoped
	return s, nil
}

// yamlError words a YAML error with the file's field names and no Go type.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("the accounts file is not valid YAML: %v", err)
	}
	var errs []error
	for _, m := range te.Errors {
		if top, ok := strings.CutSuffix(m, " not found in type accounts.file"); ok {
			m = top + " is not a field of the file: it has two, accounts (a list of accounts) and tokens (a list of scoped tokens)"
		} else if top, ok := strings.CutSuffix(m, " not found in type accounts.fileToken"); ok {
			m = top + " is not a field of a token: use " + tokenFields
		} else if i := strings.Index(m, " not found in type "); i >= 0 {
			m = m[:i] + " is not a field of an account: use " + fields
		} else if sm := typeRE.FindStringSubmatch(m); sm != nil {
			m = fmt.Sprintf("%sthe value %s is not %s (docs/accounts.md lists each field)", sm[1], sm[2], goTypes[sm[3]])
		}
		errs = append(errs, errors.New("accounts file: "+m))
	}
	return errors.Join(errs...)
}

// typeRE reads yaml's "line 5: cannot unmarshal !!str `fast` into float64".
var typeRE = regexp.MustCompile(`^(line \d+: )cannot unmarshal !!\w+ (.*) into (\S+)$`)

// goTypes words the Go types of the file's fields.
var goTypes = map[string]string{
	"float64": "a number, such as 10 or 2.5", "int": "a whole number, such as 5", "time.Duration": "a duration, such as 30m or 1h",
	"string": "a string", "bool": "true or false", "[]string": "a list, such as [a, b]", "map[string]string": "a map of alias: origin",
	"accounts.fileAccount": "an account (a map of fields)", "[]accounts.fileAccount": "a list of accounts", "accounts.file": "a map with accounts:",
	"accounts.fileToken": "a token (a map of fields)", "[]accounts.fileToken": "a list of tokens",
}

// account checks one account as written and builds it. i is its index in the file.
func (fa fileAccount) account(i int, dir string) (*Account, []error) {
	who := fa.Name
	nameProblem := tasks.CheckAccountName(fa.Name)
	if nameProblem != "" {
		who = fmt.Sprintf("#%d", i+1)
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Account: who, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if nameProblem != "" {
		bad("name", "%s", nameProblem)
	}
	a := &Account{
		Name: fa.Name, Origins: fa.Origins, Buckets: fa.Buckets, Rate: defaults.Rate, Burst: defaults.Burst, ConfirmRate: defaults.ConfirmRate, Cooldown: defaults.AllCooldown,
		URL: normalize.Config{Token: fa.Token, Hosts: fa.Hosts, LegacyV7: fa.LegacyV7, OriginPrefix: fa.OriginPrefix, Aliases: fa.Aliases},
	}
	switch {
	case fa.APIKey != "" && fa.APIKeyFile != "":
		bad("api_key", "and api_key_file are both set: use one (api_key_file keeps the key out of this file)")
	case fa.APIKeyFile != "":
		b, _, err := readSecret(dir, fa.APIKeyFile)
		if err != nil {
			bad("api_key_file", "cannot read it: %v: point it at a readable file that holds the key", err)
		}
		a.APIKey = Secret(strings.TrimRight(b, "\r\n"))
	default:
		a.APIKey = Secret(fa.APIKey)
	}
	if fa.Rate != nil {
		a.Rate = *fa.Rate
	}
	if fa.Burst != nil {
		a.Burst = *fa.Burst
	}
	if fa.ConfirmRate != nil {
		a.ConfirmRate = *fa.ConfirmRate
	}
	if fa.FlushAll.Cooldown != nil {
		a.Cooldown = *fa.FlushAll.Cooldown
	}
	for _, e := range a.build() {
		var ce *normalize.ConfigError
		var se *SendingError
		switch {
		case errors.As(e, &ce):
			bad(normalizeFields[ce.Field], "%s", ce.Reason)
		case errors.As(e, &se):
			msg := se.Say(func(field string, v any) string {
				if field == se.Setting {
					return fmt.Sprint(v)
				}
				return workerFields[field] + " " + fmt.Sprint(v)
			})
			bad(workerFields[se.Setting], "%s", strings.ReplaceAll(msg, "the rate of Limit", "the same as rate"))
		case errors.As(e, new(*bucketError)):
			bad("buckets", "%v", e)
		default:
			bad("origins", "%v", e)
		}
	}
	return a, errs
}

// readSecret reads the file at p, relative to dir unless absolute. It returns the file's text and
// its path; the error names the path and why, without the operation.
func readSecret(dir, p string) (string, string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", p, pathError(err)
	}
	return string(b), p, nil
}

// pathError is err without the operation's name: "open x: no such file" reads as the path and why.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// build makes the account's normaliser and canonical origins, and checks its sending settings
// with CheckSending.
// Errors are *normalize.ConfigError, *SendingError, or an origin's *normalize.Error.
func (a *Account) build() []error {
	var errs []error
	n, err := normalize.New(a.URL)
	if err != nil {
		errs = append(errs, err)
	} else {
		a.norm = n
	}
	if CheckSending != nil {
		for _, e := range CheckSending(a.Rate, a.Burst, a.ConfirmRate, a.Cooldown) {
			if workerFields[e.Setting] != "" && e.Setting != "ConfirmLimit.Burst" {
				errs = append(errs, e)
			}
		}
	}
	canon := make([]string, 0, len(a.Origins))
	for _, o := range a.Origins {
		if schemeLen(strings.TrimSpace(o)) == 0 {
			errs = append(errs, fmt.Errorf("entry %q is not an origin URL: give its scheme and host, such as https://storage.example.com/media/", o))
			continue
		}
		b, err := canonicalBase(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q %s", o, err.(*normalize.Error).Reason))
			continue
		}
		canon = append(canon, b)
	}
	a.Origins = canon
	for _, b := range a.Buckets {
		name, _, _ := strings.Cut(b, "/")
		if !ValidBucket(name) {
			errs = append(errs, &bucketError{fmt.Sprintf("entry %q: %q is not a bucket or container name: use letters, digits, '.', '-' and '_', "+
				"with a key prefix after a / if the bucket is shared, e.g. media/shop-a/", b, name)})
		}
	}
	return errs
}

// SendingError is a problem of an account's rate, burst, confirm rate or cooldown, as the
// worker's one check of them words it.
type SendingError struct {
	Setting string // the worker's setting, such as "Limit.Rate"
	// Say words the problem, naming each setting and its value with name.
	Say func(name func(setting string, v any) string) string
	Err error // the worker's error
}

func (e *SendingError) Error() string { return e.Err.Error() }

// Unwrap returns the worker's error.
func (e *SendingError) Unwrap() error { return e.Err }

// CheckSending checks an account's sending settings: the worker's one check of them.
// internal/worker sets it, so every command that runs or feeds a worker checks them.
// A Go program that only routes URLs with the file does not link the worker; nil checks nothing.
var CheckSending func(rate float64, burst int, confirmRate float64, cooldown time.Duration) []*SendingError

// bucketError is a bad entry of an account's buckets.
type bucketError struct{ msg string }

func (e *bucketError) Error() string { return e.msg }

// ValidBucket says whether s can be a bucket's name: 1 to 255 letters, digits, '.', '-' and '_'.
// It is loose on purpose: S3, GCS and Azure each add rules of their own.
func ValidBucket(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
