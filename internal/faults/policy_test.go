//go:build faults

package faults

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
)

// TestFaultFailurePolicy: the API answers single-URL requests (PURGE_BATCH_SIZE=1) with 408, 502
// or 503 for a while: every URL is invalidated in the end and none is dead-lettered (they are
// transient). The API answers 404 at the endpoint (a wrong CLOUDIMAGE_API_URL, a gateway): sending
// stops and says why on /readyz, nothing is dead-lettered, and it resumes by itself when fixed.
func TestFaultFailurePolicy(t *testing.T) {
	t.Parallel()
	for _, code := range []int{408, 502, 503, 404} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			const n = 20
			sb, rdb, e := newRig(t)
			e = e.With("PURGE_BATCH_SIZE=1", "PURGE_RATE=0", "PURGE_MAX_RETRY=30",
				"PURGE_RETRY_BASE=50ms", "PURGE_BACKOFF_BASE=50ms", "PURGE_BACKOFF_MAX=300ms", "PURGE_AUTH_PROBE=300ms")
			in := testkit.ImageURLs("policy"+strconv.Itoa(code), n)
			mustEnqueue(t, e, time.Minute, append([]string{"--no-progress"}, in...)...)
			const fault = 4 * time.Second
			sb.FailFor(fault, code)
			w := startWorker(t, "worker", e)
			addr := w.httpAddr(t)
			readyz := ""
			if code == 404 {
				testkit.WaitFor(t, 10*time.Second, "/readyz 503 saying sending stopped", func() bool {
					c, body := testkit.Get(t, "http://"+addr+"/readyz")
					readyz = body
					return c == http.StatusServiceUnavailable && strings.Contains(body, "stopped")
				})
			}
			testkit.WaitFor(t, 60*time.Second, "every URL invalidated", func() bool { return len(missing(sb, in)) == 0 })
			dead := archivedAll(t, rdb)
			kept, _ := store.New(rdb).DeadLetterCount(context.Background())
			answered := codes(sb)[code]
			report(t, "%d for %s to single-URL requests: %d answered %d, %d of %d URLs invalidated, %d dead letters (%d kept)%s",
				code, fault, answered, code, n-len(missing(sb, in)), n, len(dead), kept, map[bool]string{true: fmt.Sprintf("; /readyz said %s", strings.TrimSpace(readyz)), false: ""}[code == 404])
			if answered == 0 {
				t.Fatalf("no request met the %d: the test proves nothing", code)
			}
			if len(dead) != 0 || kept != 0 {
				t.Errorf("%d dead letters after %d answers (%s); want none", len(dead), code, firstLine(dead[0].LastErr))
			}
			if code == 404 && countLogs(w.logs(), "sending resumed") == 0 {
				t.Error("sending resumed without saying so")
			}
		})
	}
}
