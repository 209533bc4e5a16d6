package events_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cipurge/cipurge"
	cievents "github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
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

// TestEventsOfSeveralAccounts: with a Go client over several accounts, each object's URL goes to
// its account's keys: by the accounts' bucket mapping, over the URL's form, else by the form.
func TestEventsOfSeveralAccounts(t *testing.T) {
	t.Parallel()
	accts, err := cipurge.ParseAccounts([]byte(`
accounts:
  - {name: shop-a, token: shopa, origins: ["https://storage.example.com/media/"]}
  - {name: shop-b, token: shopb, origins: ["https://photos.example.com/"]}
  - {name: shop-c, token: shopc, origins: ["https://storage.googleapis.com/my-bucket/"]}
`), t.TempDir())
	must(t, err)
	r := testredis.Start(t)
	c, err := cipurge.NewClient(r.Client(), nil, cipurge.WithAccounts(accts))
	must(t, err)
	e := newEnv(t, r.Client(), func(o *cievents.Options) {
		o.Producer = c
		o.Account = func(bucket, _ string) string {
			if bucket == "my-bucket" {
				return "shop-a" // over the URL's form, which says shop-c
			}
			return ""
		}
	})
	msg := s3Message(t, "minio:s3",
		[3]string{"s3:ObjectCreated:Put", "media", "a.jpg"},
		[3]string{"s3:ObjectCreated:Put", "photos", "public/x.jpg"},
		[3]string{"s3:ObjectCreated:Put", "my-bucket", "y.jpg"},
	)
	if s := e.send(http.MethodPost, cievents.PathS3, msg).summary(t); s.Enqueued != 3 {
		t.Errorf("summary %+v", s)
	}
	for acct, want := range map[string][]string{
		"shop-a": {"https://storage.example.com/media/a.jpg", "https://storage.googleapis.com/my-bucket/y.jpg"},
		"shop-b": {"https://photos.example.com/public/x.jpg"},
		"shop-c": {},
	} {
		got, err := r.Client().ZRange(context.Background(), store.KeysFor(acct).Pending, 0, -1).Result()
		if err != nil || !sameSet(got, want) {
			t.Errorf("pending of %s: %v %v, want %v", acct, got, err, want)
		}
	}
}
