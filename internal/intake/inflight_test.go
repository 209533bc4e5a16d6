package intake_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/httpapi"
	"github.com/cipurge/cipurge/internal/intake"
)

// TestInflightCap: with INTAKE_MAX_INFLIGHT=1, a second request while one body is being read is
// answered 503 with Retry-After and the setting; the first one is then accepted, and so is the
// next once the slot is free.
func TestInflightCap(t *testing.T) {
	t.Parallel()
	gate := httpapi.NewGate(1, "INTAKE_MAX_INFLIGHT")
	e := setup(t, func(o *intake.Options) { o.Inflight = gate })
	pr, pw := io.Pipe()
	// A failure must not hang: the server's Close waits for the first request, whose body
	// stays open until the pipe is closed. This cleanup runs before the server's.
	t.Cleanup(func() { pw.CloseWithError(errors.New("the test ended")) })
	first := make(chan answer, 1)
	go func() {
		first <- do(t, e.srv.Client(), http.MethodPost, e.srv.URL+intake.PathInvalidations, testToken, "application/json", pr)
	}()
	_, _ = pw.Write([]byte(`{"urls": [`)) // the body stays open: its request holds the slot
	// The second request starts only once the first holds the slot. Before, a second request in
	// flight could win the slot, so the first got the 503 and the slot stayed free.
	deadline := time.Now().Add(10 * time.Second)
	for gate.Taken() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if gate.Taken() == 0 {
		t.Fatal("the first request never took the slot")
	}
	var busy answer
	tries := 0
	for {
		busy = e.postURLs("https://img.example.com/inflight/b.jpg")
		tries++
		if busy.Status == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	if busy.Status != http.StatusServiceUnavailable || busy.Header.Get("Retry-After") == "" {
		t.Fatalf("second request, try %d: %d (Retry-After %q) %s, want 503 with Retry-After", tries, busy.Status, busy.Header.Get("Retry-After"), busy.Body)
	}
	if eb := busy.errorBody(t); eb.Code != "busy" || !strings.Contains(eb.Message, "INTAKE_MAX_INFLIGHT=1") {
		t.Errorf("503 body %+v", eb)
	}
	_, _ = pw.Write([]byte(`"https://img.example.com/inflight/a.jpg"]}`))
	pw.Close()
	if a := <-first; a.Status != http.StatusAccepted {
		t.Fatalf("first request: %d %s", a.Status, a.Body)
	}
	if a := e.postURLs("https://img.example.com/inflight/b.jpg"); a.Status != http.StatusAccepted {
		t.Errorf("after the slot is free: %d %s", a.Status, a.Body)
	}
}
