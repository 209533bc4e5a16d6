package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestRedisWatchSaysDownAndBackOnce: one line when Redis goes, one when it is back, however many
// errors come in between; a reminder only after remindEvery.
func TestRedisWatchSaysDownAndBackOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRedisWatch(zap.New(core), nil)
	r.now = func() time.Time { return now }
	down := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	for range 50 {
		r.report(down)
		now = now.Add(time.Second)
	}
	r.report(nil)
	r.report(nil)
	var msgs []string
	for _, e := range logs.All() {
		msgs = append(msgs, e.Message)
	}
	want := []string{"Redis is unreachable: nothing is sent or enqueued until it is back; queued work stays in Redis", "Redis is reachable again"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("lines: %q, want %q", msgs, want)
	}
	r.report(down)
	now = now.Add(r.remindEvery)
	r.report(down)
	if n := logs.FilterMessage("Redis is still unreachable").Len(); n != 1 {
		t.Errorf("%d reminders after %s, want 1", n, r.remindEvery)
	}
}

// TestAsynqLoggerQuiet: asynq's repeated complaint is logged once a minute, "Retry exhausted" never,
// and nothing above debug while Redis is down.
func TestAsynqLoggerQuiet(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	base := zap.New(core)
	up := true
	r := newRedisWatch(base, func(context.Context) error {
		if up {
			return nil
		}
		return errors.New("connection refused")
	})
	r.checkEvery = 0
	l := newAsynqLogger(base, r)
	for range 20 {
		l.Error("Failed to write server state data: boom")
	}
	l.Warn("Retry exhausted for task id=urls_1")
	if n := logs.FilterMessage("Failed to write server state data: boom").Len(); n != 1 {
		t.Errorf("a repeated asynq error logged %d times, want 1", n)
	}
	if n := logs.FilterMessageSnippet("Retry exhausted").Len(); n != 0 {
		t.Errorf("Retry exhausted logged %d times", n)
	}
	up = false
	l.Error("Dequeue error: connection refused")
	if e := logs.FilterMessage("Dequeue error: connection refused").All(); len(e) != 1 || e[0].Level != zapcore.DebugLevel {
		t.Errorf("an asynq complaint while Redis is down: %+v, want one debug line", e)
	}
	if n := logs.FilterMessageSnippet("Redis is unreachable").Len(); n != 1 {
		t.Errorf("Redis is unreachable said %d times", n)
	}
}

// TestRedisOutageLogsAFewLines: a running worker whose Redis is killed logs it once, a handful of
// lines while it is down, and once when it is back.
func TestRedisOutageLogsAFewLines(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	core, logs := observer.New(zapcore.InfoLevel)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	w := mustNew(t, Config{Limit: store.Limit{}, RetryCheck: 100 * time.Millisecond}, rdb, &nopAPI{}, zap.New(core), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testkit.WaitFor(t, 20*time.Second, "the worker started", func() bool { return logs.FilterMessage("worker started").Len() == 1 })
	srv.Kill()
	testkit.WaitFor(t, 30*time.Second, "Redis is unreachable logged", func() bool {
		return logs.FilterMessageSnippet("Redis is unreachable").Len() == 1
	})
	before := logs.Len()
	// While it is down, asynq's forwarder, heartbeater and processor fail every second or so:
	// wait for two of the task server's health checks (5 s apart) to have failed too.
	deadline := time.Now().Add(12 * time.Second)
	testkit.WaitFor(t, 20*time.Second, "12 s of outage", func() bool { return time.Now().After(deadline) })
	during := logs.Len() - before
	srv.Restart(false)
	testkit.WaitFor(t, 30*time.Second, "Redis is reachable again logged", func() bool {
		return logs.FilterMessage("Redis is reachable again").Len() == 1
	})
	t.Logf("%d log lines during 12 s of Redis outage", during)
	if during > 4 {
		var msgs []string
		for _, e := range logs.All()[before : before+during] {
			msgs = append(msgs, e.Message)
		}
		t.Errorf("%d lines in 12 s of outage, want at most 4: %q", during, msgs)
	}
	if n := logs.FilterMessageSnippet("Redis is unreachable").Len(); n != 1 {
		t.Errorf("Redis is unreachable logged %d times", n)
	}
	_ = asynq.SkipRetry
}
