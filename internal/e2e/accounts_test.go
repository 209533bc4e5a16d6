package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/cli/workercmd"
	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testkit/testworker"
	"github.com/cipurge/cipurge/internal/testredis"
)

// threeAccounts is an accounts file of shop-a, shop-b and shop-c, each with its own token and key.
const threeAccounts = `accounts:
  - {name: shop-a, token: shopa, api_key: key-a, rate: 0}
  - {name: shop-b, token: shopb, api_key: key-b, rate: 0}
  - {name: shop-c, token: shopc, api_key: key-c, rate: 0}
`

// accountsEnv is the fast environment of a worker on redisURL and apiURL with the accounts file
// body: the variables the file owns are left out.
func accountsEnv(t *testing.T, redisURL, apiURL, body string) (testkit.Env, *accounts.Set) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := accounts.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	env := testkit.FastEnv(redisURL, apiURL, "").With("ACCOUNTS_FILE=" + p)
	for _, v := range []string{"CLOUDIMAGE_API_KEY", "CLOUDIMAGE_TOKEN", "PURGE_RATE"} {
		delete(env, v)
	}
	return env, set
}

// byKey serves the Cloudimage API on loopback and hands each request to the sandbox of its
// X-Client-Key. A key of no sandbox gets the last one, which refuses it.
func byKey(t *testing.T, sbs map[string]*sandbox.Server, other *sandbox.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sb, ok := sbs[r.Header.Get("X-Client-Key")]; ok {
			sb.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestSeveralAccountsThroughTheWorker (issue 23, part 3): the worker command with an accounts
// file of three runs a lane per account. Each account's URLs, routed by their CDN host, reach
// the API with that account's key only. shop-b's key is revoked: its 401 stops shop-b's lane,
// and shop-a and shop-c send all theirs. /readyz stays ready and names shop-b.
func TestSeveralAccountsThroughTheWorker(t *testing.T) {
	r := testredis.Start(t)
	sbs := map[string]*sandbox.Server{}
	for _, k := range []string{"key-a", "key-c"} {
		sbs[k] = sandbox.New(sandbox.Options{Key: k})
	}
	revoked := sandbox.New(sandbox.Options{Key: "the-new-key-b"})
	env, set := accountsEnv(t, r.URL(), byKey(t, sbs, revoked), threeAccounts)
	w := testworker.Start(t, env.List()).StopsCleanly()
	addr := w.Addr(t)

	ctx := context.Background()
	want := map[string][]string{} // the keys sent per account
	for _, name := range []string{"shop-a", "shop-b", "shop-c"} {
		tok := strings.ReplaceAll(name, "-", "")
		var urls []string
		for i := range 20 {
			urls = append(urls, fmt.Sprintf("https://%s.cloudimg.io/img.example.com/%s/%d.jpg", tok, name, i))
		}
		a, err := set.Route(urls[0], "")
		if err != nil || a.Name != name {
			t.Fatalf("%s routes to %v, %v", urls[0], a, err)
		}
		for _, u := range urls {
			k, err := a.Normalizer().Normalize(u)
			if err != nil {
				t.Fatal(err)
			}
			want[name] = append(want[name], k)
		}
		// The producer of the account's keys; the Go Client writes for one account so far.
		if _, err := producer.New(r.Client(), producer.Settings{Account: name}).AddKeys(ctx, "", want[name]); err != nil {
			t.Fatal(err)
		}
	}
	for name, sb := range map[string]*sandbox.Server{"shop-a": sbs["key-a"], "shop-c": sbs["key-c"]} {
		testkit.WaitFor(t, 30*time.Second, name+"'s URLs sent with its key", func() bool { return invalidatedAll(sb, want[name]) })
	}
	testkit.WaitFor(t, 30*time.Second, "shop-b's lane stopped by its 401", func() bool {
		_, body := testkit.Get(t, "http://"+addr+"/readyz")
		return strings.Contains(body, `"stopped_accounts":["shop-b"]`)
	})
	code, body := testkit.Get(t, "http://"+addr+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, `"ready":true`) {
		t.Errorf("/readyz with one account stopped: %d %s", code, body)
	}
	// One heartbeat for the process: one worker alive, whose lane of shop-b stopped.
	// It is published every store.WorkerPublishEvery.
	st := store.New(r.Client())
	var ws []store.WorkerState
	testkit.WaitFor(t, 3*store.WorkerPublishEvery, "one worker's state with shop-b's lane stopped", func() bool {
		now, err := st.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ws, err = st.For("shop-b").Workers(ctx, now); err != nil {
			t.Fatal(err)
		}
		return len(ws) != 1 || strings.HasPrefix(ws[0].Stopped, "since ")
	})
	if len(ws) != 1 {
		t.Errorf("%d workers' states for one process: %+v", len(ws), ws)
	}
	// Each account reads that record as its own lane's. The account default has no lane here.
	now, err := st.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ws, err := st.Workers(ctx, now); err != nil || len(ws) != 0 {
		t.Errorf("the account default, of no lane, reads the workers %+v, %v; want none", ws, err)
	}
	for name, stopped := range map[string]bool{"shop-a": false, "shop-b": true} {
		if ws, err := st.For(name).Workers(ctx, now); err != nil || len(ws) != 1 || (ws[0].Stopped != "") != stopped {
			t.Errorf("%s reads the worker as %+v, %v; want stopped %v", name, ws, err, stopped)
		}
	}
	// One set of metrics for the process; each lane's series name its account.
	_, metrics := testkit.Get(t, "http://"+addr+"/metrics")
	for _, line := range []string{`cipurge_urls_invalidated_total{account="shop-a"} 20`, `cipurge_urls_invalidated_total{account="shop-c"} 20`,
		`cipurge_api_key_rejected{account="shop-b"} 1`, `cipurge_api_key_rejected{account="shop-a"} 0`,
		`cipurge_sending_stopped{account="shop-b"} 1`, `cipurge_sending_stopped{account="shop-c"} 0`} {
		if !strings.Contains(metrics, "\n"+line+"\n") {
			t.Errorf("/metrics has no %s", line)
		}
	}
	if !strings.Contains(metrics, `cipurge_api_requests_total{account="shop-b",outcome="unauthorized"`) {
		t.Errorf("/metrics has no 401 of shop-b:\n%s", testkit.Tail(metrics, 60))
	}
	// The asynqmon UI lists every account's queues.
	if code, body := testkit.Get(t, "http://"+addr+"/monitoring/api/queues"); code != http.StatusOK ||
		!strings.Contains(body, `"purge:shop-a"`) || !strings.Contains(body, `"purge:shop-c"`) {
		t.Errorf("asynqmon's queues: %d %s", code, body)
	}
	if n := revoked.Stats().Accepted; n != 0 {
		t.Errorf("the revoked key of shop-b got %d requests accepted", n)
	}
	var refused []string
	for _, q := range revoked.Requests() {
		if q.Code != http.StatusUnauthorized {
			t.Errorf("shop-b's key got %d, want 401", q.Code)
		}
		refused = append(refused, q.URLs...)
	}
	for _, u := range refused {
		if !slices.Contains(want["shop-b"], u) {
			t.Errorf("%s reached the API with shop-b's key", u)
		}
	}
	for key, sb := range sbs {
		for _, q := range sb.Accepted() {
			for _, u := range q.URLs {
				if name := "shop-" + key[len(key)-1:]; !slices.Contains(want[name], u) {
					t.Errorf("%s reached the API with %s", u, key)
				}
			}
		}
	}
}

// TestSeveralAccountsRefuseOrphans (issue 23, part 3): URLs that a deployment of one account
// queued sit on today's keys. A file of several accounts, none named default, has no lane for
// them: the worker refuses to start, exit 2, saying how much and the fix. Named default, an
// account's lane drains them.
func TestSeveralAccountsRefuseOrphans(t *testing.T) {
	h := newHarness(t)
	h.mustEnqueue(t, testkit.ImageURLs("orphans", 3)...)
	env, _ := accountsEnv(t, h.Redis.URL(), h.Env["CLOUDIMAGE_API_URL"], threeAccounts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := workercmd.Run(ctx, nil, env.List(), nil, &testkit.SyncBuffer{})
	if workercmd.ExitCode(err) != 2 || !strings.Contains(err.Error(), "3 URLs waiting in cipurge:{cipurge}:pending") ||
		!strings.Contains(err.Error(), "no account of ACCOUNTS_FILE="+env["ACCOUNTS_FILE"]+" is named default") {
		t.Fatalf("exit %d: %v", workercmd.ExitCode(err), err)
	}
	env, _ = accountsEnv(t, h.Redis.URL(), h.Env["CLOUDIMAGE_API_URL"],
		threeAccounts+"  - {name: default, token: demo, api_key: "+testKey+", rate: 0}\n")
	testworker.Start(t, env.List()).StopsCleanly()
	testkit.WaitFor(t, 30*time.Second, "the account default drains today's keys", func() bool {
		return invalidatedAll(h.SB, testkit.ImageURLs("orphans", 3))
	})
}
