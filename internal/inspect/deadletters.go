package inspect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// A dead letter lives in two places.
// asynq's archive holds it until asynq trims it (taskq.ArchiveKept a queue, taskq.ArchiveAge).
// The product's own record holds it until an operator replays or deletes it.
// The operations below keep the two in step.

// ErrUnreplayable marks a dead letter whose recorded task cannot be enqueued again as it is.
var ErrUnreplayable = errors.New("cannot be replayed")

// Reconcile brings the product's record in line with asynq's archive of every queue.
// It records what asynq archived without the worker and forgets what asynq no longer has.
// historyTTL is how long the URL history it marks is kept.
func Reconcile(ctx context.Context, st *store.Store, historyTTL time.Duration) (store.SweepResult, error) {
	return st.ReconcileDeadLetters(ctx, store.SweepOptions{Queues: tasks.QueuesOf(st.Account()).Names(), HistoryTTL: historyTTL})
}

// KeepFailed records task t, which asynq is about to archive, in the product's own record.
// That record outlives asynq's archive.
// The worker's error handler calls it; noteTrim hears why the archive's trim was not noted.
func KeepFailed(ctx context.Context, st *store.Store, t *asynq.Task, id, queue string, attempts int, reason error,
	noteTrim func(error)) error {
	now, err := st.Now(ctx)
	if err != nil {
		now = time.Now().UnixMilli()
	}
	d := store.DeadLetter{ID: id, Queue: queue, Type: t.Type(), URLs: tasks.URLsOf(t.Type(), t.Payload()), Reason: reason.Error(),
		Attempts: attempts, At: now, Payload: t.Payload()}
	if err := st.NoteArchiveTrim(ctx, queue); err != nil {
		noteTrim(err)
	}
	return st.KeepDeadLetter(ctx, d)
}

// KeepArchived makes sure the product's own record holds the dead letter id of queue.
// It copies it from asynq's archive when only asynq has it.
// That happens for an earlier version's dead letter, or one whose record could not be written.
// A task that is not a dead letter is left alone.
func KeepArchived(ctx context.Context, st *store.Store, queue, id string) error {
	if _, ok, err := st.DeadLetterByID(ctx, id); err != nil || ok {
		return err
	}
	ti, err := inspector(st).GetTaskInfo(queue, id)
	if NotFound(err) {
		return fmt.Errorf("no dead letter %s on queue %s", id, queue)
	}
	if err != nil {
		return fmt.Errorf("dead letter %s: %w", id, err)
	}
	if ti.State != asynq.TaskStateArchived {
		return nil
	}
	at := ti.LastFailedAt
	if at.IsZero() {
		at = time.Now()
	}
	return st.KeepDeadLetter(ctx, store.DeadLetterFromArchived(ti, at.UnixMilli()))
}

// Forget drops the product's record of the dead letters ids.
// A flush-all request that replaces a dead letter calls it once the request is enqueued.
func Forget(ctx context.Context, st *store.Store, ids ...string) error {
	return st.ForgetDeadLetters(ctx, ids...)
}

// FirstDeadLetter marks task id as dead-lettered by the worker's choice.
// It reports whether this is the first time.
// false means an operator replayed the dead letter, so the task should run.
func FirstDeadLetter(ctx context.Context, st *store.Store, id string) (bool, error) {
	return st.FirstDeadLetter(ctx, id)
}

// Unarchive deletes asynq's archived copy of the dead letter id of queue, if it has one.
// The caller has made sure the product's record keeps it.
func Unarchive(st *store.Store, queue, id string) error {
	insp := inspector(st)
	ti, err := insp.GetTaskInfo(queue, id)
	if err == nil && ti.State == asynq.TaskStateArchived {
		err = insp.DeleteTask(queue, id)
	}
	if err != nil && !NotFound(err) {
		return err
	}
	return nil
}

// DeadLetter is one archived task as operators see it.
type DeadLetter struct {
	ID         string    `json:"id"`
	Queue      string    `json:"queue"`
	Type       string    `json:"type"`
	Attempts   int       `json:"attempts"`
	LastFailed time.Time `json:"last_failed_at"`
	LastError  string    `json:"last_error"`
	URLs       []string  `json:"urls,omitempty"`
	Payload    string    `json:"payload,omitempty"` // when it does not decode
}

// Describe turns an archived task into a DeadLetter.
func Describe(ti *asynq.TaskInfo) DeadLetter {
	// asynq counts retries (failed runs before the last); the last run is an attempt too, as in the
	// worker's "gave up after N attempts".
	d := DeadLetter{ID: ti.ID, Queue: ti.Queue, Type: ti.Type, Attempts: ti.Retried + 1, LastFailed: ti.LastFailedAt, LastError: ti.LastErr,
		URLs: tasks.URLsOf(ti.Type, ti.Payload)}
	if d.URLs == nil && ti.Type != tasks.TypeAll {
		d.Payload = truncate(string(ti.Payload), 300)
	}
	return d
}

// FromRecord turns the product's own record of a dead letter (kept past asynq's archive limit)
// into a DeadLetter.
func FromRecord(r store.DeadLetter) DeadLetter {
	d := DeadLetter{ID: r.ID, Queue: r.Queue, Type: r.Type, Attempts: r.Attempts, LastFailed: time.UnixMilli(r.At).UTC(),
		LastError: r.Reason, URLs: r.URLs}
	if d.URLs == nil && r.Type != tasks.TypeAll {
		d.Payload = truncate(string(r.Payload), 300)
	}
	return d
}

// LastDeadLetters returns the n most recent dead letters of every queue, newest first.
// It reads the product's own record, the one `enqueue dlq ls` reads.
// That record outlives asynq's archive of 10,000 a queue.
func LastDeadLetters(ctx context.Context, st *store.Store, n int) ([]DeadLetter, error) {
	recs, err := st.LastDeadLetters(ctx, n)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(recs))
	for _, rec := range recs {
		out = append(out, FromRecord(rec))
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ExistingQueues returns the queues asynq knows (a queue exists once a task was enqueued on it).
func ExistingQueues(insp *asynq.Inspector) (map[string]bool, error) {
	qs, err := insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	m := make(map[string]bool, len(qs))
	for _, q := range qs {
		m[q] = true
	}
	return m, nil
}

// DLQ replays, deletes and lists dead letters.
type DLQ struct {
	st       *store.Store
	insp     *asynq.Inspector
	maxRetry int
}

// NewDLQ returns a DLQ on st.
// A dead letter enqueued again from the record gets maxRetry retries.
func NewDLQ(st *store.Store, maxRetry int) *DLQ {
	return &DLQ{st: st, insp: inspector(st), maxRetry: maxRetry}
}

// View is one reading of the dead letters of some queues.
type View struct {
	Queues   []string // the queues asked for that asynq has or the record holds dead letters of
	Total    int      // the dead letters in them
	exist    map[string]bool
	recorded map[string]store.DeadLetter
	byQueue  map[string][]store.DeadLetter
}

// Read reads the dead letters of queues from asynq's archive and the product's record.
// The record holds every dead letter, also those asynq trimmed.
// asynq's archive may hold entries of older versions that have no record.
func (d *DLQ) Read(ctx context.Context, queues []string) (*View, error) {
	exist, err := ExistingQueues(d.insp)
	if err != nil {
		return nil, err
	}
	records, err := d.st.DeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	v := &View{exist: exist, recorded: map[string]store.DeadLetter{}, byQueue: map[string][]store.DeadLetter{}}
	for _, r := range records {
		if slices.Contains(queues, r.Queue) {
			v.recorded[r.ID] = r
			v.byQueue[r.Queue] = append(v.byQueue[r.Queue], r)
		}
	}
	for _, q := range queues {
		archived := 0
		if exist[q] {
			info, err := d.insp.GetQueueInfo(q)
			if err != nil {
				return nil, fmt.Errorf("queue %s: %w", q, err)
			}
			archived = info.Archived
		}
		if exist[q] || len(v.byQueue[q]) > 0 {
			v.Queues = append(v.Queues, q)
		}
		v.Total += max(archived, len(v.byQueue[q]))
	}
	return v, nil
}

// List returns at most limit dead letters of each queue of v: the record's first, then asynq's.
func (d *DLQ) List(v *View, limit int) ([]DeadLetter, error) {
	list := []DeadLetter{} // JSON: [] when empty, never null
	for _, q := range v.Queues {
		n := 0
		for _, r := range v.byQueue[q] {
			if n == limit {
				break
			}
			list = append(list, FromRecord(r))
			n++
		}
		if n == limit || !v.exist[q] {
			continue
		}
		infos, err := d.insp.ListArchivedTasks(q, asynq.PageSize(limit))
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", q, err)
		}
		for _, ti := range infos {
			if _, ok := v.recorded[ti.ID]; !ok && n < limit {
				list = append(list, Describe(ti))
				n++
			}
		}
	}
	return list, nil
}

// Count returns how many dead letters queue q of v holds, in asynq's archive or the record.
func (d *DLQ) Count(v *View, q string) (int, error) {
	n := len(v.byQueue[q])
	if v.exist[q] {
		infos, err := d.insp.ListArchivedTasks(q)
		if err != nil {
			return 0, err
		}
		n = max(n, len(infos))
	}
	return n, nil
}

// inArchive applies all to queue q's archive when asynq has the queue.
func (v *View) inArchive(q string, all func(queue string) (int, error)) (int, error) {
	if !v.exist[q] {
		return 0, nil
	}
	return all(q)
}

// Entry is one dead letter found by its task ID.
type Entry struct {
	ID        string
	Queue     string
	InArchive bool             // asynq's archive holds it
	Record    store.DeadLetter // the product's record of it; its ID is "" when there is none
}

// Find returns the dead letter id among the queues of v.
// asynq's archive is searched first; the record has those asynq trimmed.
// A task that exists but is not a dead letter is named with its state.
func (d *DLQ) Find(v *View, id string) (Entry, error) {
	q, err := d.findArchived(v.Queues, id)
	e := Entry{ID: id, Queue: q, InArchive: err == nil}
	rec, inRecord := v.recorded[id]
	e.Record = rec
	if err != nil && inRecord {
		e.Queue, err = rec.Queue, nil
	}
	return e, err
}

// findArchived returns the queue whose archive holds task id.
func (d *DLQ) findArchived(queues []string, id string) (string, error) {
	for _, q := range queues {
		ti, err := d.insp.GetTaskInfo(q, id)
		if err != nil {
			continue
		}
		if ti.State == asynq.TaskStateArchived {
			return q, nil
		}
		if id == tasks.TaskIDAll {
			return "", fmt.Errorf("the flush-all is %s, not a dead letter: remove it with enqueue --all --cancel", ti.State)
		}
		return "", fmt.Errorf("task %s on queue %s is %s, not a dead letter", id, q, ti.State)
	}
	return "", fmt.Errorf("no dead letter with this ID in queues %s (enqueue dlq ls lists them)", strings.Join(queues, ", "))
}

// Replay runs the dead letter e again and forgets its record.
// asynq runs its archived task when it still has it; else the record's task is enqueued again.
func (d *DLQ) Replay(ctx context.Context, e Entry) error {
	var err error
	if e.InArchive {
		err = d.insp.RunTask(e.Queue, e.ID)
	} else {
		err = d.enqueueRecord(ctx, e.Record)
	}
	if err != nil {
		return err
	}
	return d.st.ForgetDeadLetters(ctx, e.ID)
}

// Delete deletes the dead letter e for good: asynq's archived task and the record.
func (d *DLQ) Delete(ctx context.Context, e Entry) error {
	if e.InArchive {
		if err := d.insp.DeleteTask(e.Queue, e.ID); err != nil {
			return err
		}
	}
	return d.st.ForgetDeadLetters(ctx, e.ID)
}

// FlushAllPayload returns the payload of the flush-all dead letter e.
func (d *DLQ) FlushAllPayload(e Entry) ([]byte, error) {
	if !e.InArchive {
		return e.Record.Payload, nil
	}
	ti, err := d.insp.GetTaskInfo(tasks.QueueAll, e.ID)
	if err != nil {
		return nil, err
	}
	return ti.Payload, nil
}

// ReplayAll runs again every dead letter of queue q of v and returns how many.
// The caller leaves flush-alls out.
// A recorded one that cannot be replayed stays; skipped hears of it.
func (d *DLQ) ReplayAll(ctx context.Context, v *View, q string, skipped func(id string, err error)) (int, error) {
	n, err := v.inArchive(q, d.insp.RunAllArchivedTasks)
	if err != nil {
		return n, err
	}
	recs := v.byQueue[q]
	ids := make([]string, 0, len(recs))
	extra := 0
	for _, r := range recs {
		if _, err := d.insp.GetTaskInfo(q, r.ID); err == nil {
			ids = append(ids, r.ID)
			continue // asynq still had it: replayed above
		}
		if err := d.enqueueRecord(ctx, r); errors.Is(err, ErrUnreplayable) {
			skipped(r.ID, err)
			continue
		} else if err != nil {
			return n + extra, err
		}
		ids = append(ids, r.ID)
		extra++
	}
	return n + extra, d.st.ForgetDeadLetters(ctx, ids...)
}

// DeleteAll deletes every dead letter of queue q of v for good and returns how many.
func (d *DLQ) DeleteAll(ctx context.Context, v *View, q string) (int, error) {
	n, err := v.inArchive(q, d.insp.DeleteAllArchivedTasks)
	if err != nil {
		return n, err
	}
	recs := v.byQueue[q]
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return n + max(len(recs)-n, 0), d.st.ForgetDeadLetters(ctx, ids...)
}

// enqueueRecord enqueues a dead letter again from the product's record, for one asynq no longer
// keeps.
// The task is built by the constructor of its type (taskq.Rebuild), under the same ID and queue.
// A payload that does not decode is refused with ErrUnreplayable.
func (d *DLQ) enqueueRecord(ctx context.Context, r store.DeadLetter) error {
	t, err := taskq.Rebuild(r.Type, r.Payload, r.Queue, d.maxRetry)
	if err != nil {
		return fmt.Errorf("%w: %v; delete it with: enqueue dlq rm %s", ErrUnreplayable, err, r.ID)
	}
	c := asynq.NewClientFromRedisClient(d.st.Client())
	if _, err := taskq.Enqueue(ctx, c, t, asynq.TaskID(r.ID)); err != nil {
		return err
	}
	return nil // enqueued, or already queued again
}

func inspector(st *store.Store) *asynq.Inspector {
	return asynq.NewInspectorFromRedisClient(st.Client())
}

// Store returns the store d reads.
func (d *DLQ) Store() *store.Store { return d.st }
