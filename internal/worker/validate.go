package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// A SettingError is one setting of a Config the worker cannot run with.
// internal/config words it with the environment variable's name.
type SettingError struct {
	Setting    string // the Config field, such as "MaxRetry" or "Limit.Burst"
	Value      any    // the value given
	Problem    string // what is wrong with it, such as "is out of range"
	Other      string // the field Problem compares with, or ""
	OtherValue any    // the value of Other
	Fix        string // what to use instead, such as "use 0 to 100"
}

// Error words e with the Config's field names.
func (e *SettingError) Error() string {
	return "worker: " + e.Say(func(field string, v any) string { return fmt.Sprintf("%s %v", field, v) })
}

// Say words e, naming each setting and its value with name.
func (e *SettingError) Say(name func(field string, v any) string) string {
	s := name(e.Setting, e.Value) + " " + e.Problem
	if e.Other != "" {
		s += " " + name(e.Other, e.OtherValue)
	}
	return s + ": " + e.Fix
}

// Validate refuses settings the worker cannot run with.
// It is the one check of the worker's settings: New calls it after WithDefaults, and
// internal/config calls it on the settings it read.
// Each problem is a *SettingError; several are joined.
// The bounds are internal/defaults'.
func (c Config) Validate() error {
	v := validation{}
	v.between("BatchSize", c.BatchSize, 1, tasks.MaxURLsPerTask, ", the API's cap")
	v.between("Concurrency", c.Concurrency, 1, defaults.MaxConcurrency, "")
	v.between("MaxRetry", c.MaxRetry, 0, defaults.MaxRetryLimit, "")
	v.between("MaxResends", c.MaxResends, 0, defaults.MaxResendsLimit, "")
	v.between("Webhook.Concurrency", c.Webhook.Concurrency, 1, defaults.MaxConcurrency, "")
	v.between("Limit.Burst", c.Limit.Burst, 1, -1, "")
	v.between("ConfirmLimit.Burst", c.ConfirmLimit.Burst, 1, -1, "")
	v.between("PrefixLimit.Burst", c.PrefixLimit.Burst, 1, -1, "")
	v.rate("Limit.Rate", c.Limit.Rate, "0 for no limit")
	v.rate("ConfirmLimit.Rate", c.ConfirmLimit.Rate, "0 for the rate of Limit")
	v.rate("PrefixLimit.Rate", c.PrefixLimit.Rate, "0 for no limit")
	v.atLeast("Window", c.Window, defaults.MinWindow)
	v.atLeast("HistoryTTL", c.HistoryTTL, defaults.MinHistoryTTL)
	v.atLeast("ShutdownTimeout", c.ShutdownTimeout, defaults.MinShutdown)
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"RetryBase", c.RetryBase}, {"BackoffBase", c.BackoffBase}, {"BackoffMax", c.BackoffMax},
		{"AuthProbe", c.AuthProbe}, {"ConfirmTimeout", c.ConfirmTimeout}, {"ConfirmDelay", c.ConfirmDelay},
	} {
		v.atLeast(d.name, d.d, defaults.MinPeriod)
	}
	// Zero means the default for these.
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"AllCooldown", c.AllCooldown}, {"Tick", c.Tick}, {"MaxInSlotWait", c.MaxInSlotWait},
		{"RetryCheck", c.RetryCheck}, {"DeadLetterSweep", c.DeadLetterSweep},
	} {
		if d.d < 0 {
			v.bad(&SettingError{Setting: d.name, Value: d.d, Problem: "is negative", Fix: "use 0 or a positive duration"})
		}
	}
	if p := tasks.CheckAccountName(c.Account); c.Account != "" && p != "" {
		v.bad(&SettingError{Setting: "Account", Value: c.Account, Problem: "is not an account's name: " + p, Fix: "use the name the account is declared with, e.g. shop-a"})
	}
	v.notShorter("MaxDelay", c.MaxDelay, "Window", c.Window)
	v.notShorter("BackoffMax", c.BackoffMax, "BackoffBase", c.BackoffBase)
	return errors.Join(v.errs...)
}

// validation gathers the problems Validate finds.
type validation struct{ errs []error }

func (v *validation) bad(e *SettingError) { v.errs = append(v.errs, e) }

// between refuses n outside lo to hi; hi < 0 means no upper bound.
func (v *validation) between(name string, n, lo, hi int, why string) {
	switch {
	case hi < 0 && n < lo:
		v.bad(&SettingError{Setting: name, Value: n, Problem: "is out of range", Fix: fmt.Sprintf("use %d or more", lo)})
	case hi >= 0 && (n < lo || n > hi):
		v.bad(&SettingError{Setting: name, Value: n, Problem: "is out of range", Fix: fmt.Sprintf("use %d to %d%s", lo, hi, why)})
	}
}

func (v *validation) rate(name string, r float64, zero string) {
	if r < 0 {
		v.bad(&SettingError{Setting: name, Value: r, Problem: "is negative", Fix: "use a rate per second, or " + zero})
	}
}

func (v *validation) atLeast(name string, d, least time.Duration) {
	if d < least {
		v.bad(&SettingError{Setting: name, Value: d, Problem: "is too short", Fix: "use at least " + least.String()})
	}
}

func (v *validation) notShorter(name string, d time.Duration, other string, od time.Duration) {
	if d < od {
		v.bad(&SettingError{Setting: name, Value: d, Problem: "is shorter than", Other: other, OtherValue: od, Fix: "make it at least as long"})
	}
}
