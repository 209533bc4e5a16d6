package httpserver_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testkit/testworker"
)

// testKey is the API key the tests use; every page and metric is searched for it.
const testKey = "ci-test-key-httpserver-4b8e1f"

// harness is a private Redis, a sandbox API and the environment of a worker that uses them.
type harness struct {
	t *testing.T
	*testkit.Rig
}

func newHarness(t *testing.T, extra ...string) *harness {
	t.Helper()
	return &harness{t: t, Rig: testkit.NewRig(t, testKey, extra...)}
}

// runningWorker is a worker started by startWorker, serving HTTP at base.
type runningWorker struct {
	base string // http://127.0.0.1:PORT
	logs *testkit.SyncBuffer
}

// startWorker runs workercmd.Run on the harness environment until the test ends, and waits until
// its HTTP server listens (HTTP_ADDR being :0, the address comes from its log).
func (h *harness) startWorker() *runningWorker {
	h.t.Helper()
	w := testworker.Start(h.t, h.Env.List())
	return &runningWorker{base: "http://" + w.Addr(h.t), logs: w.Logs}
}

// enqueue runs the enqueue command with the harness environment.
func (h *harness) enqueue(args ...string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	if err := enqueuecmd.Run(context.Background(), args, h.Env.List(), strings.NewReader(""), &out, &errb); err != nil {
		h.t.Fatalf("enqueue %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
}

// response is what get and do return.
type response struct {
	code   int
	header http.Header
	body   string
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

// do sends one request; user and pass, when not empty, are sent as basic auth.
func do(t *testing.T, method, url, user, pass string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{code: res.StatusCode, header: res.Header, body: string(b)}
}

func get(t *testing.T, url string) response { t.Helper(); return do(t, http.MethodGet, url, "", "") }

// metricValue returns the value of the sample name{labels} in a Prometheus text exposition
// (labels written as in the exposition, e.g. `queue="purge",state="archived"`; "" for none).
func metricValue(exposition, name, labels string) (float64, bool) {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, want+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
