package config

import (
	"slices"
	"strings"
	"testing"
)

// TestUnknownNamesTheNearestSetting: a misspelt variable with a product prefix is reported with
// the setting it was probably meant to be; known settings, their _FILE twins, other programs'
// variables and Kubernetes service links are not.
func TestUnknownNamesTheNearestSetting(t *testing.T) {
	got := Unknown([]string{
		"PURGE_RATES=5", "PURGE_ALL_COOLDOWM=24h", "CLOUDIMAGE_TOKN=demo", "REDIS_ULR=redis://x", "UI_PASWORD=x",
		"PURGE_RATE=5", "UI_PASSWORD_FILE=/run/secrets/ui", "HOME=/root", "HTTP_PROXY=http://proxy:3128",
		"REDIS_PORT=6380", "REDIS_SERVICE_HOST=10.0.0.1", "REDIS_PORT_6379_TCP_ADDR=10.0.0.1", "PURGE_WINDOW",
	})
	want := map[string]string{
		"PURGE_RATES": "PURGE_RATE", "PURGE_ALL_COOLDOWM": "PURGE_ALL_COOLDOWN", "CLOUDIMAGE_TOKN": "CLOUDIMAGE_TOKEN",
		"REDIS_ULR": "REDIS_URL", "UI_PASWORD": "UI_PASSWORD",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d: %q", len(got), len(want), got)
	}
	for typo, meant := range want {
		msg := typo + " is not a setting; did you mean " + meant + "?"
		if !slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, msg) }) {
			t.Errorf("no message %q in %q", msg, got)
		}
	}
	if got := Unknown([]string{"PURGE_RATE=1", "CLOUDIMAGE_API_KEY_FILE=/k"}); len(got) != 0 {
		t.Errorf("known settings reported: %q", got)
	}
}

// TestUnknownCoversEveryPrefix: the prefixes come from the settings, so a prefix added with a new
// setting is checked too.
func TestUnknownCoversEveryPrefix(t *testing.T) {
	for _, v := range Variables() {
		typo := v.Name + "X"
		if got := Unknown([]string{typo + "=1"}); len(got) != 1 {
			t.Errorf("%s: got %q, want one message", typo, got)
		}
	}
}
