package events_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	cievents "github.com/cipurge/cipurge/internal/events"
)

// s3Message builds an S3 event message with the aws-lambda-go types, one record per
// (eventName, bucket, key); key is the object key as stored (it is URL-encoded here as S3 does).
func s3Message(t testing.TB, source string, recs ...[3]string) string {
	t.Helper()
	var ev events.S3Event
	for _, r := range recs {
		ev.Records = append(ev.Records, events.S3EventRecord{
			EventVersion: "2.1", EventSource: source, AWSRegion: "us-east-1", EventTime: time.Unix(1700000000, 0).UTC(), EventName: r[0],
			S3: events.S3Entity{SchemaVersion: "1.0", Bucket: events.S3Bucket{Name: r[1], Arn: "arn:aws:s3:::" + r[1]},
				Object: events.S3Object{Key: url.QueryEscape(r[2]), Size: 1024, ETag: "d41d8cd98f00b204e9800998ecf8427e"}},
		})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSenderSamples: the senders' own documented messages are acknowledged only once their URL
// is pending, with the documented source text.
func TestSenderSamples(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	for _, c := range []struct{ file, key, source string }{
		{"aws-s3-put.json", "https://amzn-s3-demo-bucket.s3.amazonaws.com/HappyFace.jpg", "event: s3 amzn-s3-demo-bucket/HappyFace.jpg"},
		{"minio-webhook.json", "https://minio.example.com/images/myphoto.jpg", "event: minio images/myphoto.jpg"},
		{"ceph-push.json", "https://ceph.example.com/mybucket1/myimage1.jpg", "event: ceph mybucket1/myimage1.jpg"},
	} {
		if s := e.send(http.MethodPost, cievents.PathS3, sample(t, c.file)).summary(t); s.Events != 1 || s.Enqueued != 1 {
			t.Errorf("%s: %+v", c.file, s)
		}
		if got := e.source(c.key); got != c.source {
			t.Errorf("%s: key %s has source %q, want %q (pending: %v)", c.file, c.key, got, c.source, e.pending())
		}
	}
	// S3's test event, sent when a notification is configured: acknowledged, nothing enqueued.
	if s := e.send(http.MethodPost, cievents.PathS3, sample(t, "aws-s3-test-event.json")).summary(t); s.Ignored != 1 || s.Enqueued != 0 {
		t.Errorf("test event: %+v", s)
	}
	if n := len(e.pending()); n != 3 {
		t.Errorf("%d keys pending, want 3: %v", n, e.pending())
	}
	if e.count("s3", "ObjectCreated:Put", cievents.OutcomeEnqueued) != 1 || e.count("minio", "ObjectCreated:Put", cievents.OutcomeEnqueued) != 1 ||
		e.count("s3", "s3:TestEvent", cievents.OutcomeIgnored) != 1 {
		t.Error("cipurge_events_received_total does not count the samples by source, type and outcome")
	}
}

// TestWhichEventsCount: created by any method and removed invalidate; everything else is
// acknowledged, ignored and counted by type.
func TestWhichEventsCount(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	changes := []string{"ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload",
		"ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated", "LifecycleExpiration:Delete", "s3:ObjectCreated:Put", "s3:ObjectRemoved:Delete"}
	others := []string{"ObjectRestore:Post", "ObjectRestore:Completed", "ObjectRestore:Delete", "ObjectTagging:Put", "ObjectTagging:Delete",
		"ObjectAcl:Put", "LifecycleTransition", "IntelligentTiering", "Replication:OperationFailedReplication", "ReducedRedundancyLostObject",
		"s3:ObjectAccessed:Get", "s3:ObjectAccessed:Head", "s3:ObjectCreated:PutTagging", "s3:ObjectCreated:PutRetention"}
	var recs [][3]string
	var want []string
	for i, n := range changes {
		k := "products/" + string(rune('a'+i)) + ".jpg"
		recs = append(recs, [3]string{n, "media", k})
		want = append(want, "https://storage.example.com/media/"+k)
	}
	for _, n := range others {
		recs = append(recs, [3]string{n, "media", "products/other.jpg"})
	}
	s := e.send(http.MethodPost, cievents.PathS3, s3Message(t, "aws:s3", recs...)).summary(t)
	if s.Events != len(recs) || s.Enqueued != len(changes) || s.Ignored != len(others) {
		t.Errorf("summary %+v, want %d enqueued and %d ignored", s, len(changes), len(others))
	}
	if got := e.pending(); !sameSet(got, want) {
		t.Errorf("pending %v, want %v", got, want)
	}
	for _, n := range others {
		if e.count("s3", strings.TrimPrefix(n, "s3:"), cievents.OutcomeIgnored) != 1 {
			t.Errorf("%s is not counted as ignored by type", n)
		}
	}
}

// TestKeysDecodeAsS3Encodes: S3 sends keys form-encoded ('+' is a space, %2B a plus); the URL is
// the mapping's base plus the key, through the normaliser.
func TestKeysDecodeAsS3Encodes(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	msg := `{"Records":[` +
		`{"eventVersion":"2.1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"Happy+Face.jpg"}}},` +
		`{"eventVersion":"2.1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"a%2Bb.jpg"}}},` +
		`{"eventVersion":"2.1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"dir/caf%C3%A9+%3F%23.jpg"}}},` +
		`{"eventVersion":"2.1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"Happy%20Face.jpg"}}},` +
		`{"eventVersion":"2.1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"folder%2F"}}}]}`
	s := e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	want := []string{
		"https://storage.example.com/media/Happy%20Face.jpg",
		"https://storage.example.com/media/a+b.jpg",
		"https://storage.example.com/media/dir/caf%C3%A9%20%3F%23.jpg",
	}
	if s.Enqueued != 3 || s.AlreadyPending != 1 || s.Ignored != 1 {
		t.Errorf("summary %+v: want 3 enqueued, the second Happy Face already pending, the folder ignored", s)
	}
	if got := e.pending(); !sameSet(got, want) {
		t.Errorf("pending %v, want %v", got, want)
	}
	// The aws-lambda-go types decode the same way.
	var ev events.S3Event
	if err := json.Unmarshal([]byte(msg), &ev); err != nil || ev.Records[0].S3.Object.URLDecodedKey != "Happy Face.jpg" {
		t.Errorf("aws-lambda-go reads the key as %q (%v)", ev.Records[0].S3.Object.URLDecodedKey, err)
	}
}

// TestMappingOutcomes: an unmapped bucket, a key outside the bucket's prefix and a URL that does
// not normalise are acknowledged (a retry would not fix them), counted, and the first and the
// last logged once per bucket per minute with the fix.
func TestMappingOutcomes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := setup(t, func(o *cievents.Options) { o.Now = clock })
	msg := s3Message(t, "minio:s3",
		[3]string{"s3:ObjectCreated:Put", "unknown-bucket", "a.jpg"},
		[3]string{"s3:ObjectCreated:Put", "unknown-bucket", "b.jpg"},
		[3]string{"s3:ObjectCreated:Put", "photos", "private/x.jpg"},
		[3]string{"s3:ObjectCreated:Put", "photos", "public/x.jpg"},
		[3]string{"s3:ObjectCreated:Put", "elsewhere", "x.jpg"},
		[3]string{"s3:ObjectCreated:Put", "elsewhere", "y.jpg"},
	)
	s := e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	if s.Unmapped != 2 || s.Filtered != 1 || s.Enqueued != 1 || s.Rejected != 2 {
		t.Errorf("summary %+v", s)
	}
	// The prefix only filters: the whole key is appended to the base.
	if got := e.pending(); !sameSet(got, []string{"https://photos.example.com/public/x.jpg"}) {
		t.Errorf("pending %v", got)
	}
	warnings := func() (unmapped, rejected int) {
		for _, l := range e.logs.All() {
			switch {
			case strings.Contains(l.Message, "EVENTS_BUCKETS does not map"):
				unmapped++
				if fix, _ := l.ContextMap()["fix"].(string); !strings.Contains(fix, "unknown-bucket=https://") {
					t.Errorf("the warning's fix %q does not say what to add to EVENTS_BUCKETS", fix)
				}
			case strings.Contains(l.Message, "does not normalise"):
				rejected++
			}
		}
		return
	}
	if u, r := warnings(); u != 1 || r != 1 {
		t.Errorf("%d unmapped and %d rejected warnings, want one each", u, r)
	}
	e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	if u, r := warnings(); u != 1 || r != 1 {
		t.Errorf("within the minute: %d unmapped and %d rejected warnings, want still one each", u, r)
	}
	now = now.Add(time.Minute)
	e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	if u, r := warnings(); u != 2 || r != 2 {
		t.Errorf("a minute later: %d unmapped and %d rejected warnings, want two each", u, r)
	}
	if e.count("minio", "ObjectCreated:Put", cievents.OutcomeUnmapped) != 6 || e.count("minio", "ObjectCreated:Put", cievents.OutcomeFiltered) != 3 ||
		e.count("minio", "ObjectCreated:Put", cievents.OutcomeRejected) != 6 {
		t.Error("unmapped, filtered and rejected events are not counted")
	}
}

// TestBadMessages: not JSON, or not a known format: 400 with the reason; nothing enqueued.
func TestBadMessages(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	for _, c := range []struct{ name, body, code, want string }{
		{"not JSON", "{\"Records\": [x]}", "malformed_json", "line 1, column 14"},
		{"truncated", `{"Records": [`, "malformed_json", "ends in the middle"},
		{"empty", "", "empty_body", "empty"},
		{"array", `[1]`, "unknown_format", "JSON array"},
		{"no records", `{"hello": "world"}`, "unknown_format", `no \"Records\" array`},
		{"version 1", `{"Records":[{"eventVersion":"1.0","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"a.jpg"}}}]}`, "unknown_format", "2.x"},
		{"no bucket", `{"Records":[{"eventVersion":"2.1","eventName":"ObjectCreated:Put","s3":{"object":{"key":"a.jpg"}}}]}`, "unknown_format", "s3.bucket.name"},
	} {
		a := e.send(http.MethodPost, cievents.PathS3, c.body)
		if a.Status != http.StatusBadRequest || a.errorCode(t) != c.code || !strings.Contains(string(a.Body), c.want) {
			t.Errorf("%s: %d %s, want 400 %s with %q", c.name, a.Status, a.Body, c.code, c.want)
		}
	}
	if p := e.pending(); len(p) != 0 {
		t.Errorf("pending after refusals: %v", p)
	}
}

// cephPush is Ceph RGW's documented push body (testdata/ceph-push.json) with one copy of its
// record per key, each key set as given: Ceph sends keys raw, as stored.
func cephPush(t *testing.T, bucket string, keys ...string) string {
	t.Helper()
	var doc struct {
		Records []map[string]any `json:"Records"`
	}
	must(t, json.Unmarshal([]byte(sample(t, "ceph-push.json")), &doc))
	proto, err := json.Marshal(doc.Records[0])
	must(t, err)
	var recs []map[string]any
	for _, k := range keys {
		var r map[string]any
		must(t, json.Unmarshal(proto, &r))
		s3 := r["s3"].(map[string]any)
		s3["bucket"].(map[string]any)["name"] = bucket
		s3["object"].(map[string]any)["key"] = k
		recs = append(recs, r)
	}
	b, err := json.Marshal(map[string]any{"Records": recs})
	must(t, err)
	return string(b)
}

// TestCephKeysAreRaw: Ceph RGW (eventSource ceph:s3) sends object keys as stored, not URL-encoded:
// a '+' is a plus, a '%' a percent sign, a space a space, a '/' a separator. Each is the object
// of that name, its path escaped once; nothing is refused.
func TestCephKeysAreRaw(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	msg := cephPush(t, "mybucket1", "sale+new.jpg", "50%off.jpg", "summer sale/a b.jpg", "100%25.jpg", "a%2Fb.jpg", "dir/")
	s := e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	want := []string{
		"https://ceph.example.com/mybucket1/sale+new.jpg",
		"https://ceph.example.com/mybucket1/50%25off.jpg",
		"https://ceph.example.com/mybucket1/summer%20sale/a%20b.jpg",
		"https://ceph.example.com/mybucket1/100%2525.jpg",
		"https://ceph.example.com/mybucket1/a%252Fb.jpg",
	}
	if s.Events != 6 || s.Enqueued != 5 || s.Ignored != 1 || s.Rejected != 0 {
		t.Errorf("summary %+v: want the 5 objects enqueued and the folder ignored", s)
	}
	if got := e.pending(); !sameSet(got, want) {
		t.Errorf("pending %v, want %v", got, want)
	}
	if got := e.source(want[0]); got != "event: ceph mybucket1/sale+new.jpg" {
		t.Errorf("source %q: want the key as stored", got)
	}
	// The same keys from MinIO are URL-encoded (MinIO also encodes '/'): the same objects.
	minio := s3Message(t, "minio:s3", [3]string{"s3:ObjectCreated:Put", "mybucket1", "sale+new.jpg"},
		[3]string{"s3:ObjectCreated:Put", "mybucket1", "summer sale/a b.jpg"})
	if !strings.Contains(minio, `"summer+sale%2Fa+b.jpg"`) {
		t.Fatalf("the MinIO message does not encode keys as MinIO does: %s", minio)
	}
	if s := e.send(http.MethodPost, cievents.PathS3, minio).summary(t); s.AlreadyPending != 2 {
		t.Errorf("MinIO's encoded keys: %+v, want both already pending (the same objects)", s)
	}
}

// TestUndecodableKeyIsAcknowledged: a key that is not URL-encoded as S3 encodes keys (from a sender
// that encodes them) is an object key that does not normalise: acknowledged, counted as rejected,
// logged once per bucket and minute; the other records of the delivery are enqueued.
func TestUndecodableKeyIsAcknowledged(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := setup(t, func(o *cievents.Options) { o.Now = func() time.Time { return now } })
	msg := `{"Records":[` +
		`{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"a%zz.jpg"}}},` +
		`{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"50%off.jpg"}}},` +
		`{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"good+one.jpg"}}},` +
		`{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectAccessed:Get","s3":{"bucket":{"name":"media"},"object":{"key":"b%zz.jpg"}}}]}`
	warnings := func() (n int) {
		for _, l := range e.logs.All() {
			if strings.Contains(l.Message, "object key does not decode") {
				n++
				if r, _ := l.ContextMap()["reason"].(string); !strings.Contains(r, `"a%zz.jpg"`) || l.ContextMap()["bucket"] != "media" {
					t.Errorf("the warning does not name the key and the bucket: %v", l.ContextMap())
				}
			}
		}
		return n
	}
	s := e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	if s.Events != 4 || s.Rejected != 2 || s.Enqueued != 1 || s.Ignored != 1 {
		t.Errorf("summary %+v: want the two undecodable keys rejected, the good one enqueued, the access ignored", s)
	}
	if got := e.pending(); !sameSet(got, []string{"https://storage.example.com/media/good%20one.jpg"}) {
		t.Errorf("pending %v", got)
	}
	e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	if n := warnings(); n != 1 {
		t.Errorf("%d warnings within the minute, want 1", n)
	}
	now = now.Add(time.Minute)
	e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	if n := warnings(); n != 2 {
		t.Errorf("%d warnings a minute later, want 2", n)
	}
	if n := e.count("s3", "ObjectCreated:Put", cievents.OutcomeRejected); n != 6 {
		t.Errorf("cipurge_events_received_total{outcome=rejected} = %d, want 6", n)
	}
	if n := testutilRefused(e, cievents.PathS3, "bad_key"); n != 0 {
		t.Errorf("%d deliveries refused with bad_key, want none", n)
	}
}
