package taskq_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestAsynqKeys pins the key names of keys.go to what asynq really writes: tasks in every state
// (pending, scheduled, archived, active, retry, completed), a paused queue and the processed and
// failed counters are made by asynq itself on a private Redis, and each key must hold what asynq's
// own Inspector reports.
// It runs over 80 lines on purpose: it makes asynq write every kind of key, then checks each.
func TestAsynqKeys(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client()
	ctx := context.Background()
	cl := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	const waitQ, runQ = "keys-wait", "keys-run" // no server takes waitQ's tasks
	enqueue := func(typ, q, id string, opts ...asynq.Option) {
		t.Helper()
		opts = append(opts, asynq.Queue(q), asynq.TaskID(id), asynq.MaxRetry(3))
		if _, err := cl.Enqueue(asynq.NewTask(typ, nil), opts...); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("any", waitQ, "pending1")
	enqueue("any", waitQ, "scheduled1", asynq.ProcessIn(time.Hour))
	enqueue("any", waitQ, "archived1")
	if err := insp.ArchiveTask(waitQ, "archived1"); err != nil {
		t.Fatal(err)
	}
	if err := insp.PauseQueue(waitQ); err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc("block", func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	mux.HandleFunc("fail", func(context.Context, *asynq.Task) error { return errors.New("fails on purpose") })
	mux.HandleFunc("ok", func(context.Context, *asynq.Task) error { return nil })
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 3, Queues: map[string]int{runQ: 1}, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release); srv.Shutdown() })
	enqueue("block", runQ, "active1")
	enqueue("fail", runQ, "retry1")
	enqueue("ok", runQ, "completed1", asynq.Retention(time.Hour))
	testkit.WaitFor(t, 20*time.Second, "one task active, one retrying, one completed", func() bool {
		info, err := insp.GetQueueInfo(runQ)
		return err == nil && info.Active == 1 && info.Retry == 1 && info.Completed == 1
	})

	for _, q := range []string{waitQ, runQ} {
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		lists := map[string]int{taskq.PendingKey(q): info.Pending, taskq.ActiveKey(q): info.Active}
		sets := map[string]int{taskq.ScheduledKey(q): info.Scheduled, taskq.RetryKey(q): info.Retry, taskq.ArchivedKey(q): info.Archived, taskq.CompletedKey(q): info.Completed}
		for k, want := range lists {
			if n, err := rdb.LLen(ctx, k).Result(); err != nil || int(n) != want {
				t.Errorf("LLEN %s = %d, %v; asynq reports %d", k, n, err, want)
			}
		}
		for k, want := range sets {
			if n, err := rdb.ZCard(ctx, k).Result(); err != nil || int(n) != want {
				t.Errorf("ZCARD %s = %d, %v; asynq reports %d", k, n, err, want)
			}
		}
		if n, _ := rdb.Exists(ctx, taskq.PausedKey(q)).Result(); (n == 1) != info.Paused {
			t.Errorf("EXISTS %s = %d; asynq reports paused=%v", taskq.PausedKey(q), n, info.Paused)
		}
		for k, want := range map[string]int{taskq.ProcessedTotalKey(q): info.ProcessedTotal, taskq.FailedTotalKey(q): info.FailedTotal} {
			if n, _ := rdb.Get(ctx, k).Int(); n != want {
				t.Errorf("GET %s = %d; asynq reports %d", k, n, want)
			}
		}
		if ok, err := rdb.SIsMember(ctx, taskq.AsynqQueues, q).Result(); err != nil || !ok {
			t.Errorf("%s is not in %s (%v)", q, taskq.AsynqQueues, err)
		}
	}
	// The states must not all be zero, or the comparisons above prove nothing.
	wait, _ := insp.GetQueueInfo(waitQ)
	run, _ := insp.GetQueueInfo(runQ)
	if wait.Pending != 1 || wait.Scheduled != 1 || wait.Archived != 1 || !wait.Paused || run.ProcessedTotal < 2 || run.FailedTotal < 1 {
		t.Errorf("asynq's own view: %s %+v, %s %+v", waitQ, wait, runQ, run)
	}
	for _, id := range []string{"pending1", "scheduled1", "archived1"} {
		if n, _ := rdb.Exists(ctx, taskq.TaskKey(waitQ, id)).Result(); n != 1 {
			t.Errorf("task %s: no hash at %s", id, taskq.TaskKey(waitQ, id))
		}
	}
	if ns, err := rdb.HGet(ctx, taskq.TaskKey(waitQ, "pending1"), taskq.TaskPendingSince).Int64(); err != nil ||
		time.Since(time.Unix(0, ns)) < 0 || time.Since(time.Unix(0, ns)) > time.Minute {
		t.Errorf("HGET %s %s = %d, %v; want when it was enqueued (Unix ns)", taskq.TaskKey(waitQ, "pending1"), taskq.TaskPendingSince, ns, err)
	}
}

// TestAsynqKeysHaveOneOwner: no Go file of the module but keys.go spells an asynq queue key.
func TestAsynqKeysHaveOneOwner(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	own, _ := filepath.Abs("keys.go")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || path == own {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), `"asynq`+`:{`) || strings.Contains(string(b), `"asynq`+`:queues"`) {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s spells an asynq key by hand: use the functions of internal/taskq/keys.go", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
