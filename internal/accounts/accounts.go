package accounts

import (
	"fmt"
	"strings"
	"time"

	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// DefaultName is the name of the account of a deployment without an accounts file.
// Its keys are those of today: the hash tag {cipurge} and the queue purge.
// So what an earlier version queued drains.
const DefaultName = tasks.DefaultAccount

// MaxAccounts bounds the accounts of one deployment.
// The account is a metric label, and each account has its own queues and keys.
const MaxAccounts = 64

// Secret is a value that prints as [redacted]: an API key.
// Reveal returns it, for the one place that sends it.
type Secret string

// String hides the value.
func (Secret) String() string { return "[redacted]" }

// GoString hides the value from %#v.
func (Secret) GoString() string { return "accounts.Secret([redacted])" }

// MarshalText hides the value from JSON and YAML.
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal returns the value itself.
func (s Secret) Reveal() string { return string(s) }

// Account is one Cloudimage token with everything that is its own.
type Account struct {
	Name   string           // the bounded name: a key tag and a metric label
	APIKey Secret           // the key of the token; empty with the sandbox
	URL    normalize.Config // the token's URL rules: token, hosts, /v7/, origin prefix, aliases
	// Origins are the origin bases the account serves, canonical ("https://host/path/").
	// An origin URL under one of them is the account's.
	// The origin prefix and the alias bases count as origins too.
	Origins []string
	// Buckets are the storage buckets whose events are the account's: "bucket" or
	// "bucket/key/prefix/" for a bucket that several accounts share.
	Buckets     []string
	Rate        float64       // API requests per second; 0 is no limit
	Burst       int           // requests at once on top of the rate
	ConfirmRate float64       // status checks per second; 0 is the same as Rate
	Cooldown    time.Duration // the least time between two flush-alls; 0 is none

	norm  *normalize.Normalizer
	bases []string // Origins with the origin prefix and the alias bases, canonical
}

// Token returns the account's Cloudimage token, lower case.
// A flush-all of the account is confirmed with it.
func (a *Account) Token() string { return strings.ToLower(strings.TrimSpace(a.URL.Token)) }

// Normalizer returns the account's URL normaliser.
func (a *Account) Normalizer() *normalize.Normalizer { return a.norm }

// Set is the validated accounts of one deployment, in declared order.
// It is immutable and safe for concurrent use.
type Set struct {
	list   []*Account
	byName map[string]*Account
	hosts  map[string]*Account // the token host and every CNAME, canonical
	tokens map[string]*Account
	bucket map[string]*Account   // an entry of Buckets -> its account
	plain  *normalize.Normalizer // reads any origin URL into its plain key
	scoped []*Token              // the file's scoped tokens, in declared order
}

// All returns the accounts in declared order.
func (s *Set) All() []*Account { return s.list }

// Len returns how many accounts there are.
func (s *Set) Len() int { return len(s.list) }

// Names returns the accounts' names in declared order.
func (s *Set) Names() []string {
	out := make([]string, len(s.list))
	for i, a := range s.list {
		out[i] = a.Name
	}
	return out
}

// Lookup returns the account named name.
// An unknown name is an error that lists the declared names.
func (s *Set) Lookup(name string) (*Account, error) {
	if a, ok := s.byName[name]; ok {
		return a, nil
	}
	if len(s.list) == 1 && name == DefaultName {
		return s.list[0], nil // the one account is the default one, whatever its name
	}
	return nil, fmt.Errorf("no account is named %q: use one of %s", name, strings.Join(s.Names(), ", "))
}

// Single returns the one account of a set of one.
// A set of several is ErrSeveral: each account has its own URL rules, so code that needs one
// account's rules must find the account first (Lookup, or a URL's route).
func (s *Set) Single() (*Account, error) {
	if len(s.list) != 1 {
		return nil, &SeveralError{Names: s.Names()}
	}
	return s.list[0], nil
}

// ErrSeveral is what a SeveralError unwraps to, for errors.Is.
var ErrSeveral = fmt.Errorf("several accounts declared")

// SeveralError is the refusal of a set of several accounts where one account is needed.
// Only code that needs one account's URL rules (its token, hosts, aliases) reaches it.
// The worker, the producers and the status handle several accounts.
type SeveralError struct{ Names []string }

func (e *SeveralError) Error() string {
	return fmt.Sprintf("%d accounts are declared (%s), and this needs the URL rules of one account (token, hosts, aliases): "+
		"name the account, or let each URL route to its account's rules (docs/accounts.md)",
		len(e.Names), strings.Join(e.Names, ", "))
}

// Unwrap returns ErrSeveral.
func (e *SeveralError) Unwrap() error { return ErrSeveral }

// KeyName returns the name under which the account named name keeps its keys and queues
// (store.KeysFor, tasks.QueuesOf).
// A set of one account keeps today's keys and queues, whatever its name: DefaultName.
// So what an earlier version queued drains.
// In a set of several, each account's own name; the account named default has today's.
func (s *Set) KeyName(name string) string {
	if len(s.list) == 1 {
		return DefaultName
	}
	return name
}
