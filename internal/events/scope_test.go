package events_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	cievents "github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/testkit"
)

// Scoped tokens of the test; searched for in every log line and answer.
const (
	mediaToken = "events-scoped-media-31c9e0aa" // the account default
	zToken     = "events-scoped-z-7d2b44f1"     // the account shop-z
	bothToken  = "events-scoped-both-a09c5e6d"  // both
)

// setupScoped is the receivers with three scoped tokens. The bucket media is the account
// default's, photos is shop-z's; other buckets route by their URL's host.
func setupScoped(t *testing.T) *env {
	t.Helper()
	account := map[string]string{"media": "default", "photos": "shop-z"}
	host := map[string]string{"storage.example.com": "default", "photos.example.com": "shop-z"}
	e := setup(t, func(o *cievents.Options) {
		o.Account = func(bucket, _ string) string { return account[bucket] }
		o.Route = func(u string) (string, error) {
			h, _, _ := strings.Cut(strings.TrimPrefix(u, "https://"), "/")
			if a, ok := host[h]; ok {
				return a, nil
			}
			return "", errors.New("no account")
		}
		o.Scoped = []cievents.Scope{{Name: "media", Token: mediaToken, Accounts: []string{"default"}},
			{Name: "z", Token: zToken, Accounts: []string{"shop-z"}}, {Name: "both", Token: bothToken, Accounts: []string{"default", "shop-z"}}}
	})
	t.Cleanup(func() { testkit.NoSecretLogged(t, e.logs, "a scoped token", mediaToken, zToken, bothToken) })
	return e
}

// TestScopedEvents: a scoped token posts events of its accounts only. One object of another
// account makes the delivery 403, naming that account, and nothing of it is enqueued.
func TestScopedEvents(t *testing.T) {
	t.Parallel()
	e := setupScoped(t)
	as := func(tok string) string { return "Authorization: Bearer " + tok }
	mixed := s3Message(t, "minio:s3", [3]string{"s3:ObjectCreated:Put", "media", "a.jpg"}, [3]string{"s3:ObjectCreated:Put", "photos", "public/x.jpg"})
	a := e.sendAs(http.MethodPost, cievents.PathS3, mixed, as(mediaToken))
	if a.Status != http.StatusForbidden || a.errorCode(t) != "forbidden" ||
		!strings.Contains(string(a.Body), `the object photos/public/x.jpg is of the account \"shop-z\", which this token does not reach`) {
		t.Errorf("a delivery with an object of shop-z: %d %s", a.Status, a.Body)
	}
	if p := e.pending(); len(p) != 0 {
		t.Fatalf("pending after the refusal: %v", p)
	}
	media := s3Message(t, "minio:s3", [3]string{"s3:ObjectCreated:Put", "media", "b.jpg"})
	if a := e.sendAs(http.MethodPost, cievents.PathS3, media, as(zToken)); a.Status != http.StatusForbidden ||
		!strings.Contains(string(a.Body), `the account \"default\"`) {
		t.Errorf("shop-z's token, an object of default: %d %s", a.Status, a.Body)
	}
	if s := e.sendAs(http.MethodPost, cievents.PathS3+"?token="+mediaToken, media).summary(t); s.Enqueued != 1 {
		t.Errorf("media's token in the query: %+v", s)
	}
	// An object that names no account, with a token of two: acknowledged, never queued.
	images := s3Message(t, "minio:s3", [3]string{"s3:ObjectCreated:Put", "images", "c.jpg"})
	if s := e.sendAs(http.MethodPost, cievents.PathS3, images, as(bothToken)).summary(t); s.Rejected != 1 || s.Enqueued != 0 {
		t.Errorf("an object of no account with a token of two: %+v", s)
	}
	if p := e.pending(); len(p) != 1 {
		t.Errorf("pending %v, want media/b.jpg only", p)
	}
	if a := e.sendAs(http.MethodPost, cievents.PathS3, media, as("events-not-a-token")); a.Status != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d", a.Status)
	}
}
