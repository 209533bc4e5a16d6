package intake_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/internal/store"
)

// TestPrefixes (issue 24): "prefixes" takes folders (a trailing / or /* optional) and a URL
// ending with /* is a prefix too: each is pending under its canonical prefix key. A star
// anywhere else and a root prefix are rejected with the reason; a root prefix goes through the
// flush-all path, confirmed.
func TestPrefixes(t *testing.T) {
	e := setup(t, nil)
	a := e.post(intake.PathInvalidations, `{"urls": ["https://img.example.com/pfx/a.jpg", "https://img.example.com/pfx/b/*",
		"https://img.example.com/pfx/*/c/*"], "prefixes": ["https://img.example.com/pfx/d", "https://img.example.com/*"]}`)
	if a.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", a.Status, a.Body)
	}
	rep := a.report(t)
	want := []struct{ key, reason string }{
		{"https://img.example.com/pfx/a.jpg", ""}, {"https://img.example.com/pfx/b/*", ""}, {"", "has * at byte"},
		{"https://img.example.com/pfx/d/*", ""}, {"", "flush-all"},
	}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results, want %d: %s", len(rep.Results), len(want), a.Body)
	}
	for i, w := range want {
		r := rep.Results[i]
		if r.Key != w.key || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("result %d: %+v; want key %q, reason with %q", i, r, w.key, w.reason)
		}
	}
	for _, k := range []string{"https://img.example.com/pfx/b/*", "https://img.example.com/pfx/d/*"} {
		if _, err := e.rdb.ZScore(t.Context(), store.KeyPending, k).Result(); err != nil {
			t.Errorf("%s is not pending: %v", k, err)
		}
		if _, err := e.rdb.ZScore(t.Context(), store.KeyPrefixWaiting, k).Result(); err != nil {
			t.Errorf("%s is not recorded as a waiting prefix: %v", k, err)
		}
	}

	if a := e.post(intake.PathFlushAll, `{"prefix": "https://img.example.com/pfx/"}`); a.Status != http.StatusBadRequest {
		t.Errorf("a prefix below a host sent as a flush-all: %d %s; want 400", a.Status, a.Body)
	}
	if a := e.post(intake.PathFlushAll, `{"prefix": "https://img.example.com/*"}`); a.Status != http.StatusForbidden {
		t.Errorf("an unconfirmed root prefix: %d %s; want 403", a.Status, a.Body)
	}
	a = e.post(intake.PathFlushAll, `{"prefix": "https://img.example.com/", "confirm": "demo"}`)
	if a.Status != http.StatusAccepted || !strings.Contains(string(a.Body), "root prefix") {
		t.Errorf("a confirmed root prefix: %d %s; want 202", a.Status, a.Body)
	}
}
