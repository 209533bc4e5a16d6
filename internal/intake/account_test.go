package intake_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestInvalidationsAccountField: the field account may name the deployment's account; another
// name is a 400 that says why, and nothing is queued.
func TestInvalidationsAccountField(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	post := func(body string) (int, string) {
		a := e.postInvalidations("", body)
		return a.Status, a.body
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
