package httpserver_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// TestStatusPageSaysCoveredByPrefix (issue 24): a URL pending under a prefix sent after its
// request is shown, in JSON and HTML, as "covered by prefix P, sent at T"; the prefix's own
// lookup says it is a prefix.
func TestStatusPageSaysCoveredByPrefix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_WINDOW=30s", "PURGE_MAX_DELAY=30s")
	w := h.startWorker()
	u, prefix := "https://img.example.com/status-cover/a.jpg", "https://img.example.com/status-cover/*"
	h.enqueue(u)
	st := store.New(h.RDB)
	ctx := context.Background()
	time.Sleep(5 * time.Millisecond)
	now, err := st.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PrefixSent(ctx, []string{prefix}, now, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	get := func(raw, accept string) string {
		req, _ := http.NewRequest(http.MethodGet, w.base+"/status?url="+url.QueryEscape(raw), nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	want := "covered by prefix " + prefix + ", sent at " + time.UnixMilli(now).UTC().Format(time.RFC3339)
	if body := get(u, "text/html"); !strings.Contains(body, want) {
		t.Errorf("/status HTML does not say %q:\n%s", want, body)
	}
	if body := get(u, "application/json"); !strings.Contains(body, `"covered_by":{"prefix":"`+prefix+`"`) {
		t.Errorf("/status JSON has no covered_by:\n%s", body)
	}
	if body := get("https://demo.cloudimg.io/img.example.com/status-cover/*", "application/json"); !strings.Contains(body, `"kind":"prefix"`) {
		t.Errorf("/status JSON of the prefix does not say its kind:\n%s", body)
	}
}
