// Package status reads, in one place, what an operator needs to know about the product from
// Redis: the queues (sizes, and whether an operator paused one with `asynq queue pause`), the URLs
// waiting for their window, the send rate achieved against the one the workers run with (they
// publish their settings), the time to drain, the shared pause, the workers alive and whether they
// send, the last dead letters with their reasons. `enqueue status` prints a Snapshot, the worker's
// /status page shows it, the metrics collector reports its Counts, and readiness reads its Pauses.
package status

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/figures"
	"github.com/cipurge/cipurge/internal/inspect"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// SuggestFlushAfter is the drain estimate past which the status mentions flush-all as an option.
const SuggestFlushAfter = 24 * time.Hour

// Queue is one asynq queue of the product.
type Queue struct {
	Queue     string `json:"queue"`
	Pending   int    `json:"pending"`
	Active    int    `json:"active"`
	Scheduled int    `json:"scheduled"`
	Retry     int    `json:"retry"`
	Archived  int    `json:"dead_letters"`
	Paused    bool   `json:"paused"` // by an operator: asynq queue pause
}

// Snapshot is one reading. Its JSON is `enqueue status --json` and /status's JSON.
type Snapshot struct {
	At                 time.Time            `json:"at"`
	Account            string               `json:"account,omitempty"` // the account read (Reader.For); empty for the account default
	Queues             []Queue              `json:"queues"`
	PausedQueues       []string             `json:"paused_queues,omitempty"`
	WaitingURLs        int64                `json:"urls_in_window"`
	OldestWaiting      string               `json:"oldest_waiting,omitempty"`
	OldestWaitingSecs  float64              `json:"oldest_waiting_seconds"`
	DeadLetters        int                  `json:"dead_letters"` // the one count (deadLetterCount), as cipurge_dead_letters
	URLsPerSecond      float64              `json:"urls_per_second"`
	CallsPerSecond     float64              `json:"calls_per_second"`
	ConfiguredRate     float64              `json:"configured_rate"`
	RateSource         string               `json:"configured_rate_from"` // "workers", or the reader's own rate when no worker is alive
	Workers            []store.WorkerState  `json:"workers"`
	SendingStopped     []string             `json:"sending_stopped,omitempty"`
	BacklogCalls       int64                `json:"backlog_calls"`
	PausedBacklogCalls int64                `json:"backlog_calls_in_paused_queues,omitempty"` // of BacklogCalls, held by paused queues (the window's too while purge is paused)
	BusyLastMinute     bool                 `json:"busy_last_minute"`                         // work waited to be sent all through the last minute: the achieved rate is what the workers can send
	ConfirmBacklog     int64                `json:"confirm_backlog"`                          // status checks waiting: due, scheduled, retrying
	DrainSeconds       float64              `json:"drain_seconds,omitempty"`
	DrainRate          float64              `json:"drain_rate,omitempty"`      // calls/s the estimate uses
	DrainRateFrom      string               `json:"drain_rate_from,omitempty"` // "achieved" (over the last minute, busy: their capacity) or "configured" (the workers' rate)
	DrainNote          string               `json:"drain_note,omitempty"`
	Paused             string               `json:"paused,omitempty"` // the shared pause (429, outage)
	PauseLeftSeconds   float64              `json:"pause_left_seconds,omitempty"`
	URLsSentTotal      int64                `json:"urls_sent_total"`
	DroppedTotal       int64                `json:"dropped_as_satisfied_total"`
	LastFlushAll       string               `json:"last_flush_all,omitempty"`
	FlushAllSuggested  bool                 `json:"flush_all_suggested"`
	LastDeadLetters    []inspect.DeadLetter `json:"last_dead_letters,omitempty"`
	RecentPauses       []store.PauseRecord  `json:"recent_pauses,omitempty"` // the latest shared pauses, newest first, kept a week (store.KeyPauseLog)
	LastOutage         *store.PauseRecord   `json:"last_outage,omitempty"`   // the last pause for an outage
}

// Options say what to read beyond the counts.
type Options struct {
	// DeadLetters is how many of the last dead letters to list (0: none).
	DeadLetters int
	// FallbackRate and FallbackBatch are the reader's own rate and batch size.
	// They are used only when no worker is alive to say what it runs with.
	FallbackRate  float64
	FallbackBatch int
	// RateName is what the words call the rate setting, e.g. the variable that sets it.
	// Empty means "rate".
	RateName string
}

// Reader reads Snapshots from Redis.
type Reader struct {
	rdb   redis.UniversalClient
	store *store.Store
	insp  *asynq.Inspector
}

// NewReader returns a Reader over rdb (a client, a failover client or a cluster client), of the
// default account.
func NewReader(rdb redis.UniversalClient) *Reader {
	return &Reader{rdb: rdb, store: store.New(rdb), insp: asynq.NewInspectorFromRedisClient(rdb)}
}

// For returns a Reader of account's keys and queues: its snapshot (Read), counts and pauses.
func (r *Reader) For(account string) *Reader {
	return &Reader{rdb: r.rdb, store: r.store.For(account), insp: r.insp}
}

// Read takes one reading: what the metrics collector reports (ReadCounts, the same reading) and
// what operators ask for besides (the workers, the send rate, the totals, the last flush-all, the
// last dead letters), with the drain estimate. Like ReadCounts, it is whole or an error.
func (r *Reader) Read(ctx context.Context, o Options) (*Snapshot, error) {
	q := r.queues()
	c, err := r.ReadCounts(ctx, q.Names())
	if err != nil {
		return nil, err
	}
	s := &Snapshot{At: c.At, WaitingURLs: c.WaitingURLs, DeadLetters: int(c.DeadLetters),
		Paused: c.Pause.String(), PauseLeftSeconds: c.Pause.Left.Seconds()}
	if q.Account != tasks.DefaultAccount {
		s.Account = q.Account
	}
	s.addQueues(c.Queues)
	recorded, err := r.store.ChecksWaiting(ctx)
	if err != nil {
		return nil, err
	}
	s.ConfirmBacklog += recorded // status checks not handed to asynq yet (store.KeyChecks)
	if c.WaitingURLs > 0 {
		s.OldestWaiting, s.OldestWaitingSecs = c.OldestWaiting.Round(time.Millisecond).String(), c.OldestWaiting.Seconds()
	}
	if s.URLsPerSecond, s.CallsPerSecond, err = r.store.SendRate(ctx, rateWindow); err != nil {
		return nil, err
	}
	if s.Workers, err = r.store.Workers(ctx, c.At.UnixMilli()); err != nil {
		return nil, err
	}
	s.addWorkers(o)
	if err := r.readHistory(ctx, s); err != nil {
		return nil, err
	}
	d := drain(drainInput{
		calls: s.BacklogCalls - s.PausedBacklogCalls, held: s.PausedBacklogCalls, pausedQueues: s.PausedQueues,
		workers: len(s.Workers), stopped: len(s.SendingStopped), configured: s.ConfiguredRate, achieved: s.CallsPerSecond,
		busy: s.BusyLastMinute, pauseLeft: s.PauseLeftSeconds, rateName: o.rateName(),
	})
	s.DrainSeconds, s.DrainRate, s.DrainRateFrom, s.DrainNote, s.FlushAllSuggested = d.seconds, d.rate, d.rateFrom, d.note, d.suggestFlushAll
	if o.DeadLetters > 0 {
		if s.LastDeadLetters, err = inspect.LastDeadLetters(ctx, r.store, o.DeadLetters); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// queues are the queues of the reader's account.
func (r *Reader) queues() tasks.AccountQueues { return tasks.QueuesOf(r.store.Account()) }

// rateName is what the notes call the rate setting.
func (o Options) rateName() string { return cmp.Or(o.RateName, "rate") }

// addQueues adds asynq's queues to s, with the API calls their tasks hold.
func (s *Snapshot) addQueues(infos []*asynq.QueueInfo) {
	for _, info := range infos {
		q := info.Queue
		_, base, _ := tasks.AccountOfQueue(q)
		qs := Queue{Queue: q, Pending: info.Pending, Active: info.Active, Scheduled: info.Scheduled, Retry: info.Retry,
			Archived: info.Archived, Paused: info.Paused}
		s.Queues = append(s.Queues, qs)
		if qs.Paused {
			s.PausedQueues = append(s.PausedQueues, q)
		}
		if base == tasks.QueueConfirm {
			s.ConfirmBacklog = waitingChecks(info)
		}
		if base == tasks.QueueInteractive || base == tasks.QueueBulk || base == tasks.QueueAll {
			waiting := int64(qs.Pending + qs.Scheduled + qs.Retry) // a pause holds these; the active ones run
			calls := waiting + int64(qs.Active)
			if base == tasks.QueueBulk {
				calls, waiting = calls*tasks.BulkRequests, waiting*tasks.BulkRequests // a bulk task carries up to this many requests
			}
			s.BacklogCalls += calls
			if qs.Paused {
				s.PausedBacklogCalls += waiting
			}
		}
	}
}

// addWorkers adds what the live workers say to s: the rate and batch size they run with, those
// that stopped sending, and the calls the URLs waiting for their window will take.
func (s *Snapshot) addWorkers(o Options) {
	sort.Slice(s.Workers, func(i, j int) bool { return s.Workers[i].ID < s.Workers[j].ID })
	batch := o.FallbackBatch
	s.ConfiguredRate, s.RateSource = o.FallbackRate, o.rateName()+" of this command (no worker alive)"
	if len(s.Workers) > 0 {
		s.ConfiguredRate, s.RateSource, batch = s.Workers[0].Rate, "workers", s.Workers[0].BatchSize
		for _, w := range s.Workers {
			if w.Stopped != "" {
				s.SendingStopped = append(s.SendingStopped, w.ID+" stopped sending "+w.Stopped)
			}
		}
	}
	batch = max(batch, 1)
	windowCalls := (s.WaitingURLs + int64(batch) - 1) / int64(batch)
	s.BacklogCalls += windowCalls
	if slices.ContainsFunc(s.PausedQueues, func(q string) bool { _, base, _ := tasks.AccountOfQueue(q); return base == tasks.QueueInteractive }) {
		s.PausedBacklogCalls += windowCalls // the batcher's tasks wait on the paused queue
	}
	s.BusyLastMinute = busyThroughout(s.Workers, s.At)
}

// readHistory adds the totals, the last flush-all and the recent pauses to s.
func (r *Reader) readHistory(ctx context.Context, s *Snapshot) error {
	tot, err := r.store.Totals(ctx)
	if err != nil {
		return err
	}
	s.URLsSentTotal, s.DroppedTotal = tot.URLsSent, tot.Dropped
	all, err := r.store.AllState(ctx)
	if err != nil {
		return err
	}
	if all.SentAt > 0 {
		s.LastFlushAll = time.UnixMilli(all.SentAt).UTC().Format(time.RFC3339) + " (uuid " + all.UUID + ")"
	}
	ph, err := r.store.PauseHistory(ctx, s.At.UnixMilli())
	if err != nil {
		return err
	}
	s.RecentPauses, s.LastOutage = ph.Recent, ph.LastOutage
	return nil
}

// rateWindow is what the achieved rate (Snapshot.CallsPerSecond) is measured over.
const rateWindow = time.Minute

// busyThroughout reports whether a live worker's rate monitor saw work waiting to be sent, and no
// shared pause, all through the interval the achieved rate measures (the rateWindow before the
// second of at, which is still filling; see store.WorkerState.BusySince).
func busyThroughout(workers []store.WorkerState, at time.Time) bool {
	start := at.Add(-rateWindow - time.Second).UnixMilli()
	for _, w := range workers {
		if w.BusySince > 0 && w.BusySince <= start {
			return true
		}
	}
	return false
}

// drainInput is what the drain estimate depends on.
type drainInput struct {
	calls        int64    // API calls of the backlog that drain (the window, the queues not paused)
	held         int64    // API calls held by queues an operator paused
	pausedQueues []string // the queues that hold them
	workers      int      // alive
	stopped      int      // of them, those that stopped sending (key, TLS, endpoint)
	configured   float64  // the workers' rate, calls/s (0: no limit)
	achieved     float64  // calls/s the fleet sent over the last minute
	busy         bool     // work waited all through that minute: achieved is what the fleet can send
	pauseLeft    float64  // seconds left of the shared pause
	rateName     string   // what the notes call the rate setting
}

// drainEstimate is the time to drain, the rate it assumes and where that rate comes from, in words.
type drainEstimate struct {
	seconds, rate   float64
	rateFrom, note  string
	suggestFlushAll bool
}

// drain estimates the time to drain the backlog. The rate the fleet achieved over the last minute
// is what it can send only if it was busy all along (work waited to be sent); after a quiet
// minute it measures what was asked (one URL a minute is not a capacity of 0.02 calls/s), and the
// estimate uses the workers' configured rate instead. Calls held by a paused queue do not drain at any
// rate: they are named, not estimated.
func drain(in drainInput) (e drainEstimate) {
	if in.calls+in.held == 0 {
		return e
	}
	held := ""
	if in.held > 0 {
		held = fmt.Sprintf("%d API calls in paused queues (%s) do not drain until unpaused", in.held, strings.Join(in.pausedQueues, ", "))
	}
	switch {
	case in.workers == 0:
		e.note = "no worker is alive: the backlog does not drain"
		return e
	case in.stopped == in.workers:
		e.note = "every worker stopped sending: the backlog does not drain until that is fixed"
		return e
	case in.calls == 0:
		e.note = "the whole backlog is in paused queues (" + strings.Join(in.pausedQueues, ", ") + "): it does not drain until they are unpaused"
		return e
	}
	switch {
	case in.busy && in.achieved > 0:
		e.rate, e.rateFrom = in.achieved, "achieved"
		e.note = "at the rate the workers achieved over the last minute with work waiting all along: what they can send"
		if in.configured > 0 && in.achieved < 0.9*in.configured {
			e.note += fmt.Sprintf(", below their %s=%g", in.rateName, in.configured)
		}
	case in.busy:
		e.note = "work waited all through the last minute and nothing was sent: no estimate (see /readyz and the workers' logs)"
	case in.configured > 0:
		e.rate, e.rateFrom = in.configured, "configured"
		e.note = fmt.Sprintf("at the workers' %s=%g", in.rateName, in.configured)
		if in.achieved > 0 {
			e.note += fmt.Sprintf("; the last minute's %.2f calls/s measured demand, not capacity (work did not wait all through it)", in.achieved)
		}
	default:
		e.note = in.rateName + "=0 (no limit) and no minute with work waiting all along measured what the workers can send yet: no estimate"
	}
	if e.rate > 0 {
		e.seconds = math.Ceil(float64(in.calls)/e.rate + in.pauseLeft)
		if in.pauseLeft > 0 {
			e.note += "; after the shared pause"
		}
		e.suggestFlushAll = time.Duration(e.seconds)*time.Second > SuggestFlushAfter
	}
	if held != "" {
		e.note += "; " + held
	}
	return e
}

// Counts is the part of a reading the metrics collector reports: asynq's own view of each queue
// (with its counters, latency and memory), the coalescing window, the dead letters and the shared
// pause.
type Counts struct {
	At            time.Time          // the Redis clock at the reading
	Queues        []*asynq.QueueInfo // one per queue asked, in that order, listed by asynq or not; zero values for a queue never used
	WaitingURLs   int64
	OldestWaiting time.Duration // 0 when the window is empty; on the Redis clock
	DeadLetters   int64         // the one count of dead letters (deadLetterCount)
	Pause         Pause         // the shared pause; its zero value when there is none
	EvictedKeys   int64         // Redis's evicted_keys; -1 when Redis does not tell (INFO refused)
}

// ReadCounts takes the reading the metrics collector reports, for the given queues. It is whole or
// an error: any read of Redis that fails fails it, and the error names what could not be read. A
// part is never shown as if it were the whole (a pause that could not be read is not "no pause").
// The one exception is Redis's evicted_keys, from INFO, which managed services may refuse.
func (r *Reader) ReadCounts(ctx context.Context, queues []string) (*Counts, error) {
	now, err := r.store.Now(ctx)
	if err != nil {
		return nil, err
	}
	// asynq's Inspector takes no context; its calls are bounded by the Redis client's own read
	// timeouts.
	_, infos, err := r.queueInfos(ctx, queues)
	if err != nil {
		return nil, err
	}
	c := &Counts{At: time.UnixMilli(now).UTC(), Queues: infos, EvictedKeys: -1}
	if n, err := r.store.EvictedKeys(ctx); err == nil {
		c.EvictedKeys = n
	}
	n, oldest, err := r.store.PendingCount(ctx)
	if err != nil {
		return nil, err
	}
	c.WaitingURLs = n
	if n > 0 {
		c.OldestWaiting = waitedFor(now, oldest)
	}
	records, err := r.store.DeadLetterCount(ctx)
	if err != nil {
		return nil, err
	}
	c.DeadLetters = deadLetterCount(infos, records)
	if c.Pause, err = r.readPause(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// deadLetterCount is the one count of dead letters, the number `enqueue status`, /status and
// cipurge_dead_letters report: the product's own record, which keeps every dead letter until an
// operator replays or deletes it (also those asynq trimmed from its archive, at most 10,000 a
// queue), or asynq's archive of the queues when that holds more (tasks archived by an older
// version, or from the asynqmon UI, that have no record). So it never counts a dead letter twice,
// and it does not move when records catch up with the archive. Only the product's task queues
// count (tasks.AccountOfQueue): a webhook delivery that finally failed is no dead letter.
func deadLetterCount(queues []*asynq.QueueInfo, records int64) int64 {
	var archived int64
	for _, q := range queues {
		if _, _, ok := tasks.AccountOfQueue(q.Queue); ok {
			archived += int64(q.Archived)
		}
	}
	return max(archived, records)
}

// Pause is the pause every worker honours after Cloudimage answered 429 or failed (an outage).
type Pause struct {
	Reason string        // in the words of the worker that paused
	Left   time.Duration // 0 when there is no pause
}

// String names the pause as the status and readiness show it, "REASON (41s left)"; it is empty
// when there is no pause.
func (p Pause) String() string {
	if p.Left <= 0 {
		return ""
	}
	return fmt.Sprintf("%s (%s left)", p.Reason, p.Left.Round(time.Second))
}

// readPause reads the shared pause.
func (r *Reader) readPause(ctx context.Context) (Pause, error) {
	reason, left, err := r.store.PauseState(ctx)
	if err != nil || left <= 0 {
		return Pause{}, err
	}
	return Pause{Reason: reason, Left: left}, nil
}

// queueInfos reads the info of each queue in names, in that order, whether or not asynq lists it:
// asynq's Inspector reads the queues it knows; a queue it does not list is read from asynq's keys
// (readQueueKeys). asynq lists a queue from its first task on, but its client registers a queue
// once per process, so after Redis lost its data (a restart without persistence) a running
// worker's queues hold tasks that asynq no longer lists. It also returns the queues asynq lists.
func (r *Reader) queueInfos(ctx context.Context, names []string) (map[string]bool, []*asynq.QueueInfo, error) {
	exist, err := inspect.ExistingQueues(r.insp)
	if err != nil {
		return nil, nil, err
	}
	infos := make([]*asynq.QueueInfo, 0, len(names))
	for _, q := range names {
		var info *asynq.QueueInfo
		if exist[q] {
			info, err = r.insp.GetQueueInfo(q)
		} else {
			info, err = r.readQueueKeys(ctx, q)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("queue %s: %w", q, err)
		}
		infos = append(infos, info)
	}
	return exist, infos, nil
}

// readQueueKeys reads queue q straight from asynq's keys (taskq): what the Inspector's queue info
// holds but the memory usage and the daily counts, which stay 0. A queue never used reads as zeros.
func (r *Reader) readQueueKeys(ctx context.Context, q string) (*asynq.QueueInfo, error) {
	pipe := r.rdb.Pipeline()
	lists := []*redis.IntCmd{pipe.LLen(ctx, taskq.PendingKey(q)), pipe.LLen(ctx, taskq.ActiveKey(q))}
	sets := []*redis.IntCmd{pipe.ZCard(ctx, taskq.ScheduledKey(q)), pipe.ZCard(ctx, taskq.RetryKey(q)),
		pipe.ZCard(ctx, taskq.ArchivedKey(q)), pipe.ZCard(ctx, taskq.CompletedKey(q))}
	paused := pipe.Exists(ctx, taskq.PausedKey(q))
	processed, failed := pipe.Get(ctx, taskq.ProcessedTotalKey(q)), pipe.Get(ctx, taskq.FailedTotalKey(q))
	oldest := pipe.LIndex(ctx, taskq.PendingKey(q), -1) // asynq pushes on the left, takes from the right
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	info := &asynq.QueueInfo{Queue: q, Pending: int(lists[0].Val()), Active: int(lists[1].Val()),
		Scheduled: int(sets[0].Val()), Retry: int(sets[1].Val()), Archived: int(sets[2].Val()), Completed: int(sets[3].Val()),
		Paused: paused.Val() > 0, Timestamp: time.Now()}
	info.ProcessedTotal, _ = processed.Int()
	info.FailedTotal, _ = failed.Int()
	info.Size = info.Pending + info.Active + info.Scheduled + info.Retry + info.Archived + info.Completed
	if id := oldest.Val(); id != "" {
		ns, err := r.rdb.HGet(ctx, taskq.TaskKey(q, id), taskq.TaskPendingSince).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		if ns > 0 {
			info.Latency = max(time.Since(time.Unix(0, ns)), 0) // on the reader's clock, as asynq's Inspector
		}
	}
	return info, nil
}

// ConfirmBacklog counts the status checks waiting: those not handed to asynq yet
// (store.KeyChecks), and asynq's due, scheduled and retrying ones (a running one no longer
// waits). It reads those keys only, a few O(1) reads, for the worker that bounds this backlog;
// the status reports the same count (Snapshot.ConfirmBacklog).
func (r *Reader) ConfirmBacklog(ctx context.Context) (int64, error) {
	info, err := r.readQueueKeys(ctx, r.queues().Confirm)
	if err != nil {
		return 0, fmt.Errorf("status checks waiting: %w", err)
	}
	recorded, err := r.store.ChecksWaiting(ctx)
	if err != nil {
		return 0, fmt.Errorf("status checks waiting: %w", err)
	}
	return waitingChecks(info) + recorded, nil
}

// waitingChecks is the status checks waiting in the confirm queue's info.
func waitingChecks(info *asynq.QueueInfo) int64 {
	return int64(info.Pending + info.Scheduled + info.Retry)
}

// waitedFor is how long the oldest entry of the window, added at oldest, has waited at now (both
// Redis clock milliseconds); never negative.
func waitedFor(now, oldest int64) time.Duration {
	return max(time.Duration(now-oldest)*time.Millisecond, 0)
}

// Pauses are what holds sending without anything for this worker to fix: the shared pause (after
// a 429 or an outage of the API) and the queues an operator paused (asynq queue pause, or the
// asynqmon UI), whose tasks no worker takes until they are unpaused.
type Pauses struct {
	Shared Pause
	Queues []string // the product's queues an operator paused
}

// ReadPauses reads the shared pause and the paused queues, whether or not asynq lists them: a few
// O(1) reads, for readiness. Read and ReadCounts report the same pauses.
func (r *Reader) ReadPauses(ctx context.Context) (Pauses, error) {
	pipe := r.rdb.Pipeline()
	names := tasks.QueuesOf(r.store.Account()).Names()
	cmds := make([]*redis.IntCmd, len(names))
	for i, q := range names {
		cmds[i] = pipe.Exists(ctx, taskq.PausedKey(q))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Pauses{}, fmt.Errorf("paused queues: %w", err)
	}
	var p Pauses
	for i, c := range cmds {
		if c.Val() > 0 {
			p.Queues = append(p.Queues, names[i])
		}
	}
	var err error
	if p.Shared, err = r.readPause(ctx); err != nil {
		return Pauses{}, err // whole or an error, as every reading
	}
	return p, nil
}

// DescribePause is one pause in words, the same on /status and in `enqueue status`:
// "rate limited (429) from 2026-12-06 16:40:31 UTC to 2026-12-06 16:40:36 UTC (5s), 1 pause,
// 12 calls held: <reason>".
func DescribePause(p store.PauseRecord) string {
	cause := "outage"
	if p.Cause == store.PauseRateLimited {
		cause = "rate limited (429)"
	}
	took := figures.Duration(time.Duration(p.End-p.Start) * time.Millisecond)
	if p.Ongoing {
		took += ", still on"
	}
	return fmt.Sprintf("%s from %s to %s (%s), %s, %s held: %s", cause, figures.Millis(p.Start), figures.Millis(p.End), took,
		figures.Plural(int64(p.Pauses), "pause", "pauses"), figures.Plural(p.Held, "call", "calls"), p.Reason)
}
