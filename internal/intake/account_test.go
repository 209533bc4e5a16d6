package intake_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/intake"
)

// TestInvalidationsAccountField: the field account may name the deployment's account; another
// name is a 400 that says why, and nothing is queued.
func TestInvalidationsAccountField(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+intake.PathInvalidations, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(`{"urls":["https://img.example.com/acct/a.jpg"],"account":"default"}`); code != http.StatusAccepted {
		t.Fatalf("account default: %d %s", code, body)
	}
	code, body := post(`{"urls":["https://img.example.com/acct/b.jpg"],"account":"shop-b"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, `no account is named \"shop-b\"`) || !strings.Contains(body, "nothing was enqueued") {
		t.Errorf("another account: %d %s", code, body)
	}
	if n := e.pendingCount(); n != 1 {
		t.Errorf("%d URLs pending, want 1", n)
	}
}
