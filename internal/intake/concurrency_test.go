package intake_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testkit/testworker"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestConcurrentClients: many clients, each on its own connections, send overlapping requests at
// once. No URL is lost or doubled: every distinct key is enqueued by exactly one request and sits
// once in the pending set, every client's report accounts for each of its URLs, and a worker then
// sends each key exactly once.
// It runs over 80 lines on purpose: one scenario on one Redis and one worker, checked from several sides.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	const (
		clients  = 20
		perReq   = 50
		distinct = 400 // client i asks for keys [20i, 20i+45) mod 400, so neighbours overlap by 25
		stride   = distinct / clients
		overlap  = 45 // distinct keys per request; the last perReq-overlap inputs repeat earlier ones
		rounds   = 2  // each client sends its request twice: the second finds everything pending
	)
	e := setup(t, nil)
	key := func(k int) string { return "https://img.example.com/conc/" + strconv.Itoa(k) + ".jpg" }
	// Equivalent forms of one image: the origin URL and the CDN URL with operations.
	form := func(k, v int) string {
		if v%2 == 0 {
			return key(k)
		}
		return "https://demo.cloudimg.io/img.example.com/conc/" + strconv.Itoa(k) + ".jpg?w=" + strconv.Itoa(100+v)
	}
	inputs := make([][]string, clients)
	wantKeys := make([][]string, clients)
	for i := range clients {
		for j := range perReq {
			k := (i*stride + j%overlap) % distinct
			inputs[i] = append(inputs[i], form(k, i+j))
			wantKeys[i] = append(wantKeys[i], key(k))
		}
	}

	reports := make([][]report, clients)
	errs := make(chan error, clients*rounds)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A client of its own: its own connections, as separate applications would have.
			c := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			defer c.CloseIdleConnections()
			<-start
			for range rounds {
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+intake.PathInvalidations, strings.NewReader(urlsBody(inputs[i], "client "+strconv.Itoa(i))))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				if resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("client %d: status %d: %s", i, resp.StatusCode, b)
					return
				}
				var r report
				if err := json.Unmarshal(b, &r); err != nil {
					errs <- fmt.Errorf("client %d: %w: %s", i, err, b)
					return
				}
				reports[i] = append(reports[i], r)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	enqueuedBy := map[string]int{}
	for i := range clients {
		for round, r := range reports[i] {
			if len(r.Results) != perReq {
				t.Fatalf("client %d round %d: %d results for %d URLs", i, round, len(r.Results), perReq)
			}
			if sum := r.Enqueued + r.AlreadyPending + r.Duplicates + r.Rejected; sum != perReq {
				t.Errorf("client %d round %d: the counts add up to %d, not %d", i, round, sum, perReq)
			}
			if r.Duplicates != perReq-overlap || r.Rejected != 0 {
				t.Errorf("client %d round %d: %d duplicates and %d rejected, want %d and 0", i, round, r.Duplicates, r.Rejected, perReq-overlap)
			}
			if round > 0 && r.Enqueued != 0 {
				t.Errorf("client %d: its repeat enqueued %d URLs that were pending", i, r.Enqueued)
			}
			counted := map[string]int{}
			for j, res := range r.Results {
				if res.Input != inputs[i][j] || res.Key != wantKeys[i][j] {
					t.Errorf("client %d result %d: input %q key %q, want %q %q", i, j, res.Input, res.Key, inputs[i][j], wantKeys[i][j])
				}
				counted[res.Outcome]++
				if res.Outcome == "enqueued" {
					enqueuedBy[res.Key]++
				}
			}
			if counted["enqueued"] != r.Enqueued || counted["already pending"] != r.AlreadyPending || counted["duplicate"] != r.Duplicates {
				t.Errorf("client %d round %d: results %v do not match the counts %+v", i, round, counted, r)
			}
		}
	}
	if len(enqueuedBy) != distinct {
		t.Errorf("%d distinct keys were reported enqueued, want %d", len(enqueuedBy), distinct)
	}
	for k, n := range enqueuedBy {
		if n != 1 {
			t.Errorf("%s reported enqueued %d times", k, n)
		}
	}
	if n := e.pendingCount(); n != distinct {
		t.Errorf("ZCARD of the pending set is %d, want %d", n, distinct)
	}
	for k := range distinct {
		if !e.isPending(key(k)) {
			t.Errorf("%s is not in the pending set", key(k))
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// A worker drains the queue: each key goes out exactly once.
	sb, apiURL := testkit.StartSandbox(t, apiKey)
	testworker.Start(t, workerEnv(e.redis.URL(), apiURL)).StopsCleanly()
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	testkit.WaitFor(t, 60*time.Second, "every key sent and nothing left to send", func() bool {
		if e.pendingCount() != 0 {
			return false
		}
		for _, q := range tasks.QueueNames() {
			qi, err := insp.GetQueueInfo(q)
			if err != nil {
				if errors.Is(err, asynq.ErrQueueNotFound) || strings.Contains(err.Error(), "NOT_FOUND") { // never used yet
					continue
				}
				t.Fatal(err)
			}
			if qi.Pending+qi.Active+qi.Scheduled+qi.Retry+qi.Aggregating > 0 {
				return false
			}
		}
		for k := range distinct {
			if sb.URLCount(key(k)) == 0 {
				return false
			}
		}
		return true
	})
	for k := range distinct {
		if n := sb.URLCount(key(k)); n != 1 {
			t.Errorf("%s sent %d times, want 1", key(k), n)
		}
	}
	if st := sb.Stats(); st.URLs != distinct {
		t.Errorf("the sandbox accepted %d URLs in all, want %d", st.URLs, distinct)
	}
}

// TestThroughWorker: the worker serves the intake on HTTP_ADDR when INTAKE_TOKEN is set; what
// comes in over HTTP is sent to the API.
func TestThroughWorker(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	sb, apiURL := testkit.StartSandbox(t, apiKey)
	w := testworker.Start(t, workerEnv(r.URL(), apiURL, "INTAKE_TOKEN="+testToken, "INTAKE_MAX_URLS=5")).StopsCleanly()
	addr := w.Addr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("the worker listens on %s, want HTTP_ADDR=127.0.0.1:0's loopback", addr)
	}
	base, logs := "http://"+addr, w.Logs
	c := &http.Client{Timeout: 10 * time.Second}
	us := testkit.ImageURLs("worker", 3)
	body := urlsBody(us, "php app")
	if a := do(t, c, http.MethodPost, base+intake.PathInvalidations, "", "application/json", strings.NewReader(body)); a.Status != http.StatusUnauthorized {
		t.Errorf("no token: status %d", a.Status)
	}
	if a := do(t, c, http.MethodPost, base+intake.PathInvalidations, testToken, "application/json", strings.NewReader(urlsBody(testkit.ImageURLs("worker", 6), ""))); a.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(a.Body), "INTAKE_MAX_URLS=5") {
		t.Errorf("6 URLs with INTAKE_MAX_URLS=5: status %d %s", a.Status, a.Body)
	}
	a := do(t, c, http.MethodPost, base+intake.PathInvalidations, testToken, "application/json", strings.NewReader(body))
	if a.Status != http.StatusAccepted || a.report(t).Enqueued != 3 {
		t.Fatalf("status %d: %s", a.Status, a.Body)
	}
	testkit.WaitFor(t, 20*time.Second, "the 3 URLs sent", func() bool {
		for _, u := range us {
			if sb.URLCount(u) == 0 {
				return false
			}
		}
		return true
	})
	testkit.WaitFor(t, 10*time.Second, "the intake's log line", func() bool { return strings.Contains(logs.String(), "intake request") })
	if strings.Contains(logs.String(), testToken) {
		t.Error("the worker's logs hold INTAKE_TOKEN")
	}
}
