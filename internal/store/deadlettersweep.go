package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// The worker's error handler writes the dead-letter record just before asynq archives a task.
// asynq also archives and deletes tasks without it. So ReconcileDeadLetters reconciles the record
// with asynq's state. The worker runs it periodically; `enqueue dlq ls` and `enqueue dlq replay
// --all` run it first. docs/reliability.md says when each case arises.
//
//   - ADD: an archived task with no record gets one, built from the task.
//     A status check added so has its URLs marked unconfirmed.
//   - FORGET: a record whose task asynq no longer has in any state is forgotten.
//     It is kept when asynq's trimming explains the absence: see taskq.ArchiveAge and
//     taskq.ArchiveKept. Such a record stays until `enqueue dlq replay` or `rm`.
//   - A record whose task is queued or running again is kept until that run ends.
//   - A record younger than DeadLetterGrace is left alone.

// DeadLetterGrace is how long a new record is left alone: the worker's error handler writes it
// while the task is still running, just before asynq archives it, and a reconciliation in between
// would take the task for one run again.
const DeadLetterGrace = 5 * time.Second

// ArchiveClockSlack is how far the clocks of the workers (asynq scores its archive with the
// archiving process's clock) and of Redis (the records' times) may differ: a record up to this
// much newer than the oldest entry of a full archive still counts as trimmed.
const ArchiveClockSlack = time.Minute

// Marks (KeyDeadMarks) the reconciliation leaves on a record whose task is not in asynq's archive.
const (
	DeadMarkTrimmed = "trimmed" // asynq trimmed it from its archive: kept until replayed or deleted with enqueue dlq
	DeadMarkRerun   = "rerun"   // it was seen queued or running again (asynqmon's "run"): forgotten once gone
)

// manyMissing is how many archived tasks without a record make the reconciliation read a queue's
// whole archive in pages (an upgrade from a version that kept no record) instead of one by one.
const manyMissing = 50

// SweepOptions say what ReconcileDeadLetters reconciles.
type SweepOptions struct {
	Queues     []string      // the product's queues: tasks.QueueNames()
	HistoryTTL time.Duration // the history TTL: for marking a status check's URLs unconfirmed
	Grace      time.Duration // DeadLetterGrace when 0
}

// SweepResult is what one reconciliation changed.
type SweepResult struct {
	Added       []DeadLetter // recorded from asynq's archive: archived without the worker's error handler
	Forgotten   []DeadLetter // the task was deleted in asynq, or ran again and completed
	Unconfirmed int          // URLs of status checks among Added marked unconfirmed
}

// ReconcileDeadLetters brings the dead-letter record in line with asynq's archive of each queue,
// by the rules above. Several may run at once (each change is made only if the record is still the
// one read); one at a time is enough (KeyDeadSweep).
func (s *Store) ReconcileDeadLetters(ctx context.Context, o SweepOptions) (SweepResult, error) {
	var res SweepResult
	if o.Grace <= 0 {
		o.Grace = DeadLetterGrace
	}
	now, err := s.Now(ctx)
	if err != nil {
		return res, fmt.Errorf("reconcile dead letters: %w", err)
	}
	// One reading of asynq's archives and of the record. They are not one atomic reading (asynq's
	// keys are in another Cluster slot), so each change below is made only if the record is still
	// as read (swap): a record the error handler writes meanwhile is never replaced or forgotten.
	pipe := s.rdb.Pipeline()
	zs := make([]*redis.ZSliceCmd, len(o.Queues))
	for i, q := range o.Queues {
		zs[i] = pipe.ZRangeWithScores(ctx, taskq.ArchivedKey(q), 0, -1)
	}
	trimCmd := pipe.HGetAll(ctx, s.k.DeadTrim)
	idxCmd := pipe.ZRangeWithScores(ctx, s.k.DeadIndex, 0, -1)
	marksCmd := pipe.HGetAll(ctx, s.k.DeadMarks)
	if _, err := pipe.Exec(ctx); err != nil {
		return res, fmt.Errorf("reconcile dead letters: %w", err)
	}
	indexed := make(map[string]int64, len(idxCmd.Val()))
	for _, z := range idxCmd.Val() {
		indexed[z.Member.(string)] = int64(z.Score)
	}
	marks := marksCmd.Val()
	trimmedUntil := map[string]int64{}
	for q, v := range trimCmd.Val() {
		trimmedUntil[q], _ = strconv.ParseInt(v, 10, 64)
	}
	inArchive := map[string]bool{}
	for i, q := range o.Queues {
		entries := zs[i].Val()
		if len(entries) >= taskq.ArchiveKept {
			oldest := entries[0]
			at, err := s.raiseTrim(ctx, q, trimTime(indexed, oldest))
			if err != nil {
				return res, err
			}
			trimmedUntil[q] = at
		}
		var add []redis.Z
		for _, z := range entries {
			id := z.Member.(string)
			inArchive[id] = true
			if _, ok := indexed[id]; !ok || marks[id] == DeadMarkRerun {
				add = append(add, z)
			}
		}
		if err := s.addArchived(ctx, q, add, indexed, o, &res); err != nil {
			return res, err
		}
	}
	var candidates []string
	for id := range indexed {
		if !inArchive[id] && marks[id] != DeadMarkTrimmed {
			candidates = append(candidates, id)
		}
	}
	if err := s.forgetGone(ctx, candidates, marks, trimmedUntil, now, o, &res); err != nil {
		return res, err
	}
	var stale []string
	for id := range marks {
		if _, ok := indexed[id]; !ok {
			stale = append(stale, id)
		}
	}
	if len(stale) > 0 {
		if err := s.rdb.HDel(ctx, s.k.DeadMarks, stale...).Err(); err != nil {
			return res, fmt.Errorf("reconcile dead letters: %w", err)
		}
	}
	return res, nil
}

// trimTime is the time (ms) up to which a full archive whose oldest entry is oldest was trimmed:
// the time of that entry's record (Redis clock, as the other records), else its archive time.
func trimTime(indexed map[string]int64, oldest redis.Z) int64 {
	if at, ok := indexed[oldest.Member.(string)]; ok {
		return at
	}
	return int64(oldest.Score) * 1000
}

// NoteArchiveTrim is called just before a task of queue q is archived (by the worker's error
// handler): when the archive is at its limit, asynq drops its oldest entry now, so the record
// learns that the queue's archive was trimmed up to that entry's time, even if an operator deletes
// entries before the next reconciliation.
func (s *Store) NoteArchiveTrim(ctx context.Context, q string) error {
	pipe := s.rdb.Pipeline()
	card := pipe.ZCard(ctx, taskq.ArchivedKey(q))
	oldest := pipe.ZRangeWithScores(ctx, taskq.ArchivedKey(q), 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("note archive trim: %w", err)
	}
	if card.Val() < taskq.ArchiveKept || len(oldest.Val()) == 0 {
		return nil
	}
	z := oldest.Val()[0]
	at := int64(z.Score) * 1000
	if v, err := s.rdb.ZScore(ctx, s.k.DeadIndex, z.Member.(string)).Result(); err == nil {
		at = int64(v)
	} else if !errors.Is(err, redis.Nil) {
		return fmt.Errorf("note archive trim: %w", err)
	}
	_, err := s.raiseTrim(ctx, q, at)
	return err
}

// raiseTrim raises queue q's trim time to at (ms) and returns it as it is now.
func (s *Store) raiseTrim(ctx context.Context, q string, at int64) (int64, error) {
	v, err := dlqTrimScript.Run(ctx, s.rdb, []string{s.k.DeadTrim}, q, at).Int64()
	if err != nil {
		return 0, fmt.Errorf("note archive trim: %w", err)
	}
	return v, nil
}

// swap replaces the record of id, read as was ("": none), by rec at (ms) (nil: forgets it), with
// mark; false when the record changed in the meantime.
func (s *Store) swap(ctx context.Context, id, was string, rec []byte, at int64, mark string) (bool, error) {
	n, err := dlqSwapScript.Run(ctx, s.rdb, []string{s.k.DeadLetters, s.k.DeadIndex, s.k.DeadMarks}, id, was, rec, at, mark).Int()
	if err != nil {
		return false, fmt.Errorf("reconcile dead letter %s: %w", id, err)
	}
	return n == 1, nil
}

// addArchived records the archived tasks add of queue q (with no record, or one of a run that
// asynq archived again without the error handler), and marks the URLs of status checks among
// them unconfirmed.
func (s *Store) addArchived(ctx context.Context, q string, add []redis.Z, indexed map[string]int64, o SweepOptions, res *SweepResult) error {
	if len(add) == 0 {
		return nil
	}
	infos, err := s.archivedInfos(q, add)
	if err != nil {
		return err
	}
	var rerun []string
	for _, z := range add {
		if _, ok := indexed[z.Member.(string)]; ok {
			rerun = append(rerun, z.Member.(string))
		}
	}
	was, err := s.rawDeadLetters(ctx, rerun)
	if err != nil {
		return err
	}
	for _, z := range add {
		id := z.Member.(string)
		ti, ok := infos[id]
		if !ok || ti.State != asynq.TaskStateArchived {
			continue // gone or moved since the archive was read, or a message asynq cannot decode
		}
		d := DeadLetterFromArchived(ti, int64(z.Score)*1000)
		if _, rec := indexed[id]; rec && was[id] == "" {
			continue // forgotten in the meantime
		}
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		done, err := s.swap(ctx, id, was[id], b, d.At, "")
		if err != nil {
			return err
		}
		if !done {
			continue
		}
		res.Added = append(res.Added, d)
		if d.Type != tasks.TypeConfirm {
			continue
		}
		if p, err := tasks.DecodeConfirm(ti.Payload); err == nil && len(p.URLs) > 0 {
			if err := s.MarkState(ctx, p.URLs, p.UUID, StateUnconfirmed, "status checks gave up: "+d.Reason, o.HistoryTTL); err != nil {
				return err
			}
			res.Unconfirmed += len(p.URLs)
		}
	}
	return nil
}

// archivedInfos reads asynq's archived tasks among add of queue q: one by one when they are few,
// else the whole archive, in pages.
func (s *Store) archivedInfos(q string, add []redis.Z) (map[string]*asynq.TaskInfo, error) {
	insp := asynq.NewInspectorFromRedisClient(s.rdb)
	out := make(map[string]*asynq.TaskInfo, len(add))
	if len(add) <= manyMissing {
		for _, z := range add {
			ti, err := insp.GetTaskInfo(q, z.Member.(string))
			if err == nil {
				out[ti.ID] = ti
			}
		}
		return out, nil
	}
	want := make(map[string]bool, len(add))
	for _, z := range add {
		want[z.Member.(string)] = true
	}
	const size = 1000
	for page := 1; ; page++ {
		list, err := insp.ListArchivedTasks(q, asynq.PageSize(size), asynq.Page(page))
		if err != nil {
			return nil, fmt.Errorf("reconcile dead letters: queue %s: %w", q, err)
		}
		for _, ti := range list {
			if want[ti.ID] {
				out[ti.ID] = ti
			}
		}
		if len(list) < size {
			return out, nil
		}
	}
}

// DeadLetterFromArchived is the record of asynq's archived task ti, archived at (ms): what the
// reconciliation records for a task archived without the worker's error handler, and what a replay
// of a flush-all keeps when only asynq's archive has it.
func DeadLetterFromArchived(ti *asynq.TaskInfo, at int64) DeadLetter {
	reason := ti.LastErr
	if reason == "" {
		reason = "archived by hand (asynqmon or asynq's command line), with no error"
	}
	return DeadLetter{ID: ti.ID, Queue: ti.Queue, Type: ti.Type, URLs: tasks.URLsOf(ti.Type, ti.Payload), Reason: reason,
		Attempts: ti.Retried + 1, At: at, Payload: ti.Payload}
}

// rawDeadLetters returns the records of ids as stored (JSON), by ID; IDs without one are left out.
func (s *Store) rawDeadLetters(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	err := s.eachDeadLetter(ctx, ids, func(id, raw string) { out[id] = raw })
	return out, err
}

// forgetGone forgets the records among ids (none in asynq's archive) whose task asynq no longer
// has, unless its trimming explains why; it marks those it keeps for either reason.
func (s *Store) forgetGone(ctx context.Context, ids []string, marks map[string]string, trimmedUntil map[string]int64, now int64,
	o SweepOptions, res *SweepResult) error {
	raw, err := s.rawDeadLetters(ctx, ids)
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(o.Queues))
	for _, q := range o.Queues {
		known[q] = true
	}
	type candidate struct {
		id, raw string
		d       DeadLetter
		state   *redis.StringCmd
	}
	var cs []candidate
	pipe := s.rdb.Pipeline()
	for id, v := range raw {
		var d DeadLetter
		if json.Unmarshal([]byte(v), &d) != nil || !known[d.Queue] || now-d.At < o.Grace.Milliseconds() {
			continue
		}
		cs = append(cs, candidate{id: id, raw: v, d: d, state: pipe.HGet(ctx, taskq.TaskKey(d.Queue, id), taskq.TaskStateField)})
	}
	if len(cs) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reconcile dead letters: %w", err)
	}
	for _, c := range cs {
		id, mark := c.id, ""
		state, err := c.state.Result()
		switch {
		case err != nil && !errors.Is(err, redis.Nil):
			return fmt.Errorf("reconcile dead letters: %w", err)
		case state == taskq.TaskStateArchived:
			// Archived after the archive was read (the next reconciliation sees it), or trimmed by
			// asynq's Inspector (asynqmon's "archive"), which leaves the trimmed task's hash: kept.
			continue
		case err == nil && state != taskq.TaskStateCompleted:
			if marks[id] == DeadMarkRerun {
				continue
			}
			mark = DeadMarkRerun // queued or running again: kept until that run ends
		case marks[id] == DeadMarkRerun:
			// it ran again and is gone: it completed, or an operator deleted it
		case c.d.At <= trimmedUntil[c.d.Queue]+ArchiveClockSlack.Milliseconds() && trimmedUntil[c.d.Queue] > 0,
			now-c.d.At >= taskq.ArchiveAge.Milliseconds():
			mark = DeadMarkTrimmed
		}
		var keep []byte
		if mark != "" {
			keep = []byte(c.raw)
		}
		done, err := s.swap(ctx, id, c.raw, keep, c.d.At, mark)
		if err != nil {
			return err
		}
		if done && mark == "" {
			res.Forgotten = append(res.Forgotten, c.d)
		}
	}
	return nil
}
