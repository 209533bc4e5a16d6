package worker

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// nopAPI accepts every request at once and counts the URLs.
type nopAPI struct{ urls atomic.Int64 }

func (a *nopAPI) Invalidate(_ context.Context, urls []string) (*apiclient.Invalidation, error) {
	a.urls.Add(int64(len(urls)))
	return &apiclient.Invalidation{StatusCode: 201, UUID: "4fc96d31-0000-4000-8000-000000000000"}, nil
}

func (a *nopAPI) InvalidateAll(context.Context) (*apiclient.Invalidation, error) {
	return &apiclient.Invalidation{StatusCode: 201}, nil
}

func (a *nopAPI) Status(context.Context, string) (*apiclient.InvalidationStatus, error) {
	return &apiclient.InvalidationStatus{Status: apiclient.StatusDone}, nil
}

// benchWorker is a worker on a private Redis with an API that accepts everything at once, no
// rate limit and no confirmation: what is measured is the worker's own cost per request.
func benchWorker(b *testing.B) (*Worker, *nopAPI) {
	b.Helper()
	api := &nopAPI{}
	w := mustNew(b, Config{Limit: store.Limit{}}, testredis.Start(b).Client(), api, zap.NewNop(), nil)
	return w, api
}

// benchTask returns a request task payload of n distinct URLs, requested now.
func benchTask(b *testing.B, prefix string, i, n int, origin string) *asynq.Task {
	b.Helper()
	p := tasks.URLs{URLs: make([]string, n), RequestedAt: time.Now().UTC(), Origin: origin}
	for j := range p.URLs {
		p.URLs[j] = "https://img.example.com/" + prefix + "/" + strconv.Itoa(i) + "/photo-" + strconv.Itoa(j) + ".jpg"
	}
	t, err := taskq.NewURLsTask(p, tasks.QueueInteractive, 10)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkHandleRequest is one request task of 15 URLs through the handler: decode, admission
// (one script), the API call (instant here), the record of what was sent (one script).
func BenchmarkHandleRequest(b *testing.B) {
	w, api := benchWorker(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		b.StopTimer() // every task names new URLs: a URL sent before would be dropped unsent
		t := benchTask(b, "req", i, tasks.MaxURLsPerTask, tasks.OriginInteractive)
		b.StartTimer()
		if err := w.handleURLs(ctx, t); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if got := api.urls.Load(); got != int64(b.N*tasks.MaxURLsPerTask) {
		b.Fatalf("%d URLs reached the API, want %d", got, b.N*tasks.MaxURLsPerTask)
	}
	b.ReportMetric(float64(b.N*tasks.MaxURLsPerTask)/b.Elapsed().Seconds(), "urls/s")
}

// BenchmarkHandleBulkTask is one bulk task (tasks.BulkRequests requests of 15 URLs) through the
// handler: the requests are sent concurrently from the task's slot.
func BenchmarkHandleBulkTask(b *testing.B) {
	w, api := benchWorker(b)
	ctx := context.Background()
	n := tasks.BulkRequests * tasks.MaxURLsPerTask
	i := 0
	for b.Loop() {
		b.StopTimer()
		t := benchTask(b, "bulk", i, n, tasks.OriginBulk)
		b.StartTimer()
		if err := w.handleURLs(ctx, t); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if got := api.urls.Load(); got != int64(b.N*n) {
		b.Fatalf("%d URLs reached the API, want %d", got, b.N*n)
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "urls/s")
}
