package config

import (
	"errors"
	"reflect"

	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/worker"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// The library code names Go fields and concepts, never variables.
// That code is package cipurge, pkg/ and the internal packages they import.
// This file is the one map from its typed errors to the variables behind them.

// Normalizer builds the URL normaliser from the Cloudimage settings.
// Its errors name the variable at fault and the fix.
// With ACCOUNTS_FILE it is the file's account's.
func (c *Config) Normalizer() (*normalize.Normalizer, error) {
	if c.set != nil {
		a, err := c.set.Single()
		if err != nil {
			return nil, err
		}
		return a.Normalizer(), nil
	}
	ci := c.Cloudimage
	aliases, err := normalize.ParseAliases(ci.Aliases)
	if err != nil {
		return nil, Explain(err)
	}
	n, err := normalize.New(normalize.Config{
		Token: ci.Token, Hosts: ci.Hosts, LegacyV7: ci.LegacyV7, OriginPrefix: ci.OriginPrefix, Aliases: aliases,
	})
	if err != nil {
		return nil, Explain(err)
	}
	return n, nil
}

// Status is what a status reader of this command needs: its own rate and batch size, for when
// no worker is alive, and the variable's name for the rate.
func (c *Config) Status() status.Options {
	return status.Options{FallbackRate: c.Purge.Rate, FallbackBatch: c.Purge.BatchSize, RateName: varOf(Purge{}, "Rate")}
}

// Variable names the variable behind err, a typed error of the library code.
// It returns "" when no variable is behind err.
func Variable(err error) string {
	var (
		ce *normalize.ConfigError
		se *worker.SettingError
	)
	switch {
	case errors.As(err, &se):
		return workerVars[se.Setting]
	case errors.As(err, &ce):
		// normalize.Config's fields are named like Cloudimage's.
		return varOf(Cloudimage{}, ce.Field)
	case errors.Is(err, flushall.ErrNoToken), errors.Is(err, flushall.ErrMismatch), errors.Is(err, flushall.ErrNotConfirmed):
		return varOf(Cloudimage{}, "Token")
	case errors.Is(err, flushall.ErrCoolingDown):
		return varOf(Purge{}, "AllCooldown")
	}
	return ""
}

// Explain returns err worded for an operator, with the variable behind it named.
// A *normalize.ConfigError reads with the variable in its field's place.
// Other errors get the variable after their words. errors.Is and errors.As still see err.
func Explain(err error) error {
	v := Variable(err)
	if v == "" {
		return err
	}
	var ce *normalize.ConfigError
	if errors.As(err, &ce) && ce == err {
		return &explained{msg: ce.Named(v), err: err}
	}
	return &explained{msg: err.Error() + " (" + v + ")", err: err}
}

// explained is an error of the library code worded with its variable.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// varOf returns the env tag of the field of struct s named field, or "".
func varOf(s any, field string) string {
	f, ok := reflect.TypeOf(s).FieldByName(field)
	if !ok {
		return ""
	}
	return f.Tag.Get("env")
}
