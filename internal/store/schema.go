package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// This file is the Redis schema: every key, hash field, history state, verdict code and priority
// the product writes, in one place (asynq's internal/base plays this part for asynq). The Lua
// scripts in lua/*.lua never spell a key, a field, a state or a code: they use the constants that
// luaPreamble generates from the declarations below (F_*, S_*, V_*, P_*, A_*, E_*, N_*), and they
// get every key through KEYS. TestLuaUsesTheSchema fails when a script spells one by hand or uses
// a constant this file does not define.
//
// The names are a contract with data already in Redis: change none of them, only add.

// Prefix starts every key this package writes. The hash tag keeps them in one Cluster slot.
const Prefix = "cipurge:{cipurge}:"

// Keys of the shared state.
const (
	KeyPending     = Prefix + "pending"     // ZSET member=canonical key, score=first request (ms) while waiting
	KeySources     = Prefix + "src"         // HASH canonical key -> free-text source of a pending request
	KeyRate        = Prefix + "rate"        // STRING GCRA theoretical arrival time (ms)
	KeyRateStatus  = Prefix + "rate:status" // STRING GCRA theoretical arrival time (ms) of status checks
	KeyPause       = Prefix + "pause"       // STRING reason; its PTTL is the pause every worker honours
	KeyPauseRuns   = Prefix + "pause:n"     // STRING consecutive pauses, for backoff when Retry-After is absent
	KeyHot         = Prefix + "hot"         // STRING set while an interactive request waits for the limiter
	KeyProbe       = Prefix + "probe"       // STRING held by the one request that probes the API after an outage
	KeyAll         = Prefix + "all"         // HASH of the last flush-all: FieldAll*
	KeyBatcher     = Prefix + "batcher"     // STRING lease of the worker that forms batches
	KeyStats       = Prefix + "stats"       // HASH cluster-wide totals: FieldStat*
	KeyWorkers     = Prefix + "workers"     // HASH worker id -> "<Redis time ms> <JSON of its settings and state>", refreshed by each worker
	KeyWriteProbe  = Prefix + "wprobe"      // STRING with a 10 s TTL, written by /readyz to prove Redis takes writes
	KeyDeadLetters = Prefix + "dlq"         // HASH task ID -> JSON store.DeadLetter: every dead letter, kept until replayed or deleted
	KeyDeadIndex   = Prefix + "dlq:at"      // ZSET task ID, score = when it was dead-lettered (ms)
	KeyDeadMarks   = Prefix + "dlq:mark"    // HASH task ID -> DeadMarkTrimmed or DeadMarkRerun: what the reconciliation found of a record whose task asynq's archive lacks
	KeyDeadTrim    = Prefix + "dlq:trim"    // HASH queue -> time (ms) up to which asynq trimmed the queue's archive, as far as seen
	KeyDeadSweep   = Prefix + "dlq:sweep"   // STRING lease of the worker that reconciles the dead-letter record with asynq

	keyHistory      = Prefix + "h:"     // HASH per canonical key: Field* (since hh: only a queued task, a failure's reason, or an earlier version's history)
	keyHistoryHour  = Prefix + "hh:"    // HASH per hour and shard: HistoryField -> packed record (see HistoryBucketKey)
	keySentSecs     = Prefix + "sent:"  // STRING per second: URLs sent, for the cluster-wide send rate
	keyCallsSecs    = Prefix + "calls:" // STRING per second: API calls made
	keyDeadLettered = Prefix + "dead:"  // STRING per request task the worker dead-lettered on purpose
)

// HistoryKey is the Redis key of one canonical URL's history hash.
func HistoryKey(key string) string { return keyHistory + key }

// The sent history is bucketed: one small hash per UTC hour (HistoryBucket) of the send and
// shard (HistoryShards) of the URL, field = the 8 bytes of the 64-bit FNV-1a hash of the canonical
// key, value = a packed record (luaPreamble's hrec_put: state code, sent ms, request delay, uuid).
// Small hashes stay listpack-encoded (hash-max-listpack-entries, default 128), which is what keeps
// a URL's history under 100 bytes; a bucket expires PURGE_HISTORY_TTL after its hour ends. Two
// keys share a 64-bit hash with probability about n²/2^65 (3e-4 at 100 M URLs within the TTL).
const (
	HistoryBucket   = time.Hour
	HistoryShards   = 1024
	historyScanBack = 90 * 24 * time.Hour // how far back a reader looks when it does not know the TTL
)

// HistoryField returns the hash field and shard of canonical key in the bucketed history.
func HistoryField(key string) (field string, shard uint64) {
	h := fnv.New64a()
	h.Write([]byte(key))
	var b [8]byte
	v := h.Sum64()
	binary.BigEndian.PutUint64(b[:], v)
	return string(b[:]), v % HistoryShards
}

// HistoryBucketKey is the key of the history hash of shard for sends in the hour that contains ms.
func HistoryBucketKey(ms int64, shard uint64) string {
	start := ms - ms%HistoryBucket.Milliseconds()
	return keyHistoryHour + strconv.FormatInt(start/1000, 10) + ":" + strconv.FormatUint(shard, 10)
}

// historyBuckets returns the keys of shard's buckets from the hour of to back to the hour of from, newest first.
func historyBuckets(from, to int64, shard uint64) []string {
	step := HistoryBucket.Milliseconds()
	from, to = from-from%step, to-to%step
	var out []string
	for t := to; t >= from; t -= step {
		out = append(out, HistoryBucketKey(t, shard))
	}
	return out
}

// SentSecondKey and CallsSecondKey are the per-second counters of URLs sent and API calls made in
// the Unix second sec (kept rateWindowS seconds).
func SentSecondKey(sec int64) string  { return keySentSecs + strconv.FormatInt(sec, 10) }
func CallsSecondKey(sec int64) string { return keyCallsSecs + strconv.FormatInt(sec, 10) }

// DeadLetterKey marks the request task id as dead-lettered by the worker on purpose.
func DeadLetterKey(id string) string { return keyDeadLettered + id }

// Keys of the built-in sandbox (CLOUDIMAGE_SANDBOX=true).
const (
	keySandbox = Prefix + "sandbox:" // STRING per invalidation uuid the sandbox accepted: its record (sandbox.Keeper), until its status checks end
)

// SandboxKey is where the worker's built-in sandbox keeps the invalidation uuid it accepted, so
// that a sandbox started again still answers its status checks.
func SandboxKey(uuid string) string { return keySandbox + uuid }

// Fields of a URL's history hash (HistoryKey).
const (
	FieldRequested = "req"  // the request time (ms) the last send covered
	FieldSent      = "sent" // when that send was admitted (ms)
	FieldUUID      = "uuid" // the invalidation's uuid at Cloudimage
	FieldState     = "st"   // a State*
	FieldWhy       = "why"  // with StateFailed/StateDead/StateUnconfirmed: why
	FieldQueued    = "q"    // the latest request (ms) put in a request task
	FieldTask      = "task" // that request task's ID
)

// Fields of the flush-all hash (KeyAll).
const (
	FieldAllRequested = "requested_at" // the last flush-all a person requested (ms)
	FieldAllSent      = "sent_at"      // the last flush-all the API accepted, when admitted (ms)
	FieldAllUUID      = "uuid"         // its uuid
	FieldAllAttempt   = "attempt_at"   // the last flush-all attempt whose outcome is unknown (ms): the cooldown counts from it too

	// Per confirmed request, named by its request time (ms), e.g. "confirmed:1764620000000":
	FieldAllConfirmed = "confirmed:" // a person confirmed this request; a send needs it, and uses it up
	FieldAllInFlight  = "inflight:"  // an attempt to send it began at this time (ms) and has recorded no outcome yet
	FieldAllUnknown   = "unknown:"   // an attempt began at this time (ms) and its outcome is unknown: never sent again by itself
)

// How a flush-all attempt or its task ended (all_end.lua's ARGV[2]: Store.AllRefused, AllUnknown,
// AllDone).
const (
	AllEndRefused = "refused" // the API said it did not act: the request may be tried again
	AllEndUnknown = "unknown" // no answer says whether it acted: never sent again by itself
	AllEndDone    = "done"    // the task ends without a send: its confirmation is used up
)

// Timings the scripts share.
const (
	// pauseRunsTTL is how long the count of consecutive pauses (KeyPauseRuns) outlives the last
	// one: an hour without a 429 or an outage starts the backoff from its base again.
	pauseRunsTTL = time.Hour
	// admitRecheck is how soon a request asks again when it yields to interactive work or waits
	// for the probe after an outage; an interactive request also marks itself waiting (KeyHot)
	// for this long past its own wait.
	admitRecheck = 250 * time.Millisecond
)

// Answers of the flush-all begin script (Store.AllBegin).
const (
	AllGo          = 0 // confirmed, nothing in flight: the attempt is recorded, send now
	AllUnconfirmed = 1 // no confirmation (used up, or never given, as when asynqmon runs an archived task)
	AllUnknown     = 2 // an earlier attempt of this request has an unknown outcome
)

// Fields of the totals hash (KeyStats).
const (
	FieldStatURLsSent = "urls_sent" // URLs in accepted requests
	FieldStatCalls    = "calls"     // accepted API calls that named URLs
	FieldStatDropped  = "dropped"   // requests dropped as already satisfied
)

// States of a URL's history (FieldState).
const (
	StateSent        = "sent"        // accepted by the API
	StateConfirmed   = "confirmed"   // Cloudimage reported it invalidated
	StateFailed      = "failed"      // Cloudimage reported it failed (a resend follows)
	StateUnconfirmed = "unconfirmed" // accepted, but its outcome could not be learnt
	StateDead        = "dead"        // dead-lettered
)

// Priority says who may use the shared rate limit first.
type Priority int

// Priorities, highest first. While an interactive request waits for the limiter, lower
// priorities yield, so a re-ingest of a million URLs never delays an interactive invalidation.
const (
	Interactive Priority = 0
	Background  Priority = 1 // bulk requests
	// Status is a status check of an accepted request. It has its own budget (a rate limit of its
	// own, PURGE_CONFIRM_RATE), so that checks never take an invalidation's place, and it never
	// yields: it does not compete with invalidations at all.
	Status Priority = 2
)

// Verdict is the answer of Admit.
type Verdict int

// Verdicts. The admit script returns them by these numbers.
const (
	Go        Verdict = 0 // send after Wait (0: now): the call was counted against the limit at its send time
	Paused    Verdict = 1 // every worker is paused (429, outage); wait Wait
	Throttled Verdict = 2 // the shared rate limit says wait Wait
	Yield     Verdict = 3 // an interactive request is waiting; background work waits Wait
	Satisfied Verdict = 4 // every URL was already invalidated after it was requested: send nothing
)

// stateCodes are the one-byte codes of the states in the bucketed history's records.
var stateCodes = map[string]string{StateSent: "s", StateConfirmed: "c", StateFailed: "f", StateUnconfirmed: "u", StateDead: "d"}

var verdictNames = map[Verdict]string{Go: "go", Paused: "paused", Throttled: "throttled", Yield: "yield", Satisfied: "satisfied"}

func (v Verdict) String() string {
	if s, ok := verdictNames[v]; ok {
		return s
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Layouts of the scripts whose KEYS start with fixed keys and go on with one key per URL.
const (
	admitFixedKeys  = 7 // KeyRate, KeyPause, KeyHot, KeyAll, KeyPauseRuns, KeyProbe, KeyRateStatus
	sentFixedKeys   = 5 // KeyStats, SentSecondKey, CallsSecondKey, KeyPauseRuns, KeyProbe
	removeFixedKeys = 2 // KeyPending, KeySources
	removeArgsPer   = 4 // per entry: key, request time, task ID, HistoryField
	removeBuckets   = 3 // per entry after its HistoryKey: the HistoryBucketKeys of the hours after, of and before now
)

// luaConsts are the schema facts the scripts use, by the name they have in Lua.
var luaConsts = []struct {
	name  string
	value any
}{
	{"F_REQ", FieldRequested}, {"F_SENT", FieldSent}, {"F_UUID", FieldUUID}, {"F_ST", FieldState},
	{"F_WHY", FieldWhy}, {"F_Q", FieldQueued}, {"F_TASK", FieldTask},
	{"F_ALL_SENT", FieldAllSent}, {"F_ALL_UUID", FieldAllUUID}, {"F_ALL_ATTEMPT", FieldAllAttempt},
	{"F_ALL_CONFIRMED", FieldAllConfirmed}, {"F_ALL_INFLIGHT", FieldAllInFlight}, {"F_ALL_UNKNOWN", FieldAllUnknown},
	{"A_GO", AllGo}, {"A_UNCONFIRMED", AllUnconfirmed}, {"A_UNKNOWN", AllUnknown},
	{"E_ALL_REFUSED", AllEndRefused}, {"E_ALL_UNKNOWN", AllEndUnknown}, {"E_ALL_DONE", AllEndDone},
	{"N_PAUSE_RUNS_TTL_MS", int(pauseRunsTTL.Milliseconds())}, {"N_RECHECK_MS", int(admitRecheck.Milliseconds())},
	{"F_STAT_URLS", FieldStatURLsSent}, {"F_STAT_CALLS", FieldStatCalls}, {"F_STAT_DROPPED", FieldStatDropped},
	{"S_SENT", StateSent},
	{"V_GO", int(Go)}, {"V_PAUSED", int(Paused)}, {"V_THROTTLED", int(Throttled)}, {"V_YIELD", int(Yield)}, {"V_SATISFIED", int(Satisfied)},
	{"P_INTERACTIVE", int(Interactive)}, {"P_BACKGROUND", int(Background)}, {"P_STATUS", int(Status)},
	{"N_ADMIT_FIXED", admitFixedKeys}, {"N_SENT_FIXED", sentFixedKeys},
	{"N_REMOVE_FIXED", removeFixedKeys}, {"N_REMOVE_PER", removeArgsPer}, {"N_REMOVE_BUCKETS", removeBuckets},
}

// luaPreamble is prepended to every script: the constants above as Lua locals, and now_ms(), the
// Redis server's clock in milliseconds.
var luaPreamble = func() string {
	var b strings.Builder
	for _, c := range luaConsts {
		switch v := c.value.(type) {
		case string:
			fmt.Fprintf(&b, "local %s = %q\n", c.name, v)
		case int:
			fmt.Fprintf(&b, "local %s = %d\n", c.name, v)
		default:
			panic(fmt.Sprintf("store: Lua constant %s has type %T", c.name, v))
		}
	}
	b.WriteString("local ST_CODE, ST_NAME = {}, {}\n")
	for _, name := range []string{StateSent, StateConfirmed, StateFailed, StateUnconfirmed, StateDead} {
		code := stateCodes[name]
		fmt.Fprintf(&b, "ST_CODE[%q] = %q; ST_NAME[%q] = %q\n", name, code, code, name)
	}
	// hrec_get(k, f): the bucketed history record f of hash k: sent, req, uuid, state code (nil if none).
	// hrec_put(k, f, code, sent, req, uuid) writes one: code, sent ms (13 digits), ' ', sent-req, ' ', uuid.
	b.WriteString(`local function hrec_get(k, f)
  local v = redis.call('HGET', k, f)
  if not v then return nil end
  local sent = tonumber(string.sub(v, 2, 14))
  local sp = string.find(v, ' ', 16, true)
  return sent, sent - tonumber(string.sub(v, 16, sp - 1)), string.sub(v, sp + 1), string.sub(v, 1, 1)
end
local function hrec_put(k, f, code, sent, req, uuid)
  redis.call('HSET', k, f, code .. string.format('%013d', sent) .. ' ' .. string.format('%d', sent - req) .. ' ' .. uuid)
end
`)
	b.WriteString("local function now_ms() local t = redis.call('TIME'); return t[1] * 1000 + math.floor(t[2] / 1000) end\n")
	// all_unknown(k, req): the attempt in flight for the flush-all requested at req has no known
	// outcome: keep when it began (the cooldown counts from it), drop its confirmation, so that
	// nothing sends it again by itself. Returns when the attempt began, or nil if none was in flight.
	b.WriteString(`local function all_unknown(k, req)
  local at = redis.call('HGET', k, F_ALL_INFLIGHT .. req)
  if not at then return nil end
  redis.call('HDEL', k, F_ALL_CONFIRMED .. req, F_ALL_INFLIGHT .. req)
  redis.call('HSET', k, F_ALL_UNKNOWN .. req, at)
  if tonumber(redis.call('HGET', k, F_ALL_ATTEMPT) or '0') < tonumber(at) then redis.call('HSET', k, F_ALL_ATTEMPT, at) end
  return tonumber(at)
end
`)
	return b.String()
}()
