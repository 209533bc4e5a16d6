package httpserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/httpserver"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestStatusPageOfSeveralAccounts: with several accounts /status lists every account with its
// counts and shows the first in full; ?account=NAME shows that account's keys and queues; an
// unknown name is 404 naming the accounts.
func TestStatusPageOfSeveralAccounts(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	ctx := context.Background()
	if _, err := store.New(r.Client()).For("shop-b").AddPending(ctx, "", []string{"https://img.example.com/b1.jpg", "https://img.example.com/b2.jpg"}); err != nil {
		t.Fatal(err)
	}
	h, err := httpserver.New(httpserver.Options{UI: httpserver.UI{Addr: "127.0.0.1:0", ReadOnly: true}, Redis: r.Client(),
		Registry: prometheus.NewRegistry(), Log: zap.NewNop(),
		Accounts: []httpserver.StatusAccount{{Name: "shop-a", Keys: "shop-a"}, {Name: "shop-b", Keys: "shop-b"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, _, body := getStatus(t, srv.URL+"/status", "", "application/json")
	if code != http.StatusOK || !strings.Contains(body, `"accounts":[{`) || !strings.Contains(body, `"account":"shop-a"`) ||
		!strings.Contains(body, `"urls_in_window":2`) {
		t.Errorf("/status: %d %s", code, body)
	}
	code, _, body = getStatus(t, srv.URL+"/status?account=shop-b", "", "application/json")
	if code != http.StatusOK || strings.Contains(body, `"accounts":[`) || !strings.Contains(body, `"account":"shop-b"`) ||
		!strings.Contains(body, `"urls_in_window":2`) || !strings.Contains(body, `"queue":"purge:shop-b"`) {
		t.Errorf("/status?account=shop-b: %d %s", code, body)
	}
	if code, _, body := getStatus(t, srv.URL+"/status", "", ""); code != http.StatusOK || !strings.Contains(body, `id="accounts"`) ||
		!strings.Contains(body, `href="/status?account=shop-b"`) {
		t.Errorf("/status HTML: %d %s", code, body)
	}
	if code, _, body := getStatus(t, srv.URL+"/status?account=shop-x", "", ""); code != http.StatusNotFound || !strings.Contains(body, "use one of shop-a, shop-b") {
		t.Errorf("/status?account=shop-x: %d %s", code, body)
	}
}
