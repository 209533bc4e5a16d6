package enqueuecmd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestWaitExitStatuses: enqueue prints its request ID; --wait exits 0 once every URL is
// confirmed, 3 when one was dead-lettered, 4 when the wait ends first; status --request shows it.
func TestWaitExitStatuses(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	env := []string{"REDIS_URL=" + r.URL(), "CLOUDIMAGE_TOKEN=demo"}
	st := store.New(r.Client())
	ctx := context.Background()
	enqueue := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		err := enqueuecmd.Run(ctx, args, env, strings.NewReader(""), &out, &errb)
		if err != nil {
			errb.WriteString(err.Error())
		}
		return enqueuecmd.ExitCode(err), out.String(), errb.String()
	}
	// The worker's part, played here: once the request exists, its URLs end as to says.
	finish := func(to store.RequestState) {
		for range 200 {
			ids, _ := st.RecentRequests(ctx, 1)
			if len(ids) == 1 {
				if rq, _ := st.Request(ctx, ids[0]); rq.Total > 0 && !rq.Open {
					if _, err := st.MoveURLs(ctx, nil, rq.Sample, store.Move{From: store.ReqWaiting, To: to}); err != nil {
						t.Error(err)
					}
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Error("no request appeared")
	}
	for _, c := range []struct {
		to   store.RequestState
		code int
	}{{store.ReqConfirmed, 0}, {store.ReqDead, 3}} {
		_ = r.Client().Del(ctx, store.KeyRequests).Err()
		done := make(chan struct{})
		go func() { defer close(done); finish(c.to) }()
		code, out, stderr := enqueue("--wait=20s", "https://img.example.com/wait/"+string(c.to)+".jpg")
		<-done
		if code != c.code || !store.ValidRequestID(strings.TrimSpace(out)) || !strings.Contains(stderr, ": done") {
			t.Errorf("URL %s: exit %d, stdout %q, stderr %q; want exit %d, the request ID, a progress line", c.to, code, out, stderr, c.code)
		}
	}
	code, out, stderr := enqueue("--wait=300ms", "https://img.example.com/wait/slow.jpg")
	if code != 4 || !strings.Contains(stderr, "not done after 300ms") {
		t.Errorf("a wait that ends first: exit %d, %q", code, stderr)
	}
	id := strings.TrimSpace(out)
	code, out, _ = enqueue("status", "--request", id)
	if code != 0 || !strings.Contains(out, "1 waiting") || !strings.Contains(out, "not done: https://img.example.com/wait/slow.jpg") {
		t.Errorf("status --request: exit %d, %q", code, out)
	}
	if code, _, _ := enqueue("status", "--request", "rq_aaaaaaaaaaaaaaaa"); code != 1 {
		t.Errorf("status of an unknown request: exit %d, want 1", code)
	}
}

// TestStatusRequestSaysItsAccount: status --request says the account of a request when it is not
// default: the one account of an accounts file, by its name. Without a file it says none.
func TestStatusRequestSaysItsAccount(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(file, []byte("accounts:\n  - {name: shop, token: demo}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  []string
		want string
	}{{nil, ""}, {[]string{"ACCOUNTS_FILE=" + file}, "account shop\n"}} {
		env := append([]string{"REDIS_URL=" + r.URL(), "CLOUDIMAGE_TOKEN=demo"}, c.env...)
		var out, errb bytes.Buffer
		if err := enqueuecmd.Run(ctx, []string{"https://img.example.com/acct/" + strconv.Itoa(len(c.env)) + ".jpg"}, env, strings.NewReader(""), &out, &errb); err != nil {
			t.Fatalf("enqueue: %v %s", err, errb.String())
		}
		ids, err := store.New(r.Client()).RecentRequests(ctx, 1)
		if err != nil || len(ids) != 1 {
			t.Fatalf("requests %v, %v", ids, err)
		}
		out.Reset()
		if err := enqueuecmd.Run(ctx, []string{"status", "--request", ids[0]}, env, strings.NewReader(""), &out, &errb); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); c.want != "" && !strings.Contains(got, c.want) || c.want == "" && strings.Contains(got, "account") {
			t.Errorf("env %v: status --request printed %q; want %q", c.env, got, c.want)
		}
	}
}
