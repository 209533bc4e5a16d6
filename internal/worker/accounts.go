package worker

import (
	"errors"
	"time"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/store"
)

// The accounts file's rates, bursts and cooldowns are checked by Validate, the one check of them.
func init() { accounts.CheckSending = checkSending }

// checkSending checks one account's sending settings as Validate checks a lane's.
func checkSending(rate float64, burst int, confirmRate float64, cooldown time.Duration) []*accounts.SendingError {
	w := Config{}.WithDefaults()
	w.Limit = store.Limit{Rate: rate, Burst: burst}
	w.ConfirmLimit = store.Limit{Rate: confirmRate, Burst: burst}
	w.AllCooldown = cooldown
	err := w.Validate()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*accounts.SendingError
	for _, e := range errs {
		var se *SettingError
		if errors.As(e, &se) {
			out = append(out, &accounts.SendingError{Setting: se.Setting, Say: se.Say, Err: se})
		}
	}
	return out
}
