package events_test

import (
	"net/http"
	"strings"
	"testing"

	cievents "github.com/cipurge/cipurge/internal/events"
)

// TestBucketAccount: the accounts' bucket mapping names the account of an object's URL. The
// producer's own account is enqueued; an account it does not write for is acknowledged and
// ignored with a warning, never retried.
func TestBucketAccount(t *testing.T) {
	t.Parallel()
	account := map[string]string{"media": "default", "photos": "shop-z"}
	e := setup(t, func(o *cievents.Options) { o.Account = func(bucket, _ string) string { return account[bucket] } })
	msg := s3Message(t, "minio:s3",
		[3]string{"s3:ObjectCreated:Put", "media", "a.jpg"},
		[3]string{"s3:ObjectCreated:Put", "photos", "public/x.jpg"},
	)
	s := e.send(http.MethodPost, cievents.PathS3, msg).summary(t)
	if s.Enqueued != 1 || s.Rejected != 1 {
		t.Errorf("summary %+v", s)
	}
	if got := e.pending(); len(got) != 1 || !strings.HasPrefix(got[0], "https://storage.example.com/media/a.jpg") {
		t.Errorf("pending %v", got)
	}
	warned := false
	for _, l := range e.logs.All() {
		if strings.Contains(l.Message, "mapped to an account this worker does not send for") {
			warned = true
		}
	}
	if !warned {
		t.Error("no warning for the bucket of another account")
	}
}
