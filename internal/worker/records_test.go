package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// cancellingAPI accepts a request and, before answering, cancels the task's context: a shutdown
// (or the task's timeout) that lands right after the API acted.
type cancellingAPI struct {
	nopAPI
	cancel context.CancelFunc
	calls  atomic.Int64
}

func (a *cancellingAPI) Invalidate(ctx context.Context, urls []string) (*apiclient.Invalidation, error) {
	a.calls.Add(1)
	a.cancel()
	return a.nopAPI.Invalidate(ctx, urls)
}

// TestAcceptedRecordSurvivesCancel: the record of an accepted call is written even though the
// task's context is cancelled right after the 201, so running the task again sends nothing.
func TestAcceptedRecordSurvivesCancel(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	api := &cancellingAPI{}
	w := mustNew(t, Config{Limit: store.Limit{}}, rdb, api, zaptest.NewLogger(t), nil)
	p := tasks.URLs{URLs: []string{"https://img.example.com/cancel/a.jpg", "https://img.example.com/cancel/b.jpg"},
		RequestedAt: time.Now().Add(-time.Second).UTC(), Origin: tasks.OriginInteractive} // before the send, by the clock of Redis too
	task, err := taskq.NewURLsTask(p, tasks.QueueInteractive, 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	api.cancel = cancel
	if err := w.handleURLs(ctx, task); err != nil {
		t.Fatalf("handler: %v", err)
	}
	for _, u := range p.URLs {
		rec, ok, err := w.store.History(context.Background(), u)
		if err != nil || !ok || rec.State != "sent" || rec.UUID == "" {
			t.Errorf("%s: history %+v (found %v, %v): the accepted call was not recorded", u, rec, ok, err)
		}
	}
	// The task runs again (asynq put it back after the shutdown): nothing is sent twice.
	if err := w.handleURLs(context.Background(), task); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := api.calls.Load(); n != 1 {
		t.Errorf("%d API calls, want 1: the URLs were sent again", n)
	}
}
