package events_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/events"
)

// TestDocumentedSamplesEnqueue: every sample docs/events.md lists replays, with the EVENTS_BUCKETS
// the doc gives, to the answer the doc says: none is unmapped.
func TestDocumentedSamplesEnqueue(t *testing.T) {
	b, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	setting := regexp.MustCompile(`(?m)^export EVENTS_BUCKETS=(\S+)$`).FindStringSubmatch(doc)
	if setting == nil {
		t.Fatal("docs/events.md gives no `export EVENTS_BUCKETS=...` line for its samples")
	}
	buckets, err := events.ParseBuckets(setting[1])
	if err != nil {
		t.Fatalf("the doc's EVENTS_BUCKETS does not parse: %v", err)
	}
	e := setup(t, func(o *events.Options) { o.Buckets = buckets })
	rows := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+\\.json)` \\| `(/v1/events/[a-z0-9]+)` \\| `([^`]+)`[^|]* \\| `([a-z_]+)`").FindAllStringSubmatch(doc, -1)
	files, _ := os.ReadDir("testdata")
	listed := map[string]bool{}
	for _, r := range rows {
		listed[r[1]] = true
	}
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".json") && !listed[f.Name()] {
			t.Errorf("testdata/%s is not in docs/events.md's table of samples", f.Name())
		}
	}
	for _, r := range rows {
		file, path, ctype, want := r[1], r[2], r[3], r[4]
		headers := []string{"Content-Type: " + ctype}
		if file == "gcs-finalized.json" { // binary mode: the attributes travel as headers
			headers = append(headers, "ce-specversion: 1.0", "ce-id: 1", "ce-type: google.cloud.storage.object.v1.finalized",
				"ce-source: //storage.googleapis.com/projects/_/buckets/my-bucket", "ce-subject: objects/my-file.txt")
		}
		s := e.send("POST", path, sample(t, file), headers...).summary(t)
		got := map[string]int{"enqueued": s.Enqueued + s.AlreadyPending, "ignored": s.Ignored}[want]
		if s.Unmapped != 0 || s.Rejected != 0 || got == 0 {
			t.Errorf("%s to %s: %+v, want %s and none unmapped or rejected", file, path, s, want)
		}
	}
	if len(rows) < 7 {
		t.Errorf("docs/events.md's table lists %d samples", len(rows))
	}
}
