package worker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// failOnceAPI accepts every call with a fresh uuid and reports each DONE, with the URLs of
// failing listed as failed the first time they are sent.
type failOnceAPI struct {
	mu      sync.Mutex
	n       int
	sent    map[string][]string
	failing map[string]bool
}

func (a *failOnceAPI) Invalidate(_ context.Context, urls []string) (*apiclient.Invalidation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", a.n)
	a.sent[id] = urls
	return &apiclient.Invalidation{StatusCode: 201, UUID: id}, nil
}

func (a *failOnceAPI) InvalidateAll(context.Context) (*apiclient.Invalidation, error) {
	return &apiclient.Invalidation{StatusCode: 201}, nil
}

func (a *failOnceAPI) Status(_ context.Context, uuid string) (*apiclient.InvalidationStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &apiclient.InvalidationStatus{Status: apiclient.StatusDone, UUID: uuid}
	for _, u := range a.sent[uuid] {
		if a.failing[u] {
			st.Failed = append(st.Failed, u)
			delete(a.failing, u)
		}
	}
	return st, nil
}

// TestRequestsFollowTheirURLs: a request linked to its URLs and a bulk request carried by its
// task move as the worker sends, confirms and resends: done only when every URL is confirmed,
// a failed URL counted as resent.
func TestRequestsFollowTheirURLs(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	a, b, c := "https://img.example.com/rq/a.jpg", "https://img.example.com/rq/b.jpg", "https://img.example.com/rq/c.jpg"
	api := &failOnceAPI{sent: map[string][]string{}, failing: map[string]bool{b: true}}
	w := mustNew(t, Config{Limit: store.Limit{}, Confirm: true, Token: "demo"}, rdb, api, zap.NewNop(), nil)
	ctx := context.Background()
	linked, _, _, err := w.store.NewRequest(ctx, []string{a, b}, store.NewRequestOptions{Confirm: true, Link: true})
	if err != nil {
		t.Fatal(err)
	}
	bulk, _, _, err := w.store.NewRequest(ctx, []string{c}, store.NewRequestOptions{Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	counts := func(id string) store.Request {
		t.Helper()
		r, err := w.store.Request(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	send := func(p tasks.URLs) {
		t.Helper()
		task, err := taskq.NewURLsTask(p, tasks.QueueInteractive, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.handleURLs(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	confirm := func(uuid string, urls, reqs []string) {
		t.Helper()
		task, err := taskq.NewConfirmTask(tasks.Confirm{UUID: uuid, URLs: urls, SentAt: time.Now().UTC(), Requests: reqs}, tasks.QueueConfirm, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.handleConfirm(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().Add(-time.Second).UTC()
	send(tasks.URLs{URLs: []string{a, b}, RequestedAt: at, Origin: tasks.OriginInteractive})
	send(tasks.URLs{URLs: []string{c}, RequestedAt: at, Origin: tasks.OriginBulk, Requests: []string{bulk}})
	if r := counts(linked); r.Counts[store.ReqSent] != 2 || !r.Done.IsZero() {
		t.Fatalf("linked after the send: %v", r.Counts)
	}
	uuid := func(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
	confirm(uuid(1), []string{a, b}, nil)
	confirm(uuid(2), []string{c}, []string{bulk})
	if r := counts(bulk); r.Done.IsZero() || r.Counts[store.ReqConfirmed] != 1 {
		t.Errorf("bulk: %v, done %v", r.Counts, r.Done)
	}
	r := counts(linked)
	if !r.Done.IsZero() || r.Counts[store.ReqConfirmed] != 1 || r.Counts[store.ReqWaiting] != 1 || r.Counts[store.ReqResent] != 1 {
		t.Fatalf("linked after b failed: %v, done %v", r.Counts, r.Done)
	}
	send(tasks.URLs{URLs: []string{b}, RequestedAt: time.Now().UTC(), Origin: tasks.OriginResend})
	confirm(uuid(3), []string{b}, nil)
	if r := counts(linked); r.Done.IsZero() || r.Counts[store.ReqConfirmed] != 2 {
		t.Errorf("linked after the resend: %v, done %v", r.Counts, r.Done)
	}
	if n := testutil.ToFloat64(w.metrics.RequestsDone); n != 2 {
		t.Errorf("cipurge_requests_done_total = %v, want 2", n)
	}
}
