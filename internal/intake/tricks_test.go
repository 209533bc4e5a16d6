package intake_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/intake"
)

// TestJSONTricks feeds every JSON trick of the adversarial run of issue 26 and checks each
// answer, then that the URLs that were refused are not pending and the good ones are, once.
func TestJSONTricks(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	a, b := "https://img.example.com/tricks/a.jpg", "https://img.example.com/tricks/b.jpg"
	utf16 := func(s string) string {
		var out []byte
		for _, r := range s {
			out = append(out, byte(r), 0)
		}
		return string(out)
	}
	cases := []struct{ name, body, code, says string }{
		{"duplicate urls", `{"urls":["` + a + `"],"urls":["` + b + `"]}`, "duplicate_key", `the key "urls" appears twice in the object at $`},
		{"duplicate source", `{"source":"x","urls":["` + a + `"],"source":"y"}`, "duplicate_key", `"source" appears twice`},
		{"deep nesting", `{"urls":["` + a + `"],"source":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, "too_deep", "deeper than 64 levels"},
		{"trailing data", `{"urls":["` + a + `"]}{"urls":["` + b + `"]}`, "trailing_data", "exactly one object"},
		{"UTF-8 BOM", "\xEF\xBB\xBF" + `{"urls":["` + a + `"]}`, "bad_encoding", "UTF-8 with a byte order mark"},
		{"UTF-16LE with BOM", "\xFF\xFE" + utf16(`{"urls":["`+a+`"]}`), "bad_encoding", "UTF-16 (little-endian)"},
		{"UTF-16LE without BOM", utf16(`{"urls":["` + a + `"]}`), "bad_encoding", "UTF-16 (little-endian)"},
	}
	for _, c := range cases {
		r := e.post(intake.PathInvalidations, c.body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", c.name, r.Status, r.Body)
			continue
		}
		if eb := r.errorBody(t); eb.Code != c.code || !strings.Contains(eb.Message, c.says) {
			t.Errorf("%s: %s %q, want %s saying %q", c.name, eb.Code, eb.Message, c.code, c.says)
		}
	}
	if n := e.pendingCount(); n != 0 {
		t.Fatalf("%d URLs pending after refused bodies, want 0", n)
	}
	// Duplicate keys at depth matter too: a flush-all body with its confirmation twice.
	if r := e.post(intake.PathFlushAll, `{"confirm":"x","confirm":"`+ciToken+`","reason":"t"}`); r.Status != http.StatusBadRequest || r.errorBody(t).Code != "duplicate_key" {
		t.Errorf("flush-all with a duplicate key: %d %s", r.Status, r.Body)
	}
	// The same URLs, sent right: each is enqueued once; sending them again enqueues nothing.
	for i, want := range []int{2, 0} {
		rep := e.post(intake.PathInvalidations, `{"urls":["`+a+`","`+b+`","`+a+`"]}`).report(t)
		if rep.Enqueued != want || len(rep.Results) != 3 {
			t.Errorf("round %d: enqueued %d of %d results, want %d of 3", i, rep.Enqueued, len(rep.Results), want)
		}
	}
	if n := e.pendingCount(); n != 2 || !e.isPending(a) || !e.isPending(b) {
		t.Errorf("%d pending, want exactly %s and %s", n, a, b)
	}
}
