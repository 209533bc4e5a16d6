package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/worker"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// accountVar is a variable that an accounts file takes over: a setting of one account.
type accountVar struct {
	name  string // the variable
	field string // the file's field that takes its place
	same  func(c *Config, a *accounts.Account) bool
}

// accountVars are the settings of one account. With ACCOUNTS_FILE the file owns them.
// A variable set to the file's own value is no conflict, so `make run` defaults do not clash.
var accountVars = []accountVar{
	{"CLOUDIMAGE_TOKEN", "token", func(c *Config, a *accounts.Account) bool {
		return strings.EqualFold(strings.TrimSpace(c.Cloudimage.Token), a.Token())
	}},
	{"CLOUDIMAGE_API_KEY", "api_key or api_key_file", func(c *Config, a *accounts.Account) bool { return c.Cloudimage.APIKey == a.APIKey.Reveal() }},
	{"CLOUDIMAGE_HOSTS", "hosts", func(c *Config, a *accounts.Account) bool { return slices.Equal(c.Cloudimage.Hosts, a.URL.Hosts) }},
	{"CLOUDIMAGE_LEGACY_V7", "legacy_v7", func(c *Config, a *accounts.Account) bool { return c.Cloudimage.LegacyV7 == a.URL.LegacyV7 }},
	{"CLOUDIMAGE_ORIGIN_PREFIX", "origin_prefix", func(c *Config, a *accounts.Account) bool { return c.Cloudimage.OriginPrefix == a.URL.OriginPrefix }},
	{"CLOUDIMAGE_ALIASES", "aliases", func(c *Config, a *accounts.Account) bool {
		m, err := normalize.ParseAliases(c.Cloudimage.Aliases)
		return err == nil && maps.Equal(m, a.URL.Aliases)
	}},
	{"PURGE_RATE", "rate", func(c *Config, a *accounts.Account) bool { return c.Purge.Rate == a.Rate }},
	{"PURGE_BURST", "burst", func(c *Config, a *accounts.Account) bool { return c.Purge.Burst == a.Burst }},
	{"PURGE_CONFIRM_RATE", "confirm_rate", func(c *Config, a *accounts.Account) bool { return c.Purge.ConfirmRate == a.ConfirmRate }},
	{"PURGE_ALL_COOLDOWN", "flush_all.cooldown", func(c *Config, a *accounts.Account) bool { return c.Purge.AllCooldown == a.Cooldown }},
}

// loadAccounts reads ACCOUNTS_FILE, when set, into c. env is the environment as Load read it.
// The file owns each account's settings: a variable of them set to another value is refused.
// A file of one account sets the variables' fields, so every part reads it as it reads them.
// With several, every such variable is refused: each account has its own value in the file.
func (c *Config) loadAccounts(env map[string]string) error {
	path := c.Cloudimage.AccountsFile
	if path == "" {
		return nil
	}
	set, err := accounts.Load(path)
	if err != nil {
		return fmt.Errorf("ACCOUNTS_FILE=%s:\n%w", path, err)
	}
	secrets := map[string]string{"INTAKE_TOKEN": c.HTTP.IntakeToken, "INTAKE_FLUSH_TOKEN": c.HTTP.IntakeFlush, "EVENTS_TOKEN": c.HTTP.EventsToken}
	if err := set.RefuseTokenValues(secrets); err != nil {
		return fmt.Errorf("ACCOUNTS_FILE=%s:\n%w", path, err)
	}
	a, err := set.Single()
	var errs []error
	for _, v := range accountVars {
		switch {
		case env[v.name] == "":
		case err != nil:
			errs = append(errs, fmt.Errorf("%s is set, and ACCOUNTS_FILE=%s declares %d accounts (%s): each account has its own %s in the file; "+
				"unset %s, and set %s per account in the file", v.name, path, set.Len(), strings.Join(set.Names(), ", "), v.field, v.name, v.field))
		case !v.same(c, a):
			// Neither value is printed: one of them may be a key.
			errs = append(errs, fmt.Errorf("%s is set, and ACCOUNTS_FILE=%s declares the account %q with another %s: "+
				"the file owns the account's settings; unset %s, or set it in the file", v.name, path, a.Name, v.field, v.name))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.set = set
	if a == nil {
		return nil
	}
	ci := &c.Cloudimage
	ci.Token, ci.APIKey, ci.Hosts, ci.LegacyV7, ci.OriginPrefix = a.URL.Token, a.APIKey.Reveal(), a.URL.Hosts, a.URL.LegacyV7, a.URL.OriginPrefix
	c.Purge.Rate, c.Purge.Burst, c.Purge.ConfirmRate, c.Purge.AllCooldown = a.Rate, a.Burst, a.ConfirmRate, a.Cooldown
	return nil
}

// Several reports whether the deployment declares several accounts (ACCOUNTS_FILE).
// Then each account has a lane of its own, on keys and queues of its own.
func (c *Config) Several() bool { return c.set != nil && c.set.Len() > 1 }

// WorkerFor is the configuration of the lane of account a, one of Accounts.
// The rate, burst, status-check rate, flush-all cooldown and token are the account's.
// The rest is the variables'.
// With one account the lane has the keys and queues of today, whatever its name.
// So what an earlier version queued drains.
func (c *Config) WorkerFor(a *accounts.Account) worker.Config {
	w := c.Worker()
	w.Token = a.URL.Token
	w.Limit = store.Limit{Rate: a.Rate, Burst: a.Burst}
	w.ConfirmLimit = store.Limit{Rate: a.ConfirmRate, Burst: a.Burst}
	w.AllCooldown = a.Cooldown
	if c.Several() {
		w.Account = a.Name
	}
	return w
}

// Accounts returns the deployment's accounts.
// With ACCOUNTS_FILE they are the file's.
// Without it they are the one account default, built from the variables of today.
// Its errors name the variable at fault and the fix.
func (c *Config) Accounts() (*accounts.Set, error) {
	if c.set != nil {
		return c.set, nil
	}
	ci := c.Cloudimage
	aliases, err := normalize.ParseAliases(ci.Aliases)
	if err != nil {
		return nil, Explain(err)
	}
	set, err := accounts.Single(accounts.Account{
		Name: accounts.DefaultName, APIKey: accounts.Secret(ci.APIKey),
		URL:  normalize.Config{Token: ci.Token, Hosts: ci.Hosts, LegacyV7: ci.LegacyV7, OriginPrefix: ci.OriginPrefix, Aliases: aliases},
		Rate: c.Purge.Rate, Burst: c.Purge.Burst, ConfirmRate: c.Purge.ConfirmRate, Cooldown: c.Purge.AllCooldown,
	})
	if err != nil {
		var out []error
		for _, e := range joined(err) {
			out = append(out, Explain(e))
		}
		return nil, errors.Join(out...)
	}
	return set, nil
}
