package cipurge

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// Accounts are the Cloudimage accounts of one deployment, as its accounts file declares them.
// A Client built WithAccounts writes each URL to its account's keys and queues.
// An Inspector built with InspectAccounts reads them.
// It is immutable and safe for concurrent use.
type Accounts struct{ set *accounts.Set }

// LoadAccounts reads and checks the accounts file at path: the file the workers read.
// Its errors name the account, the field and the fix, every problem at once.
// docs/accounts.md describes the file.
func LoadAccounts(path string) (*Accounts, error) {
	set, err := accounts.Load(path)
	if err != nil {
		return nil, err
	}
	return &Accounts{set: set}, nil
}

// ParseAccounts is LoadAccounts for the file's content, data.
// A relative key file is read from dir.
func ParseAccounts(data []byte, dir string) (*Accounts, error) {
	set, err := accounts.Parse(data, dir)
	if err != nil {
		return nil, err
	}
	return &Accounts{set: set}, nil
}

// Names returns the accounts' names in declared order.
func (a *Accounts) Names() []string { return a.set.Names() }

// Route returns the name of rawURL's account, from its form: its CDN host or token, its alias,
// or the account that lists its origin.
// A URL of no account, or of two, is an *InvalidURLError that names the candidates or the fix.
func (a *Accounts) Route(rawURL string) (string, error) {
	acct, err := a.set.Route(rawURL, "")
	if err != nil {
		return "", apiError("route", err)
	}
	return acct.Name, nil
}

// WithAccounts makes the client write for every account of a.
// Each URL goes to its account's keys and queues, normalised by the account's URL rules.
// WithAccount names the account of a whole request over the URLs' form.
// A flush-all names its account (FlushAllRequest.Account) and is confirmed with that account's
// token, under that account's cooldown.
// NewClient then takes a nil normaliser: each account has its own.
// It does not go with WithAccountName or WithFlushAll, whose settings are the accounts'.
// A deployment of one account keeps today's keys and queues, whatever the account's name.
func WithAccounts(a *Accounts) ClientOption {
	return func(c *clientConfig) { c.accounts = a }
}

// lane is what a client writes for one account: its producer, its URL rules and its flush-all.
type lane struct {
	name     string // the account's name, as its requests record it
	p        *producer.Producer
	norm     *normalize.Normalizer
	token    string
	cooldown time.Duration
}

// lanesOf returns a lane per account of a, in declared order, each writing to its account's keys.
func lanesOf(rdb redis.UniversalClient, a *Accounts, s producer.Settings) []*lane {
	out := make([]*lane, 0, a.set.Len())
	for _, acct := range a.set.All() {
		ls := s
		ls.Account = a.set.KeyName(acct.Name)
		out = append(out, &lane{name: acct.Name, p: producer.New(rdb, ls), norm: acct.Normalizer(), token: acct.Token(), cooldown: acct.Cooldown})
	}
	return out
}

// lane returns the client's lane of the account named name.
// "" is the client's first lane. With one account, DefaultAccount names it too.
func (c *Client) lane(name string) (*lane, error) {
	if name == "" || len(c.lanes) == 1 && name == DefaultAccount {
		return c.lanes[0], nil
	}
	for _, l := range c.lanes {
		if l.name == name {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no account is named %q: use one of %s", name, strings.Join(c.names(), ", "))
}

// Accounts returns the names of the accounts the client writes for, in declared order: one
// without WithAccounts (WithAccountName's, or DefaultAccount).
func (c *Client) Accounts() []string { return c.names() }

// names lists the accounts the client writes for.
func (c *Client) names() []string {
	out := make([]string, len(c.lanes))
	for i, l := range c.lanes {
		out[i] = l.name
	}
	return out
}

// several reports whether the client writes for several accounts: results then say each URL's.
func (c *Client) several() bool { return len(c.lanes) > 1 }

// ingest starts a normalise-and-dedupe run. With accounts, each URL is routed to its account;
// explicit, when set, names it.
func (c *Client) ingest(explicit string) *producer.Ingest {
	if c.set == nil {
		return producer.NewIngest(c.lanes[0].norm)
	}
	return producer.NewRoutedIngest(c.set, explicit)
}

// InspectorOption configures an Inspector.
type InspectorOption func(*Inspector)

// InspectAccounts makes the inspector read every account of a.
// Lookup reads the keys of the URL's account.
// Request adds up the parts of a request whose URLs span accounts.
// NewInspector then takes a nil normaliser: each account has its own.
func InspectAccounts(a *Accounts) InspectorOption {
	return func(i *Inspector) { i.accts = a }
}

// part is one account's store, for an Inspector.
type part struct {
	name string
	st   *store.Store
	norm *normalize.Normalizer
}

// partsOf returns a part per account of a.
func partsOf(rdb redis.UniversalClient, a *Accounts) []part {
	out := make([]part, 0, a.set.Len())
	for _, acct := range a.set.All() {
		out = append(out, part{name: acct.Name, st: store.New(rdb).For(a.set.KeyName(acct.Name)), norm: acct.Normalizer()})
	}
	return out
}
