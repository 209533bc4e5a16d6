package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/flushall"
)

// Record is what the history knows of one canonical URL.
type Record struct {
	Key         string
	RequestedAt int64  // the request the last send covered (ms), 0 if never sent
	SentAt      int64  // when that send was admitted (ms)
	UUID        string // the invalidation's uuid at Cloudimage
	State       string // a State*: sent, confirmed, failed, unconfirmed, dead (dead-lettered)
	Detail      string // with failed/dead: why
	QueuedAt    int64  // the latest request put in a request task (its request time, ms)
	Task        string // that request task's ID
}

// History returns the record of key, if any within the history TTL: the newest send in the
// bucketed history, with its call's uuid and state, or in the per-URL hash an earlier version
// wrote (read until it expires), with the per-URL hash's queued request, task and reason. It reads
// a constant number of keys: the per-URL hash, the epoch buckets of the TTL
// (historyLayout.buckets), and the call table of the newest send.
func (s *Store) History(ctx context.Context, key string) (Record, bool, error) {
	l := s.layout(ctx)
	if !l.migrated {
		// No worker of this version has run yet: move the hourly history first (once).
		if _, err := s.MigrateHistory(ctx); err != nil {
			return Record{}, false, fmt.Errorf("history: %w", err)
		}
	}
	local := time.Now().UnixMilli()
	f, shard := HistoryField(key)
	from, to := local-l.ttl-historyHour, local+historyHour
	buckets, calls := l.buckets(s.k, from, to, local, shard), l.calls(s.k, from, to, local)
	pipe := s.rdb.Pipeline()
	clock := pipe.Time(ctx)
	all := pipe.HGetAll(ctx, s.k.History(key))
	queued := pipe.HGet(ctx, s.k.Queued, key)
	recs := make([]*redis.StringCmd, len(buckets))
	for i, b := range buckets {
		recs[i] = pipe.HGet(ctx, b, f)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Record{}, false, fmt.Errorf("history: %w", err)
	}
	m := all.Val()
	atoi := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	r := Record{Key: key, RequestedAt: atoi(FieldRequested), SentAt: atoi(FieldSent), UUID: m[FieldUUID], State: m[FieldState],
		Detail: m[FieldWhy], QueuedAt: atoi(FieldQueued), Task: m[FieldTask]}
	found := len(m) > 0
	oldest := clock.Val().UnixMilli() - l.ttl
	var best historyRecord
	bestAt := -1
	for i, c := range recs {
		if c.Err() != nil {
			continue
		}
		if h, ok := parseHistoryRecord(buckets[i], c.Val()); ok && h.sent > r.SentAt && h.sent >= oldest {
			r.RequestedAt, r.SentAt, r.UUID, r.State, found = h.req, h.sent, h.uuid, h.state, true
			best, bestAt = h, i
		}
	}
	if bestAt >= 0 && best.call > 0 {
		if err := s.readCall(ctx, &r, calls[bestAt], best); err != nil {
			return Record{}, false, fmt.Errorf("history: %w", err)
		}
	}
	return queuedIn(r, queued.Val()), found || queued.Val() != "", nil
}

// queuedIn adds to r the task its URL is queued in, from v, its KeyQueued value
// ("<request ms> <task ID>"), when that is newer than what r holds and no recorded send covers
// it. A dead-lettered URL keeps the task MarkDead named (the one to replay).
func queuedIn(r Record, v string) Record {
	at, task, ok := strings.Cut(v, " ")
	q, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || q <= r.QueuedAt {
		return r
	}
	if r.SentAt > 0 && q <= r.RequestedAt && r.State != StateDead {
		return r // sent: the send's task ran before the batcher recorded it queued
	}
	r.QueuedAt = q
	if r.State != StateDead || r.Task == "" {
		r.Task = task
	}
	return r
}

// readCall fills r's uuid, and its state and reason unless the URL has its own, from the entry
// of the call that h names in the call table ck.
func (s *Store) readCall(ctx context.Context, r *Record, ck string, h historyRecord) error {
	group, off := historyCallField(h.call)
	vs, err := s.rdb.HMGet(ctx, ck, strconv.FormatInt(h.call, 10), group).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	var c historyCall
	ok := false
	if own, _ := vs[0].(string); own != "" {
		c, ok = parseHistoryCall(own, true)
	} else if g, _ := vs[1].(string); len(g) >= off+historyCallSlot && g[off] != 0 {
		c, ok = parseHistoryCall(g[off:off+historyCallSlot], false)
	}
	if !ok || c.sent != h.sent {
		// The call table lost the call (evicted, or deleted by hand): the uuid is unknown.
		if h.state == "" {
			r.State = StateSent
		}
		return nil
	}
	r.UUID = c.uuid
	if h.state == "" {
		r.State, r.Detail = c.state, c.why
	}
	return nil
}

// historyCallField returns the group field of a call table that holds call, and the call's
// offset in it (hcall_field in luaPreamble).
func historyCallField(call int64) (string, int) {
	return FieldCallsGroup + strconv.FormatInt((call-1)/historyCallGroup, 10), int((call-1)%historyCallGroup) * historyCallSlot
}

// historyRecord is a record of the bucketed history, read by parseHistoryRecord.
type historyRecord struct {
	req, sent int64
	call      int64  // the call's number in its epoch's call table; 0 in a record of 060b371 and before
	state     string // the URL's own state; "" when it is its call's
	uuid      string // in a record of 060b371 and before
}

// parseHistoryRecord reads a record of the bucketed history in bucket (written by hrec_enc, or
// by hrec_put in 060b371 and before: see luaPreamble).
func parseHistoryRecord(bucket, v string) (historyRecord, bool) {
	if len(v) < 12 {
		return historyRecord{}, false
	}
	if v[0] < 16 {
		return parseCallRecord(bucket, v)
	}
	var h historyRecord
	h.sent = beUint(v[1:7])
	h.req = h.sent - beUint(v[7:12])
	h.state = stateOfCode(strings.ToLower(v[:1]))
	h.uuid = v[12:]
	if strings.ToLower(v[:1]) != v[:1] {
		h.uuid = uuidText(h.uuid)
	}
	return h, h.state != ""
}

// parseCallRecord reads a record that names its call (hrec_enc).
func parseCallRecord(bucket, v string) (historyRecord, bool) {
	i := strings.LastIndexByte(bucket, ':')
	j := strings.LastIndexByte(bucket[:max(i, 0)], ':')
	start, err := strconv.ParseInt(bucket[j+1:max(i, j+1)], 10, 64)
	if i < 0 || j < 0 || err != nil {
		return historyRecord{}, false
	}
	flags := int(v[0])
	h := historyRecord{call: beUint(v[1:5]), sent: start*historyHour + beUint(v[8:])}
	delay := beUint(v[5:8])
	if flags&8 != 0 {
		delay *= 1000
	}
	h.req = h.sent - delay
	if n := flags & 7; n > 0 && n <= len(historyStates) {
		h.state = historyStates[n-1]
	}
	return h, true
}

// historyCall is a call's entry in its epoch's call table (hcall_put in luaPreamble).
type historyCall struct {
	state, uuid, why string
	sent             int64
}

// parseHistoryCall reads a call's entry: its own field (with the reason after the uuid), or its
// slot in a group (the uuid padded to 16 bytes).
func parseHistoryCall(v string, own bool) (historyCall, bool) {
	if len(v) < 9 {
		return historyCall{}, false
	}
	ul := int(v[8])
	if len(v) < 9+ul {
		return historyCall{}, false
	}
	c := historyCall{state: stateOfCode(strings.ToLower(v[:1])), sent: beUint(v[2:8]), uuid: v[9 : 9+ul]}
	if own {
		c.why = v[9+ul:]
	}
	if strings.ToLower(v[:1]) != v[:1] {
		c.uuid = uuidText(c.uuid)
	}
	return c, c.state != ""
}

// beUint reads a big-endian unsigned number of up to 8 bytes.
func beUint(b string) int64 {
	var n uint64
	for i := 0; i < len(b); i++ {
		n = n<<8 | uint64(b[i])
	}
	return int64(n)
}

// stateOfCode is the state whose one-byte code is c, or "".
func stateOfCode(c string) string {
	for name, code := range stateCodes {
		if code == c {
			return name
		}
	}
	return ""
}

// uuidText is the canonical text of a uuid packed into 16 bytes (uuid_pack); other values are
// returned as they are.
func uuidText(u string) string {
	if len(u) != 16 {
		return u
	}
	h := hex.EncodeToString([]byte(u))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// MarkState sets the state of urls whose last send was the invalidation uuid (a newer send
// keeps its own state). An empty uuid marks them whatever their last send (dead letters).
// When urls are all the URLs of that call, as a status check's answer names them, it marks the
// call once (mark_call.lua); otherwise each URL gets a state of its own, which wins over its call's.
func (s *Store) MarkState(ctx context.Context, urls []string, uuid, state, detail string, ttl time.Duration) error {
	return s.mark(ctx, urls, uuid, state, detail, "", ttl)
}

// MarkDead marks urls dead-lettered in the task taskID (the ID `enqueue dlq replay` takes), why.
func (s *Store) MarkDead(ctx context.Context, urls []string, taskID, why string, ttl time.Duration) error {
	return s.mark(ctx, urls, "", StateDead, why, taskID, ttl)
}

// Call is one API call a status check answered: its uuid and all its URLs.
type Call struct {
	UUID string
	URLs []string
}

// MarkCalls marks each of calls as MarkState of all its URLs does, its state state. The calls'
// marks go in one round trip (mark_call.lua, pipelined); a call that mark_call cannot mark at
// once is marked URL by URL after it.
func (s *Store) MarkCalls(ctx context.Context, calls []Call, state string, ttl time.Duration) error {
	l := s.layout(ctx)
	now := time.Now().UnixMilli()
	from, to := now-l.ttl-historyHour, now+historyHour
	tables := l.calls(s.k, from, to, now)
	var cmds []*redis.Cmd
	todo := make([]Call, 0, len(calls))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			if len(c.URLs) == 0 || c.UUID == "" {
				continue
			}
			f, shard := HistoryField(c.URLs[0])
			keys := append(append([]string(nil), tables...), l.buckets(s.k, from, to, now, shard)...)
			cmds = append(cmds, markCallScript.EvalSha(ctx, p, keys, c.UUID, state, "", len(c.URLs), f))
			todo = append(todo, c)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !isNoScript(err) {
		return fmt.Errorf("mark %s: %w", state, err)
	}
	var first error
	for i, c := range todo {
		n, err := cmds[i].Int()
		switch {
		case err != nil && isNoScript(err):
			err = s.MarkState(ctx, c.URLs, c.UUID, state, "", ttl) // loads the script
		case err == nil && n == 0:
			err = s.markEach(ctx, c.URLs, c.UUID, state, "", "", ttl)
		}
		if err != nil && !errors.Is(err, redis.Nil) && first == nil {
			first = fmt.Errorf("mark %s: %w", state, err)
		}
	}
	return first
}

// isNoScript says whether err is Redis's answer to an EVALSHA of a script it does not hold.
func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

func (s *Store) mark(ctx context.Context, urls []string, uuid, state, detail, task string, ttl time.Duration) error {
	if len(urls) == 0 {
		return nil
	}
	l := s.layout(ctx)
	now := time.Now().UnixMilli()
	from, to := now-l.ttl-historyHour, now+historyHour
	calls := l.calls(s.k, from, to, now)
	if uuid != "" && task == "" {
		// A status check's answer for the whole call: mark the call once.
		f, shard := HistoryField(urls[0])
		keys := append(append([]string(nil), calls...), l.buckets(s.k, from, to, now, shard)...)
		n, err := markCallScript.Run(ctx, s.rdb, keys, uuid, state, detail, len(urls), f).Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("mark %s: %w", state, err)
		}
		if n == 1 {
			return nil
		}
	}
	return s.markEach(ctx, urls, uuid, state, detail, task, ttl)
}

// markEach marks urls each apart (mark.lua): see mark.
func (s *Store) markEach(ctx context.Context, urls []string, uuid, state, detail, task string, ttl time.Duration) error {
	l := s.layout(ctx)
	now := time.Now().UnixMilli()
	from, to := now-l.ttl-historyHour, now+historyHour
	calls := l.calls(s.k, from, to, now)
	keys := append([]string(nil), calls...)
	args := []any{uuid, state, detail, ttl.Milliseconds(), task, len(calls)}
	for _, u := range urls {
		f, shard := HistoryField(u)
		keys = append(keys, s.k.History(u))
		keys = append(keys, l.buckets(s.k, from, to, now, shard)...)
		args = append(args, f)
	}
	err := markScript.Run(ctx, s.rdb, keys, args...).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("mark %s: %w", state, err)
	}
	return nil
}

// Requeued records that urls, queued in a request task, now wait in the task taskID instead (the
// task was split), so that `enqueue status URL` names the task that exists. URLs with no queued
// request are left alone.
func (s *Store) Requeued(ctx context.Context, urls []string, taskID string) error {
	if len(urls) == 0 {
		return nil
	}
	keys := make([]string, 0, 1+len(urls))
	keys = append(keys, s.k.Queued)
	args := make([]any, 0, 1+len(urls))
	args = append(args, taskID)
	for _, u := range urls {
		keys = append(keys, s.k.History(u))
		args = append(args, u)
	}
	err := requeuedScript.Run(ctx, s.rdb, keys, args...).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("record the new task: %w", err)
	}
	return nil
}

// AllRecord is the state of flush-all (scope "all").
type AllRecord struct {
	RequestedAt int64 // the last accepted request (ms)
	SentAt      int64 // the last flush-all the API accepted (ms); 0 if never
	UUID        string
	AttemptAt   int64 // the last attempt whose outcome is unknown (ms); 0 if none
	InFlightAt  int64 // the latest attempt still recorded in flight (ms): being sent, or one whose outcome could not be recorded; 0 if none
	RootAt      int64 // the last root prefix sent in place of a flush-all (ms); 0 if never
	Root        string
}

// Last is the record as the flush-all rule reads it (the cooldown counts from the latest of the
// last flush-all accepted, the last attempt with an unknown outcome and the last attempt still
// recorded in flight).
func (r AllRecord) Last() flushall.Last {
	return flushall.Last{SentAt: msUTC(r.SentAt), UUID: r.UUID, AttemptAt: msUTC(r.AttemptAt), InFlightAt: msUTC(r.InFlightAt),
		RootAt: msUTC(r.RootAt), Root: r.Root}
}

// msUTC is the time of a Unix-ms timestamp; 0 is the zero time.
func msUTC(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// AllState returns the flush-all record. The hash is small: a few fields per request that has
// not ended (confirmed, in flight) and one per attempt with an unknown outcome.
func (s *Store) AllState(ctx context.Context) (AllRecord, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.All).Result()
	if err != nil {
		return AllRecord{}, fmt.Errorf("flush-all state: %w", err)
	}
	atoi := func(v string) int64 { n, _ := strconv.ParseInt(v, 10, 64); return n }
	r := AllRecord{RequestedAt: atoi(m[FieldAllRequested]), SentAt: atoi(m[FieldAllSent]), UUID: m[FieldAllUUID], AttemptAt: atoi(m[FieldAllAttempt]),
		RootAt: atoi(m[FieldAllRootSent]), Root: m[FieldAllRoot]}
	for f, v := range m {
		if strings.HasPrefix(f, FieldAllInFlight) {
			r.InFlightAt = max(r.InFlightAt, atoi(v))
		}
	}
	return r, nil
}

// AllRequested records that a person requested a flush-all at the Redis time now, and returns it.
func (s *Store) AllRequested(ctx context.Context) (int64, error) {
	now, err := s.Now(ctx)
	if err != nil {
		return 0, err
	}
	return now, s.rdb.HSet(ctx, s.k.All, FieldAllRequested, now).Err()
}

// AllConfirm records that a person confirmed the flush-all requested at requestedAt (ms): the
// one thing that lets a worker send it, once. Write it before the task is enqueued.
func (s *Store) AllConfirm(ctx context.Context, requestedAt int64) error {
	ms := strconv.FormatInt(requestedAt, 10)
	if err := s.rdb.HSet(ctx, s.k.All, FieldAllConfirmed+ms, 1, FieldAllRequested, ms).Err(); err != nil {
		return fmt.Errorf("confirm flush-all: %w", err)
	}
	return nil
}

// AllBegin decides whether the flush-all requested at requestedAt may be sent now and, if so,
// records in one step that an attempt is in flight (before the call). It returns AllGo with the
// Redis time of the attempt, AllUnconfirmed (no confirmation, or it was used up), or AllUnknown
// with when an earlier attempt whose outcome is unknown began (an attempt found still in flight
// is such an attempt: its worker died or was stopped mid-call).
func (s *Store) AllBegin(ctx context.Context, requestedAt int64) (verdict int, at int64, err error) {
	res, err := allBeginScript.Run(ctx, s.rdb, []string{s.k.All}, requestedAt).Int64Slice()
	if err != nil || len(res) != 2 {
		return 0, 0, fmt.Errorf("begin flush-all: %v %w", res, err)
	}
	return int(res[0]), res[1], nil
}

// AllRefused records that the API said it did not act on the attempt (a status other than 2xx, or
// no connection): the flush-all may be tried again.
func (s *Store) AllRefused(ctx context.Context, requestedAt int64) error {
	return s.allEnd(ctx, requestedAt, AllEndRefused)
}

// AllDone records that the task of the flush-all requested at requestedAt ends without a send
// (dead-lettered, or covered by a later flush-all): its confirmation is used up, so only a fresh
// one can send it. An attempt of it still recorded in flight is not forgotten: it becomes one with
// an unknown outcome (never sent again by itself; the cooldown counts from it), and unknownAt says
// when it began (0: none was in flight).
func (s *Store) AllDone(ctx context.Context, requestedAt int64) (unknownAt int64, err error) {
	n, err := allEndScript.Run(ctx, s.rdb, []string{s.k.All}, requestedAt, AllEndDone).Int64()
	if err != nil {
		return 0, fmt.Errorf("record flush-all outcome: %w", err)
	}
	return n, nil
}

// AllUnknown records that the attempt in flight ended with no answer that says whether the API
// acted (a timeout, a torn answer): it is never sent again by itself, and the cooldown counts from
// it. It returns when the attempt began.
func (s *Store) AllUnknown(ctx context.Context, requestedAt int64) (int64, error) {
	n, err := allEndScript.Run(ctx, s.rdb, []string{s.k.All}, requestedAt, AllEndUnknown).Int64()
	if err != nil {
		return 0, fmt.Errorf("record flush-all outcome: %w", err)
	}
	return n, nil
}

// AllAttempted reports whether an attempt to send the flush-all requested at requestedAt has an
// unknown outcome, and when it began. An attempt still recorded in flight is one (its worker died
// or was stopped mid-call: the caller is the next attempt), and is recorded as such.
func (s *Store) AllAttempted(ctx context.Context, requestedAt int64) (at int64, unknown bool, err error) {
	if at, err = s.AllUnknown(ctx, requestedAt); err != nil || at > 0 {
		return at, at > 0, err
	}
	v, err := s.rdb.HGet(ctx, s.k.All, FieldAllUnknown+strconv.FormatInt(requestedAt, 10)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("flush-all state: %w", err)
	}
	return v, true, nil
}

func (s *Store) allEnd(ctx context.Context, requestedAt int64, outcome string) error {
	if err := allEndScript.Run(ctx, s.rdb, []string{s.k.All}, requestedAt, outcome).Err(); err != nil {
		return fmt.Errorf("record flush-all outcome: %w", err)
	}
	return nil
}

// AllSent records a flush-all accepted by the API, admitted at sentAt, uses up the confirmation of
// the request (requested at requestedAt, ms), and drops every pending URL request made before it
// (the flush covered them). It returns how many it dropped.
func (s *Store) AllSent(ctx context.Context, sentAt int64, uuid string, requestedAt int64) (int64, error) {
	n, err := allSentScript.Run(ctx, s.rdb, []string{s.k.All, s.k.Pending, s.k.Sources, s.k.Stats}, sentAt, uuid, requestedAt).Int64()
	if err != nil {
		return 0, fmt.Errorf("record flush-all: %w", err)
	}
	return n, nil
}

// Lease takes or renews a lease named key for owner, for ttl. It reports whether owner holds it.
func (s *Store) Lease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.rdb, []string{key}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", key, err)
	}
	return n == 1, nil
}

// Release gives up owner's lease on key, if owner holds it.
func (s *Store) Release(ctx context.Context, key, owner string) error {
	return releaseScript.Run(ctx, s.rdb, []string{key}, owner).Err()
}

// FirstDeadLetter records that the task id is being dead-lettered by choice (so that a replay by an
// operator can be told from the first run: asynq keeps the task unchanged when it archives it),
// and reports whether this is the first time (false: an operator replayed it, so it should be
// sent). Markers live as long as asynq keeps archived tasks (90 days).
func (s *Store) FirstDeadLetter(ctx context.Context, id string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.k.DeadLetter(id), 1, 90*24*time.Hour).Result()
	if err != nil {
		return false, fmt.Errorf("dead-letter marker: %w", err)
	}
	return ok, nil
}
