// Package wiring builds, from the configuration, the parts that both commands (worker and
// enqueue) need, so that each is built one way: today the URL normaliser. internal/config reads
// and validates the environment and knows no domain package; this is where the two meet.
package wiring

import (
	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// Normalizer builds the URL normaliser from the CLOUDIMAGE_* variables. Its errors name the
// variable (CLOUDIMAGE_ALIASES, CLOUDIMAGE_ORIGIN_PREFIX, ...).
func Normalizer(c *config.Config) (*normalize.Normalizer, error) {
	ci := c.Cloudimage
	aliases, err := normalize.ParseAliases(ci.Aliases)
	if err != nil {
		return nil, err
	}
	return normalize.New(normalize.Config{
		Token: ci.Token, Hosts: ci.Hosts, LegacyV7: ci.LegacyV7, OriginPrefix: ci.OriginPrefix, Aliases: aliases,
	})
}
