package inspect

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/store"
)

// LookupRouted is LookupURL for a deployment of the accounts set: it reads the keys of raw's
// account (set.Route), normalises with its rules, and the history names the account.
// A URL of no account, or of two, is the router's *normalize.Error.
func LookupRouted(ctx context.Context, rdb redis.UniversalClient, set *accounts.Set, raw string) (*History, error) {
	a, err := set.Route(raw, "")
	if err != nil {
		return nil, err
	}
	h, err := LookupURL(ctx, store.New(rdb).For(set.KeyName(a.Name)), a.Normalizer(), raw)
	if h != nil {
		h.Account = a.Name
	}
	return h, err
}
