package intake_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/intake"
)

// TestRefusedBodyIsDrained: a client that sends a large body slowly, and reads only once it has
// sent it all, still reads the refusal (415 for a wrong content type, 405 for a wrong method).
// The body takes about a second to arrive, longer than the server waits after an answer before
// it closes: a server that answered and closed without reading the body would reset the
// connection, and the client would lose the answer or fail to write the body.
// The drain is bounded by INTAKE_MAX_BYTES: a client that declares a larger body and sends one
// byte more than the limit gets the answer without sending the rest.
func TestRefusedBodyIsDrained(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	const chunk, chunks = 16 << 10, 64 // 1 MiB: the default INTAKE_MAX_BYTES, in about a second
	if chunk*chunks > intake.DefaultMaxBytes {
		t.Fatalf("the body (%d bytes) must be within INTAKE_MAX_BYTES (%d)", chunk*chunks, intake.DefaultMaxBytes)
	}
	for _, c := range []struct {
		method, contentType string
		declared, sent      int // Content-Length, and the bytes sent before reading
		want                int
	}{
		{http.MethodPost, "text/plain", chunk * chunks, chunk * chunks, http.StatusUnsupportedMediaType},
		{http.MethodPut, "application/json", chunk * chunks, chunk * chunks, http.StatusMethodNotAllowed},
		{http.MethodPost, "text/plain", 4 * int(intake.DefaultMaxBytes), int(intake.DefaultMaxBytes) + 1, http.StatusUnsupportedMediaType},
	} {
		t.Run(fmt.Sprintf("%s %s %d bytes", c.method, c.contentType, c.declared), func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
				c.method, intake.PathInvalidations, testToken, c.contentType, c.declared)
			if err != nil {
				t.Fatal(err)
			}
			part := []byte(strings.Repeat("x", chunk))
			for sent := 0; sent < c.sent; sent += len(part) {
				if _, err := conn.Write(part[:min(len(part), c.sent-sent)]); err != nil {
					t.Fatalf("writing the body failed at byte %d: %v (the server closed before reading it)", sent, err)
				}
				time.Sleep(15 * time.Millisecond)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer after the body: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
}
