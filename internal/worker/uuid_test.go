package worker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// noUUIDAPI accepts every request with a 2xx that names no invalidation (as a 204 does).
type noUUIDAPI struct{ calls, all atomic.Int64 }

func (a *noUUIDAPI) Invalidate(context.Context, []string) (*apiclient.Invalidation, error) {
	a.calls.Add(1)
	return &apiclient.Invalidation{StatusCode: 204}, nil
}

func (a *noUUIDAPI) InvalidateAll(context.Context) (*apiclient.Invalidation, error) {
	a.all.Add(1)
	return &apiclient.Invalidation{StatusCode: 201}, nil
}

func (a *noUUIDAPI) Status(context.Context, string) (*apiclient.InvalidationStatus, error) {
	return &apiclient.InvalidationStatus{Status: apiclient.StatusDone}, nil
}

// urlsTask is a request task for urls, requested a second ago (before the send by the Redis clock too).
func urlsTask(t *testing.T, urls ...string) *asynq.Task {
	t.Helper()
	task, err := taskq.NewURLsTask(tasks.URLs{URLs: urls, RequestedAt: time.Now().Add(-time.Second).UTC(), Origin: tasks.OriginInteractive},
		tasks.QueueInteractive, 10)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// TestAcceptedWithoutUUID: a 2xx without an invalidation uuid goes through the handler as the
// policy says (actAcceptedNoUUID): counted in cipurge_api_accepted_without_uuid_total per call,
// warned about once per minute, its URLs recorded as sent (so a run again sends nothing) and, with
// PURGE_CONFIRM, marked unconfirmed with the reason instead of followed (no status-check task);
// without PURGE_CONFIRM they stay sent, as every send does.
func TestAcceptedWithoutUUID(t *testing.T) {
	t.Parallel()
	for _, confirm := range []bool{true, false} {
		rdb := testredis.Start(t).Client()
		api := &noUUIDAPI{}
		core, logs := observer.New(zapcore.WarnLevel)
		w := mustNew(t, Config{Limit: store.Limit{}, Confirm: confirm, Token: "demo"}, rdb, api, zap.New(core), nil)
		ctx := context.Background()
		warnings := func() int {
			return logs.FilterMessageSnippet("no invalidation uuid").FilterMessageSnippet("once a minute").Len()
		}

		a, b := "https://img.example.com/nouuid/a.jpg", "https://img.example.com/nouuid/b.jpg"
		first := urlsTask(t, a)
		for _, task := range []*asynq.Task{first, urlsTask(t, b)} {
			if err := w.handleURLs(ctx, task); err != nil {
				t.Fatalf("confirm=%v: handler: %v", confirm, err)
			}
		}
		if n := testutil.ToFloat64(w.metrics.AcceptedNoUUID.WithLabelValues(scopeOriginal)); n != 2 {
			t.Errorf("confirm=%v: cipurge_api_accepted_without_uuid_total{scope=original} = %v, want 2", confirm, n)
		}
		if n := testutil.ToFloat64(w.metrics.APIRequests.WithLabelValues(scopeOriginal, "accepted")); n != 2 {
			t.Errorf("confirm=%v: %v calls counted accepted, want 2", confirm, n)
		}
		if n := warnings(); n != 1 {
			t.Errorf("confirm=%v: %d warnings for 2 answers within a minute, want 1", confirm, n)
		}
		wantState := store.StateSent
		if confirm {
			wantState = store.StateUnconfirmed
		}
		for _, u := range []string{a, b} {
			rec, ok, err := w.store.History(ctx, u)
			if err != nil || !ok || rec.SentAt == 0 || rec.UUID != "" || rec.State != wantState {
				t.Errorf("confirm=%v: %s: history %+v (found %v, %v), want sent at a time, no uuid, state %s", confirm, u, rec, ok, err, wantState)
			}
			if confirm && !strings.Contains(rec.Detail, "no invalidation uuid") {
				t.Errorf("confirm=%v: %s: detail %q does not say why it is not followed", confirm, u, rec.Detail)
			}
		}
		if info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(tasks.QueueConfirm); err == nil && info.Size > 0 {
			t.Errorf("confirm=%v: %d status-check tasks for answers without a uuid", confirm, info.Size)
		}
		// Recorded as sent: the task run again (asynq after a crash) sends nothing.
		if err := w.handleURLs(ctx, first); err != nil || api.calls.Load() != 2 {
			t.Errorf("confirm=%v: run again: %v, %d calls in all, want 2", confirm, err, api.calls.Load())
		}
		// A minute later the warning is said again, once.
		w.noUUIDWarn.mu.Lock()
		w.noUUIDWarn.last = w.noUUIDWarn.last.Add(-noUUIDWarnEvery)
		w.noUUIDWarn.mu.Unlock()
		for _, u := range []string{"https://img.example.com/nouuid/c.jpg", "https://img.example.com/nouuid/d.jpg"} {
			if err := w.handleURLs(ctx, urlsTask(t, u)); err != nil {
				t.Fatal(err)
			}
		}
		if n := warnings(); n != 2 {
			t.Errorf("confirm=%v: %d warnings after a minute more, want 2", confirm, n)
		}
		// The flush-all's answer goes through the same policy.
		if err := w.handleAll(ctx, confirmedAll(t, w)); err != nil {
			t.Fatalf("confirm=%v: flush-all: %v", confirm, err)
		}
		if n := testutil.ToFloat64(w.metrics.AcceptedNoUUID.WithLabelValues(scopeAll)); api.all.Load() != 1 || n != 1 {
			t.Errorf("confirm=%v: flush-all: %d calls, counted %v without a uuid; want 1 and 1", confirm, api.all.Load(), n)
		}
	}
}

// confirmedAll returns a flush-all task confirmed with the worker's token and recorded as
// confirmed in its store, as the Producer enqueues one.
func confirmedAll(t *testing.T, w *Worker) *asynq.Task {
	t.Helper()
	ctx := context.Background()
	now, err := w.store.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.AllConfirm(ctx, now); err != nil {
		t.Fatal(err)
	}
	task, err := taskq.NewAllTask(tasks.All{Confirm: w.cfg.Token, RequestedAt: time.UnixMilli(now).UTC(), RequestedBy: "test"}, tasks.QueueAll)
	if err != nil {
		t.Fatal(err)
	}
	return task
}
