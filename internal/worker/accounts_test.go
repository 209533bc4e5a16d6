package worker

import (
	"errors"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// TestAccountsFileSending: the accounts file's rates, bursts and cooldowns are checked by the
// worker's one check, and each problem names the account and the file's field.
func TestAccountsFileSending(t *testing.T) {
	_, err := accounts.Parse([]byte(`
accounts:
  - {name: a, token: a, rate: -1, burst: 0}
  - {name: c, token: c, confirm_rate: -2, flush_all: {cooldown: -1s}}
  - {name: ok, token: ok, rate: 2.5, burst: 3, flush_all: {cooldown: 1h}}
`), t.TempDir())
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, w := range []string{
		`account "a", field rate: -1 is negative`,
		`account "a", field burst: 0 is out of range: use 1 or more`,
		`account "c", field confirm_rate: -2 is negative`,
		`account "c", field flush_all.cooldown: -1s is negative`,
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, `"ok"`) || strings.Contains(msg, "Limit.") {
		t.Errorf("a good account or a Go name in:\n%s", msg)
	}
}

// TestSingleSending: the account of a deployment without a file is checked by the same check, and
// its errors unwrap to the worker's *SettingError, for the configuration to name the variable.
func TestSingleSending(t *testing.T) {
	_, err := accounts.Single(accounts.Account{URL: normalize.Config{Token: "demo"}, Burst: 0})
	var se *SettingError
	if !errors.As(err, &se) || se.Setting != "Limit.Burst" {
		t.Errorf("err = %v", err)
	}
}
