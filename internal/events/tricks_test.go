package events_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/events"
)

// TestJSONTricks: the receivers refuse a duplicate key at any depth (naming it), deep nesting,
// trailing data, UTF-16 and a byte order mark, with nothing enqueued; the same records sent
// right are enqueued once.
func TestJSONTricks(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	one := s3Message(t, "aws:s3", [3]string{"ObjectCreated:Put", "media", "tricks/a.jpg"})
	two := s3Message(t, "aws:s3", [3]string{"ObjectCreated:Put", "media", "tricks/b.jpg"})
	records := func(m string) string { return strings.TrimSuffix(strings.TrimPrefix(m, `{"Records":`), "}") }
	nested := strings.Replace(one, `"key":"tricks%2Fa.jpg"`, `"key":"tricks%2Fa.jpg","key":"tricks%2Fb.jpg"`, 1)
	if nested == one {
		t.Fatalf("the sample has no key to duplicate: %s", one)
	}
	cases := []struct{ name, body, code, says string }{
		{"duplicate Records", `{"Records":` + records(one) + `,"Records":` + records(two) + `}`, "duplicate_key", `"Records" appears twice in the object at $`},
		{"duplicate object key", nested, "duplicate_key", `"key" appears twice in the object at $.Records[].s3.object`},
		{"deep nesting", `{"Records":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, "too_deep", "deeper than 64"},
		{"trailing data", one + two, "malformed_json", "after top-level value"},
		{"BOM", "\xEF\xBB\xBF" + one, "bad_encoding", "byte order mark"},
		{"UTF-16", "\xFE\xFF\x00{", "bad_encoding", "UTF-16 (big-endian)"},
	}
	for _, c := range cases {
		a := e.send(http.MethodPost, events.PathS3, c.body)
		if a.Status != http.StatusBadRequest || a.errorCode(t) != c.code || !strings.Contains(string(a.Body), strings.ReplaceAll(c.says, `"`, `\"`)) {
			t.Errorf("%s: %d %s, want 400 %s saying %q", c.name, a.Status, a.Body, c.code, c.says)
		}
	}
	if p := e.pending(); len(p) != 0 {
		t.Fatalf("pending after refused bodies: %v", p)
	}
	for i, want := range []int{1, 0} {
		if s := e.send(http.MethodPost, events.PathS3, one).summary(t); s.Enqueued != want {
			t.Errorf("round %d: %+v, want %d enqueued", i, s, want)
		}
	}
	if p := e.pending(); len(p) != 1 {
		t.Errorf("pending: %v, want one URL", p)
	}
}
