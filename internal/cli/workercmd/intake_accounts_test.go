package workercmd

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/httpapi"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestIntakeOfSeveralAccounts: the worker's intake, with a file of several accounts, queues each
// URL of one request in its account's keys and reads the request back with its parts.
func TestIntakeOfSeveralAccounts(t *testing.T) {
	r := testredis.Start(t)
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	file := "accounts:\n  - {name: a, token: a, origins: [\"https://a.example.com/\"]}\n  - {name: b, token: b, origins: [\"https://b.example.com/\"]}\n"
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{"ACCOUNTS_FILE=" + p, "REDIS_URL=redis://" + r.Addr() + "/0", "INTAKE_TOKEN=tok-5e1f", "CLOUDIMAGE_SANDBOX=true"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := newIntake(cfg, r.Client(), zap.NewNop(), httpapi.NewGate(0, "INTAKE_MAX_INFLIGHT"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok-5e1f")
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := do(http.MethodPost, "/v1/invalidations", `{"urls":["https://a.example.com/1.jpg","https://b.example.com/2.jpg","https://c.example.com/3.jpg"]}`)
	if code != http.StatusAccepted || !strings.Contains(body, `"enqueued":2`) || !strings.Contains(body, "which no account lists") {
		t.Fatalf("POST: %d %s", code, body)
	}
	for _, acct := range []string{"a", "b"} {
		if n := r.Client().ZCard(context.Background(), store.KeysFor(acct).Pending).Val(); n != 1 {
			t.Errorf("pending of %s: %d, want 1", acct, n)
		}
	}
	id := body[strings.Index(body, `"request_id":"`)+len(`"request_id":"`):]
	id = id[:strings.IndexByte(id, '"')]
	if code, body := do(http.MethodGet, "/v1/requests/"+id, ""); code != http.StatusOK || !strings.Contains(body, `"accounts":["a","b"]`) {
		t.Errorf("GET the request: %d %s", code, body)
	}
}
