package events_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/cli/workercmd"
	"github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testkit/testworker"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestBurstEndToEnd: the worker command with EVENTS_TOKEN, a private redis-server and the strict
// sandbox API. A bucket-wide re-upload, 1,000 object events for 300 objects (created, overwritten,
// copied, deleted) in 100 concurrent deliveries, ends in exactly the 300 canonical keys
// invalidated (the origin prefix applies), each once, in about 300/15 = 20 API calls.
// It runs over 80 lines on purpose: one scenario on real processes, checked from several sides.
func TestBurstEndToEnd(t *testing.T) {
	t.Parallel()
	const (
		objects  = 300
		total    = 1000
		perMsg   = 10
		senders  = 8
		apiKey   = "events-e2e-key-2c9d"
		prefix   = "https://storage.example.com/media/"
		minCalls = (objects + 14) / 15
	)
	r := testredis.Start(t)
	sb, sbURL := testkit.StartSandbox(t, apiKey)
	env := testkit.FastEnv(r.URL(), sbURL, apiKey)
	addr := "127.0.0.1:" + strconv.Itoa(testredis.FreePort(t))
	env["HTTP_ADDR"] = addr
	env["EVENTS_TOKEN"] = testToken
	env["EVENTS_BUCKETS"] = "media=" + prefix
	env["CLOUDIMAGE_ORIGIN_PREFIX"] = prefix
	// The window is longer than the burst takes, so that every repeat of an object coalesces.
	env["PURGE_WINDOW"] = "5s"
	env["PURGE_MAX_DELAY"] = "10s"
	environ := env.List()
	var logs *testkit.SyncBuffer
	t.Cleanup(func() { // runs after the worker stopped (cleanups run last first)
		if strings.Contains(logs.String(), testToken) {
			t.Error("the worker's log holds EVENTS_TOKEN")
		}
	})
	logs = testworker.Start(t, environ).StopsCleanly().Logs
	base := "http://" + addr
	testkit.WaitFor(t, 20*time.Second, "the worker's HTTP server", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})

	names := []string{"ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Copy", "ObjectRemoved:Delete"}
	var msgs []string
	for start := 0; start < total; start += perMsg {
		var recs [][3]string
		for k := start; k < start+perMsg; k++ {
			recs = append(recs, [3]string{"s3:" + names[k%len(names)], "media", fmt.Sprintf("products/%d.jpg", k%objects)})
		}
		msgs = append(msgs, s3Message(t, "minio:s3", recs...))
	}
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sum events.Summary
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			for m := range work {
				req, _ := http.NewRequest(http.MethodPost, base+events.PathS3, strings.NewReader(m))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				a := answer{testkit.Answer{Status: resp.StatusCode, Body: []byte(readAll(t, resp))}}
				s := a.summary(t)
				mu.Lock()
				sum.Events += s.Events
				sum.Enqueued += s.Enqueued
				sum.AlreadyPending += s.AlreadyPending
				mu.Unlock()
			}
		}()
	}
	for _, m := range msgs {
		work <- m
	}
	close(work)
	wg.Wait()
	if sum.Events != total || sum.Enqueued+sum.AlreadyPending != total {
		t.Fatalf("acknowledged %+v, want %d events, each enqueued or already pending", sum, total)
	}

	// Done: nothing pending, nothing queued, and the sandbox has every object.
	rdb := r.Client()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	testkit.WaitFor(t, 60*time.Second, "every object invalidated and nothing left to send", func() bool {
		if n, err := rdb.ZCard(context.Background(), store.KeyPending).Result(); err != nil || n != 0 {
			return false
		}
		qi, err := insp.GetQueueInfo(tasks.QueueInteractive)
		if err != nil || qi.Pending+qi.Active+qi.Scheduled+qi.Retry+qi.Aggregating != 0 {
			return false
		}
		return len(sb.URLCounts()) >= objects
	})
	counts := sb.URLCounts()
	for k := range objects {
		key := fmt.Sprintf("products/%d.jpg", k)
		if counts[key] != 1 {
			t.Errorf("%s invalidated %d times, want once", key, counts[key])
		}
	}
	if len(counts) != objects {
		t.Errorf("%d distinct URLs invalidated, want exactly the %d objects' keys", len(counts), objects)
	}
	calls := len(sb.Accepted())
	t.Logf("%d events for %d objects: %d enqueued, %d coalesced at intake, %d API calls", total, objects, sum.Enqueued, sum.AlreadyPending, calls)
	if calls < minCalls || calls > minCalls+2 {
		t.Errorf("%d API calls, want about %d", calls, minCalls)
	}
	if sum.Enqueued != objects {
		t.Errorf("%d events enqueued a new request, want one per object (%d)", sum.Enqueued, objects)
	}
}

// TestWorkerRefusesBadBuckets: a wrong EVENTS_BUCKETS stops the worker at start with exit status
// 2 and an error that names the setting.
func TestWorkerRefusesBadBuckets(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	env := testkit.FastEnv(r.URL(), "http://127.0.0.1:1", "key")
	env["EVENTS_TOKEN"] = testToken
	env["EVENTS_BUCKETS"] = "media=ftp://storage.example.com/media/"
	environ := env.List()
	var stderr strings.Builder
	code := workercmd.Main(context.Background(), nil, environ, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `EVENTS_BUCKETS entry "media=ftp://storage.example.com/media/"`) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if strings.Contains(stderr.String(), testToken) {
		t.Error("the error holds EVENTS_TOKEN")
	}
}
