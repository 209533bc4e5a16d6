package store_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// sweepEnv is a private Redis with the product's store and asynq's client and inspector on it.
type sweepEnv struct {
	t    *testing.T
	ctx  context.Context
	rdb  *redis.Client
	st   *store.Store
	c    *asynq.Client
	insp *asynq.Inspector
}

func newSweepEnv(t *testing.T) *sweepEnv {
	t.Helper()
	rdb := testredis.Start(t).Client()
	return &sweepEnv{t: t, ctx: context.Background(), rdb: rdb, st: store.New(rdb),
		c: asynq.NewClientFromRedisClient(rdb), insp: asynq.NewInspectorFromRedisClient(rdb)}
}

func (e *sweepEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// now is the Redis clock (ms).
func (e *sweepEnv) now() int64 {
	e.t.Helper()
	n, err := e.st.Now(e.ctx)
	e.must(err)
	return n
}

func (e *sweepEnv) sweep(grace time.Duration) store.SweepResult {
	e.t.Helper()
	res, err := e.st.ReconcileDeadLetters(e.ctx, store.SweepOptions{Queues: tasks.QueueNames(), HistoryTTL: time.Hour, Grace: grace})
	e.must(err)
	return res
}

// enqueueURL enqueues a request task for url on the interactive queue and returns its ID.
func (e *sweepEnv) enqueueURL(url string) string {
	e.t.Helper()
	p := tasks.URLs{URLs: []string{url}, RequestedAt: time.UnixMilli(1_790_000_000_000).UTC(), Origin: tasks.OriginInteractive}
	task, err := taskq.NewURLsTask(p, tasks.QueueInteractive, 3)
	e.must(err)
	_, err = e.c.EnqueueContext(e.ctx, task)
	e.must(err)
	return tasks.URLsTaskID(p)
}

// record writes the product's record of task id (URL url) dead-lettered at (ms), as the worker's
// error handler does.
func (e *sweepEnv) record(id, url string, at int64) {
	e.t.Helper()
	p := tasks.URLs{URLs: []string{url}, RequestedAt: time.UnixMilli(1_790_000_000_000).UTC(), Origin: tasks.OriginInteractive}
	b, err := tasks.EncodeURLs(p)
	e.must(err)
	e.must(e.st.KeepDeadLetter(e.ctx, store.DeadLetter{ID: id, Queue: tasks.QueueInteractive, Type: tasks.TypeURLs, URLs: []string{url},
		Reason: "Cloudimage rejected this request", Attempts: 1, At: at, Payload: b}))
}

// deadLetter dead-letters a request task for url as the worker does: its record (written at at),
// then asynq archives it.
func (e *sweepEnv) deadLetter(url string, at int64) string {
	e.t.Helper()
	id := e.enqueueURL(url)
	e.record(id, url, at)
	e.must(e.insp.ArchiveTask(tasks.QueueInteractive, id))
	return id
}

func (e *sweepEnv) kept(id string) bool {
	e.t.Helper()
	_, ok, err := e.st.DeadLetterByID(e.ctx, id)
	e.must(err)
	return ok
}

func ids(ds []store.DeadLetter) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	slices.Sort(out)
	return out
}

// TestDeadLetterSweepRecordsWhatTheRecovererArchived: a worker dies (SIGKILL) during the last
// attempt of a status check; asynq's recoverer, when the next worker starts, archives it without
// calling the error handler, so the product has no record of it (the premise, checked). The
// reconciliation records it from the archive, with asynq's reason, and marks its URLs unconfirmed,
// as a status check out of retries does; run again, it changes nothing.
func TestDeadLetterSweepRecordsWhatTheRecovererArchived(t *testing.T) {
	t.Parallel()
	e := newSweepEnv(t)
	urls := []string{"https://img.example.com/lease/a.jpg", "https://img.example.com/lease/b.jpg"}
	sent := time.Now().Add(-time.Minute)
	const uuid = "5e1d-lease-expired"
	e.must(e.st.Sent(e.ctx, urls, sent.Add(-time.Second).UnixMilli(), sent.UnixMilli(), uuid, time.Hour))
	task, err := taskq.NewConfirmTask(tasks.Confirm{UUID: uuid, URLs: urls, RequestedAt: sent.Add(-time.Second), SentAt: sent,
		Origin: tasks.OriginInteractive}, tasks.QueueConfirm, 0, 3)
	e.must(err)
	// Its last attempt: asynq's MaxRetry used up (Retried 0 of 0).
	_, err = e.c.EnqueueContext(e.ctx, task, asynq.MaxRetry(0))
	e.must(err)
	id := testkit.DequeueAsDeadWorker(t, e.rdb, tasks.QueueConfirm, 2*time.Minute)

	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{Queues: map[string]int{tasks.QueueConfirm: 1}, Concurrency: 1,
		LogLevel: asynq.FatalLevel, ErrorHandler: asynq.ErrorHandlerFunc(func(context.Context, *asynq.Task, error) {
			t.Error("asynq called the error handler: the recoverer path was not taken")
		})})
	e.must(srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		t.Error("the task ran again: the recoverer retried it instead of archiving it")
		return nil
	})))
	testkit.WaitFor(t, 10*time.Second, "asynq's recoverer archived the task", func() bool {
		ti, err := e.insp.GetTaskInfo(tasks.QueueConfirm, id)
		return err == nil && ti.State == asynq.TaskStateArchived
	})
	srv.Shutdown()
	if e.kept(id) {
		t.Fatal("the task has a record before any reconciliation: the test does not show the recoverer's hole")
	}

	res := e.sweep(0)
	if len(res.Added) != 1 || res.Added[0].ID != id || res.Unconfirmed != len(urls) {
		t.Fatalf("reconciliation added %v, %d URLs unconfirmed; want [%s] and %d", ids(res.Added), res.Unconfirmed, id, len(urls))
	}
	d, ok, err := e.st.DeadLetterByID(e.ctx, id)
	e.must(err)
	if !ok || d.Queue != tasks.QueueConfirm || d.Type != tasks.TypeConfirm || !slices.Equal(d.URLs, urls) || d.Attempts != 1 ||
		!strings.Contains(d.Reason, "lease expired") || d.At == 0 || len(d.Payload) == 0 {
		t.Errorf("record %+v: want the status check's queue, type, URLs, 1 attempt, asynq's reason and a time", d)
	}
	for _, u := range urls {
		rec, _, err := e.st.History(e.ctx, u)
		e.must(err)
		if rec.State != store.StateUnconfirmed || !strings.Contains(rec.Detail, "lease expired") {
			t.Errorf("%s: history %s (%q), want unconfirmed with asynq's reason", u, rec.State, rec.Detail)
		}
	}
	if again := e.sweep(0); len(again.Added)+len(again.Forgotten) != 0 {
		t.Errorf("a second reconciliation changed %v / %v", ids(again.Added), ids(again.Forgotten))
	}
}

// TestDeadLetterSweepForgetsDeletedAndCompleted: records of tasks an operator deleted in asynqmon,
// or ran again ("run") to completion, are forgotten; a task queued again is kept until its run
// ends; a record younger than the grace period, and a task still archived, are kept. A run again
// that asynq archives again without the error handler (by hand here) is recorded anew.
func TestDeadLetterSweepForgetsDeletedAndCompleted(t *testing.T) {
	t.Parallel()
	e := newSweepEnv(t)
	old := e.now() - 2*time.Minute.Milliseconds()
	url := func(s string) string { return "https://img.example.com/forget/" + s + ".jpg" }
	deleted := e.deadLetter(url("deleted"), old)
	rerun := e.deadLetter(url("rerun"), old)
	archived := e.deadLetter(url("archived"), old)
	again := e.deadLetter(url("again"), old)
	fresh := e.deadLetter(url("fresh"), e.now())
	e.must(e.insp.DeleteTask(tasks.QueueInteractive, deleted))
	e.must(e.insp.DeleteTask(tasks.QueueInteractive, fresh))
	e.must(e.insp.RunTask(tasks.QueueInteractive, rerun))
	e.must(e.insp.RunTask(tasks.QueueInteractive, again))

	res := e.sweep(time.Minute)
	if got := ids(res.Forgotten); !slices.Equal(got, []string{deleted}) || len(res.Added) != 0 {
		t.Errorf("first reconciliation forgot %v, added %v; want only the deleted task %s", got, ids(res.Added), deleted)
	}
	for _, id := range []string{rerun, archived, again, fresh} {
		if !e.kept(id) {
			t.Errorf("record %s forgotten: queued again, archived or fresh records stay", id)
		}
	}

	// The run again completes (a server whose handler succeeds); the other is archived again by
	// hand, without the error handler.
	e.must(e.insp.ArchiveTask(tasks.QueueInteractive, again))
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{Queues: map[string]int{tasks.QueueInteractive: 1}, Concurrency: 1,
		LogLevel: asynq.FatalLevel})
	e.must(srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })))
	testkit.WaitFor(t, 10*time.Second, "the task run again completed", func() bool {
		_, err := e.insp.GetTaskInfo(tasks.QueueInteractive, rerun)
		return errors.Is(err, asynq.ErrTaskNotFound)
	})
	srv.Shutdown()

	res = e.sweep(time.Minute)
	if got := ids(res.Forgotten); !slices.Equal(got, []string{rerun}) {
		t.Errorf("second reconciliation forgot %v, want the completed run %s", got, rerun)
	}
	if got := ids(res.Added); !slices.Equal(got, []string{again}) {
		t.Errorf("second reconciliation added %v, want %s, archived again by hand", got, again)
	}
	if d, _, _ := e.st.DeadLetterByID(e.ctx, again); !strings.Contains(d.Reason, "archived by hand") {
		t.Errorf("the record of a task archived again says %q, want asynq's account of it", d.Reason)
	}
	if n, _ := e.st.DeadLetterCount(e.ctx); n != 3 {
		t.Errorf("%d records left, want 3 (archived, again, fresh)", n)
	}
	// The fresh record, once older than the grace period, goes too: its task was deleted.
	if res := e.sweep(time.Millisecond); !slices.Equal(ids(res.Forgotten), []string{fresh}) {
		t.Errorf("past the grace period forgot %v, want %s", ids(res.Forgotten), fresh)
	}
}

// fillArchive enqueues n request tasks and has asynq archive them at once (as asynqmon's "archive
// all"), which trims the archive to its limit as every archiving does.
func (e *sweepEnv) fillArchive(prefix string, n int) {
	e.t.Helper()
	for i := range n {
		e.enqueueURL("https://img.example.com/" + prefix + "/" + strconv.Itoa(i) + ".jpg")
	}
	_, err := e.insp.ArchiveAllPendingTasks(tasks.QueueInteractive)
	e.must(err)
}

// oldestArchived is the ID of the oldest entry of the interactive queue's archive.
func (e *sweepEnv) oldestArchived() string {
	e.t.Helper()
	z, err := e.rdb.ZRange(e.ctx, taskq.ArchivedKey(tasks.QueueInteractive), 0, 0).Result()
	e.must(err)
	if len(z) != 1 {
		e.t.Fatal("the archive is empty")
	}
	return z[0]
}

func (e *sweepEnv) archivedCount() int {
	e.t.Helper()
	n, err := e.rdb.ZCard(e.ctx, taskq.ArchivedKey(tasks.QueueInteractive)).Result()
	e.must(err)
	return int(n)
}

// TestDeadLetterSweepKeepsWhatAsynqTrimmed: a record whose task asynq trimmed from its archive
// (older than the oldest entry of an archive at its limit, or than 90 days) is kept, also once
// operators deleted entries so that the archive is below its limit again; a record newer than that
// whose task is gone is forgotten. The limit is asynq's own: 10,000 tasks archived for real.
func TestDeadLetterSweepKeepsWhatAsynqTrimmed(t *testing.T) {
	t.Parallel()
	e := newSweepEnv(t)
	now := e.now()
	minute := time.Minute.Milliseconds()
	url := func(s string) string { return "https://img.example.com/trim/" + s + ".jpg" }
	e.fillArchive("fill", taskq.ArchiveKept+1)
	if n := e.archivedCount(); n != taskq.ArchiveKept {
		t.Fatalf("asynq's archive holds %d, want %d after its trim", n, taskq.ArchiveKept)
	}
	// The oldest entry left was dead-lettered 30 minutes ago; asynq trimmed what came before it.
	oldest := e.oldestArchived()
	e.record(oldest, url("oldest"), now-30*minute)
	e.record("urls_trimmed", url("trimmed"), now-40*minute)
	e.record("urls_ancient", url("ancient"), now-91*24*60*minute)
	e.record("urls_deleted", url("deleted"), now-20*minute)
	res := e.sweep(time.Millisecond)
	if got := ids(res.Forgotten); !slices.Equal(got, []string{"urls_deleted"}) {
		t.Errorf("at the limit: forgot %v, want only the record newer than the oldest archived entry", got)
	}
	if len(res.Added) != taskq.ArchiveKept-1 {
		t.Errorf("added %d records for the archived tasks without one, want %d", len(res.Added), taskq.ArchiveKept-1)
	}
	for _, id := range []string{"urls_trimmed", "urls_ancient", oldest} {
		if !e.kept(id) {
			t.Errorf("record %s forgotten: asynq's trim explains its absence", id)
		}
	}

	// Operators delete 5 entries: the archive is below its limit, and the trim is remembered.
	archived, err := e.insp.ListArchivedTasks(tasks.QueueInteractive, asynq.PageSize(10), asynq.Page(2))
	e.must(err)
	var gone []string
	for _, ti := range archived[:5] {
		e.must(e.insp.DeleteTask(tasks.QueueInteractive, ti.ID))
		gone = append(gone, ti.ID)
	}
	slices.Sort(gone)
	e.record("urls_trimmed2", url("trimmed2"), now-35*minute)
	res = e.sweep(time.Millisecond)
	if got := ids(res.Forgotten); !slices.Equal(got, gone) {
		t.Errorf("below the limit: forgot %v, want the 5 deleted entries %v", got, gone)
	}
	if !e.kept("urls_trimmed2") {
		t.Error("a record older than the trim was forgotten once the archive was below its limit again")
	}

	// Full again; the worker's error handler notes the trim of the next archiving (NoteArchiveTrim)
	// before asynq drops the oldest entry, whose record says 10 minutes ago. Operators delete 3
	// entries before any reconciliation: only the noted trim explains a record of 15 minutes ago.
	e.fillArchive("refill", 5)
	if n := e.archivedCount(); n != taskq.ArchiveKept {
		t.Fatalf("asynq's archive holds %d after the refill, want %d", n, taskq.ArchiveKept)
	}
	oldest = e.oldestArchived()
	e.record(oldest, url("oldest2"), now-10*minute)
	last := e.enqueueURL(url("last"))
	e.must(e.st.NoteArchiveTrim(e.ctx, tasks.QueueInteractive))
	e.must(e.insp.ArchiveTask(tasks.QueueInteractive, last))
	if err := e.rdb.ZScore(e.ctx, taskq.ArchivedKey(tasks.QueueInteractive), oldest).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("asynq did not trim the oldest entry %s from its archive: %v", oldest, err)
	}
	archived, err = e.insp.ListArchivedTasks(tasks.QueueInteractive, asynq.PageSize(3), asynq.Page(3))
	e.must(err)
	for _, ti := range archived {
		e.must(e.insp.DeleteTask(tasks.QueueInteractive, ti.ID))
	}
	e.record("urls_trimmed3", url("trimmed3"), now-15*minute)
	e.sweep(time.Millisecond)
	for _, id := range []string{"urls_trimmed3", oldest, "urls_trimmed", "urls_trimmed2", "urls_ancient"} {
		if !e.kept(id) {
			t.Errorf("record %s forgotten: asynq's noted trim explains its absence", id)
		}
	}
}
