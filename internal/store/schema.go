package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// This file is the Redis schema.
// It holds every key, hash field, history state, verdict code and priority the product writes.
// asynq's internal/base plays this part for asynq.
//
// The Lua scripts in lua/*.lua never spell a key, a field, a state or a code.
// They use the constants that luaPreamble generates from the declarations below.
// Those are F_*, S_*, V_*, P_*, A_*, E_* and N_*.
// The scripts get every key through KEYS.
// TestLuaUsesTheSchema fails when a script spells one by hand.
// It also fails when a script uses a constant this file does not define.
//
// The names are a contract with data already in Redis: change none of them, only add.

// Prefix starts every key of the account tasks.DefaultAccount. The hash tag keeps them in one
// Cluster slot. Another account's keys start with AccountPrefix: the tag names the account.
const Prefix = prefixHead + "}:"

// prefixHead starts every key of every account: the hash tag is open after it.
const prefixHead = "cipurge:{cipurge"

// Keys of the shared state: the names of the account tasks.DefaultAccount.
// Keys (keys.go) has each account's. KeyWorkers and KeyWriteProbe are the deployment's, not an
// account's: every worker of every account writes the same one.
const (
	KeyPending       = Prefix + "pending"     // ZSET member=canonical key, score=first request (ms) while waiting
	KeySources       = Prefix + "src"         // HASH canonical key -> free-text source of a pending request
	KeyRate          = Prefix + "rate"        // STRING GCRA theoretical arrival time (ms)
	KeyRateStatus    = Prefix + "rate:status" // STRING GCRA theoretical arrival time (ms) of status checks
	KeyRatePrefix    = Prefix + "rate:prefix" // STRING GCRA theoretical arrival time (ms) of prefix (folder) requests
	KeyPause         = Prefix + "pause"       // STRING reason; its PTTL is the pause every worker honours
	KeyPauseRuns     = Prefix + "pause:n"     // STRING consecutive pauses, for backoff when Retry-After is absent
	KeyHot           = Prefix + "hot"         // STRING set while an interactive request waits for the limiter
	KeyProbe         = Prefix + "probe"       // STRING held by the one request that probes the API after an outage
	KeyAll           = Prefix + "all"         // HASH of the last flush-all: FieldAll*
	KeyBatcher       = Prefix + "batcher"     // STRING lease of the worker that forms batches
	KeyStats         = Prefix + "stats"       // HASH cluster-wide totals: FieldStat*
	KeyWorkers       = Prefix + "workers"     // HASH worker id -> "<Redis time ms> <JSON of its settings and state>", refreshed by each worker
	KeyWriteProbe    = Prefix + "wprobe"      // STRING with a 10 s TTL, written by /readyz to prove Redis takes writes
	KeyDeadLetters   = Prefix + "dlq"         // HASH task ID -> JSON store.DeadLetter: every dead letter, kept until replayed or deleted
	KeyDeadIndex     = Prefix + "dlq:at"      // ZSET task ID, score = when it was dead-lettered (ms)
	KeyDeadMarks     = Prefix + "dlq:mark"    // HASH task ID -> DeadMarkTrimmed or DeadMarkRerun: what the reconciliation found of a record whose task asynq's archive lacks
	KeyDeadTrim      = Prefix + "dlq:trim"    // HASH queue -> time (ms) up to which asynq trimmed the queue's archive, as far as seen
	KeyDeadSweep     = Prefix + "dlq:sweep"   // STRING lease of the worker that reconciles the dead-letter record with asynq
	KeyHistoryLayout = Prefix + "hlayout"     // HASH FieldLayout*: the history TTL that sets the epochs
	KeyPrefixSent    = Prefix + "pfx:sent"    // ZSET prefix key -> when its last accepted send was admitted (ms): it covers the URLs under it requested before
	KeyPrefixWaiting = Prefix + "pfx:wait"    // ZSET prefix key -> its first request (ms) not sent yet: a prefix under it waits for it
	KeyHotPrefix     = Prefix + "pfx:hot"     // STRING set while an interactive prefix request waits for the prefix budget
	KeyStarts        = Prefix + "starts"      // ZSET of the calls started in the last second under KeyRate: member unique, score = start (ms)
	KeyStartsPrefix  = Prefix + "starts:pfx"  // ZSET the same for prefix (folder) requests, under KeyRatePrefix
	// KeyQueued holds the request task each URL waits in, from the batch until its send: field
	// canonical key, value "<request time (ms)> <task ID>". The send drops it (Move.Covers); History
	// ignores one a recorded send covers. It expires a history TTL after its last write.
	KeyQueued = Prefix + "queued"
	// KeyChecks holds the status checks not handed to asynq yet: member an encoded tasks.Confirm,
	// score when it is due (ms).
	KeyChecks = Prefix + "checks"

	keyHistory      = Prefix + "h:"     // HASH per canonical key: Field* (since hh: only a queued task, a failure's reason, or an earlier version's history)
	keyHistoryHour  = Prefix + "hh:"    // HASH per hour and shard: the history of 000c5df and before, moved by MigrateHistory (HistoryBucketKey)
	keyHistoryEpoch = Prefix + "hb:"    // HASH per epoch and shard: HistoryField -> packed record (see HistoryEpochKey)
	keyHistoryCalls = Prefix + "hc:"    // HASH per epoch: call number -> the call's uuid and state (see HistoryCallsKey)
	keySentSecs     = Prefix + "sent:"  // STRING per second: URLs sent, for the cluster-wide send rate
	keyCallsSecs    = Prefix + "calls:" // STRING per second: API calls made
	keyDeadLettered = Prefix + "dead:"  // STRING per request task the worker dead-lettered on purpose
)

// ReplicaMarkKey is the key WaitReplicas increments before its WAIT: a STRING counter in the
// Cluster slot of slotKey. Its hash tag is slotKey's, or slotKey whole when it has none.
func ReplicaMarkKey(slotKey string) string { return "cipurge:{" + hashTag(slotKey) + "}:replicated" }

// hashTag is the part of key that Redis Cluster hashes: the first {...} that is not empty, else the key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// HistoryKey is the Redis key of one canonical URL's history hash (of the default account).
func HistoryKey(key string) string { return defaultKeys.History(key) }

// The sent history lives in epoch buckets.
// A bucket is one small hash per epoch of the send and shard of the URL.
// HistoryShards sets the number of shards.
// A bucket's field is the 8-byte FNV-1a hash of the canonical key.
// Its value is a packed record, written by luaPreamble's hrec_new.
// The record names its API call by number.
// The call's uuid and state are kept once, in the epoch's call table (HistoryCallsKey).
// So a status check marks the call once, not each URL.
// A URL sent again later names its newer call: an old call's mark cannot change it.
// Records written by 060b371 and before hold their own uuid (hrec_put): they are read until they expire.
// An epoch is a quarter of the history TTL, in whole hours (HistoryEpoch).
// So a send, a mark and a lookup each touch at most HistoryEpochs+2 buckets per URL.
// A bucket and a call table expire a history TTL after their epoch ends.
// Their expiry is set when they are created, not at each send (FieldBucketTTL, FieldCallsNext).
// docs/throughput.md ("History") gives the memory per URL and the odds of a hash collision.
//
// KeyHistoryLayout holds the TTL that sets the epochs.
// Every worker writes its history TTL there at start, with Store.UseHistoryTTL.
// Every reader uses it.
// When it changes, the previous layout is read too until its records have expired.
const (
	HistoryShards = 4096 // a power of two: the shard is the hash's low bits
	HistoryEpochs = 4    // epochs per history TTL
	historyHour   = int64(time.Hour / time.Millisecond)
	// historyDefaultTTL is the TTL of the layout before any worker wrote one (the history TTL's default).
	historyDefaultTTL = 7 * 24 * time.Hour
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

// HistoryEpoch is the epoch length (ms) of the history kept for ttl: a quarter of it, rounded
// up to whole hours.
func HistoryEpoch(ttl time.Duration) int64 {
	q := (ttl.Milliseconds() + HistoryEpochs - 1) / HistoryEpochs
	return max((q+historyHour-1)/historyHour, 1) * historyHour
}

// HistoryEpochKey is the key of the history hash of shard for sends in the epoch (of length
// epoch ms) that contains ms. The key names the epoch's length and start in hours.
// It is the default account's (Keys.HistoryEpoch).
func HistoryEpochKey(ms, epoch int64, shard uint64) string {
	return defaultKeys.HistoryEpoch(ms, epoch, shard)
}

// HistoryCallsKey is the key of the call table of the epoch (of length epoch ms) that contains
// ms: the uuid and state of each API call whose URLs have records in that epoch's buckets.
// It is the default account's (Keys.HistoryCalls).
func HistoryCallsKey(ms, epoch int64) string { return defaultKeys.HistoryCalls(ms, epoch) }

// Fields of the history's buckets and call tables besides the records.
// Neither can be a record's field (8 bytes) or a call number (decimal digits).
const (
	FieldBucketTTL = "!" // in a bucket: present once its expiry is set
	FieldCallsNext = "#" // in a call table: the last call number given (HINCRBY); its creation sets the expiry
	// FieldCallsGroup and a number name a field of a call table that holds historyCallGroup calls,
	// historyCallSlot bytes each: call c is slot (c-1) mod historyCallGroup of group (c-1) div
	// historyCallGroup. A call with a reason or a uuid longer than 16 bytes has a field of its own,
	// its number, instead (as every call had in e19948e); that field wins over its slot.
	FieldCallsGroup = "g"
)

// Sizes of a call table's groups: one field of 8 calls costs about a third of 8 fields of one.
const (
	historyCallGroup = 8
	historyCallSlot  = 25
)

// historyEpochs returns the epochs (of length step ms) from the one of to back to the one of
// from, newest first.
func historyEpochs(from, to, step int64) []epoch {
	from, to = from-from%step, to-to%step
	var out []epoch
	for t := to; t >= from; t -= step {
		out = append(out, epoch{t, step})
	}
	return out
}

// The hourly history of version 000c5df and before: one hash per UTC hour and shard (of 1024),
// with text records. Store.MigrateHistory moves it into the epoch buckets.
const (
	legacyHistoryBucket = time.Hour
	legacyHistoryShards = 1024
)

// HistoryBucketKey is the key of the hourly history hash (000c5df and before) of shard for sends
// in the hour that contains ms.
func HistoryBucketKey(ms int64, shard uint64) string { return defaultKeys.HistoryBucket(ms, shard) }

// SentSecondKey and CallsSecondKey are the per-second counters of URLs sent and API calls made in
// the Unix second sec (kept rateWindowS seconds), of the default account.
func SentSecondKey(sec int64) string  { return defaultKeys.SentSecond(sec) }
func CallsSecondKey(sec int64) string { return defaultKeys.CallsSecond(sec) }

// DeadLetterKey marks the request task id as dead-lettered by the worker on purpose (default account).
func DeadLetterKey(id string) string { return defaultKeys.DeadLetter(id) }

// Keys of the built-in sandbox. They are the deployment's: the sandbox stands in for Cloudimage,
// which answers every account.
const (
	keySandbox = Prefix + "sandbox:" // STRING per invalidation uuid the sandbox accepted: its record (sandbox.Keeper), until its status checks end
)

// KeyPauseLog is what operators look back on after a shared pause ended: a HASH of FieldPause*,
// of constant size (PauseLogSize pauses), kept pauseLogTTL after the last pause.
const KeyPauseLog = Prefix + "pause:log"

// Fields of KeyPauseLog.
const (
	FieldPauseNow    = "now"    // JSON PauseRecord of the latest pause, running or ended (its calls held apart)
	FieldPauseHeld   = "held"   // calls the latest pause held (HINCRBY)
	FieldPauseRecent = "recent" // JSON []PauseRecord of the pauses before it, newest first
	FieldPauseOutage = "outage" // JSON PauseRecord of the last outage before it
)

// Pause causes (PauseRecord.Cause), as the worker's cipurge_pauses_total labels them.
const (
	PauseRateLimited = "rate_limited" // a 429
	PauseOutage      = "outage"       // 5xx, network errors
)

// The pause log's sizes and times.
const (
	PauseLogSize = 5                  // pauses kept besides the latest
	pauseLogTTL  = 7 * 24 * time.Hour // the log outlives its last pause by this much
	pauseMerge   = 10 * time.Second   // a pause of the same cause that starts within this of the last one's end continues it
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

// Fields of the history layout hash (KeyHistoryLayout).
const (
	FieldLayoutTTL      = "ttl"        // the history TTL (ms) of the current layout
	FieldLayoutPrev     = "prev"       // the TTL (ms) of the layout before it
	FieldLayoutPrevTill = "prev_until" // when the last record of the previous layout expires (ms)
	FieldLayoutMigrated = "migrated"   // when MigrateHistory last moved the hourly history (ms)
)

// Fields of the flush-all hash (KeyAll).
const (
	FieldAllRequested = "requested_at" // the last flush-all a person requested (ms)
	FieldAllSent      = "sent_at"      // the last flush-all the API accepted, when admitted (ms)
	FieldAllUUID      = "uuid"         // its uuid
	FieldAllAttempt   = "attempt_at"   // the last flush-all attempt whose outcome is unknown (ms): the cooldown counts from it too
	FieldAllRootSent  = "root_sent_at" // the last root prefix the API accepted in place of a flush-all, when admitted (ms): the cooldown counts from it too
	FieldAllRoot      = "root"         // that root prefix

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
	// own), so that checks never take an invalidation's place, and it never
	// yields: it does not compete with invalidations at all.
	Status Priority = 2
	// Folder is a prefix (folder) request. Like a status check it has a budget of its own
	// (the prefix rate), counted in KeyRatePrefix, so a prefix never takes the URL rate and URLs
	// never take its budget; it never yields.
	Folder Priority = 3
	// FolderBulk is a prefix request from the bulk queue: it shares Folder's budget and yields to
	// an interactive prefix that waits for it (KeyHotPrefix), as Background yields to Interactive.
	FolderBulk Priority = 4
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

// uuidPattern matches the uuids the history packs into 16 bytes: lower-case canonical UUIDs.
// It is a Lua pattern: 8-4-4-4-12 hex digits.
var uuidPattern = func() string {
	var parts []string
	for _, n := range []int{8, 4, 4, 4, 12} {
		parts = append(parts, strings.Repeat("[0-9a-f]", n))
	}
	return "^" + strings.Join(parts, "%-") + "$"
}()

// historyStates numbers the states in the history's records (ST_NUM): a state's number is its
// index plus one. The order is a contract with records in Redis: only append.
var historyStates = []string{StateSent, StateConfirmed, StateFailed, StateUnconfirmed, StateDead}

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
	admitFixedKeys = 9 // KeyRate, KeyPause, KeyHot or KeyHotPrefix, KeyAll, KeyPauseRuns, KeyProbe, KeyRateStatus or KeyRatePrefix, KeyPrefixSent, KeyPrefixWaiting
	sentFixedKeys  = 6 // KeyStats, SentSecondKey, CallsSecondKey, KeyPauseRuns, KeyProbe, HistoryCallsKey
	removeArgsPer  = 3 // per entry: key, request time, task ID
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
	{"P_INTERACTIVE", int(Interactive)}, {"P_BACKGROUND", int(Background)}, {"P_STATUS", int(Status)}, {"P_PREFIX", int(Folder)}, {"P_PREFIX_BULK", int(FolderBulk)},
	{"N_HKEY_TAIL", len(keyHistory) - len(Prefix) + 2}, {"N_HOUR_MS", int(historyHour)}, {"F_HB_TTL", FieldBucketTTL}, {"F_HC_NEXT", FieldCallsNext}, {"F_HC_GROUP", FieldCallsGroup}, {"N_CALL_GROUP", historyCallGroup}, {"N_CALL_SLOT", historyCallSlot}, {"N_PREFIXES_KEPT", PrefixesKept}, {"N_PREFIX_WAIT_MS", int(prefixWaitFor.Milliseconds())},
	{"N_HOLD_MS", int(prefixHold.Milliseconds())},
	{"N_ADMIT_FIXED", admitFixedKeys}, {"N_SENT_FIXED", sentFixedKeys},
	{"N_REMOVE_PER", removeArgsPer},
	{"F_REQ_TOTAL", FieldReqTotal}, {"F_REQ_AT", FieldReqAt}, {"F_REQ_CONFIRM", FieldReqConfirm}, {"F_REQ_CB", FieldReqCallback},
	{"F_REQ_SAMPLE", FieldReqSample}, {"F_REQ_DONE", FieldReqDone}, {"F_REQ_OPEN", FieldReqOpen}, {"F_REQ_ACCT", FieldReqAccount}, {"N_REQ_KEPT", RequestsKept},
	{"S_REQ_WAITING", string(ReqWaiting)}, {"S_REQ_SENT", string(ReqSent)}, {"S_REQ_RESENT", string(ReqResent)}, {"S_REQ_DEAD", string(ReqDead)},
	{"N_REQ_PER_URL", RequestsPerURL}, {"N_REQ_SAMPLE", RequestSampleSize}, {"S_LINK_WAITING", linkWaiting}, {"S_LINK_SENT", linkSent},
	{"S_OUT_DONE", OutboxDone}, {"S_OUT_DEAD", OutboxDead}, {"N_OUTBOX_MAX", OutboxMax},
	{"N_EVENTS_CALLBACK", int(EventsCallback)}, {"N_EVENTS_ALL", int(EventsAll)},
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
	for _, name := range historyStates {
		code := stateCodes[name]
		fmt.Fprintf(&b, "ST_CODE[%q] = %q; ST_NAME[%q] = %q\n", name, code, code, name)
	}
	b.WriteString("local ST_NUM, ST_OF = {}, {}\n")
	for i, name := range historyStates {
		fmt.Fprintf(&b, "ST_NUM[%q] = %d; ST_OF[%d] = %q\n", stateCodes[name], i+1, i+1, stateCodes[name])
	}
	// The bucketed history's records, read by parseHistoryRecord in Go.
	// A record of this version (hrec_enc): a flag byte (below 16), the call number (4 bytes), the
	// request delay (3 bytes: ms, or seconds rounded up when the flag's 8 is set), and the send
	// time minus the epoch's start, from the bucket's key (ms, 4 bytes, 5 past 49 days).
	// The flag's low 3 bits are the URL's own state (ST_NUM), 0 when it is its call's.
	// A record of 060b371 and before (hrec_put): state code (upper case when the uuid is packed),
	// sent ms (6 bytes), sent minus the request time (5 bytes), then the uuid: 16 bytes when it is
	// a lower-case canonical UUID (uuid_pack), else its text. Its first byte is a letter.
	// hrec_get(k, f) returns sent, req, call (nil for 060b371's), own state code (nil: the call's),
	// then for 060b371's records the uuid as stored and packed.
	// A call's entry (hcall_put, hcall_get): its state code (upper case when the uuid is packed),
	// its URLs (1 byte, at most 255), sent ms (6 bytes), the uuid's length (1 byte), the uuid. In a
	// group's slot the uuid is padded to 16 bytes with zeros; in the call's own field the reason
	// follows it. hcall_get returns code, URLs, sent, uuid, packed, why, own (the call's own field).
	fmt.Fprintf(&b, "local UUID_PATTERN = %q\n", uuidPattern)
	b.WriteString(`local function uuid_pack(u)
  if #u == 36 and string.find(u, UUID_PATTERN) then
    local h = string.gsub(u, '-', '')
    local p = string.gsub(h, '%x%x', function(x) return string.char(tonumber(x, 16)) end)
    return p, true
  end
  return u, false
end
local function hrec_start(k)
  return tonumber(string.match(k, '(%d+):%d+$')) * N_HOUR_MS
end
local function hrec_read(k, v)
  if not v or #v < 12 then return nil end
  local fl = string.byte(v, 1)
  if fl < 16 then
    local call, d = struct.unpack('>I4I3', v, 2)
    local off = 0
    for i = 9, #v do off = off * 256 + string.byte(v, i) end
    local sent = hrec_start(k) + off
    if fl >= 8 then d = d * 1000 end
    return sent, sent - d, call, ST_OF[fl % 8]
  end
  local c = string.sub(v, 1, 1)
  local sent, d = struct.unpack('>I6I5', v, 2)
  local lc = string.lower(c)
  return sent, sent - d, nil, lc, string.sub(v, 13), lc ~= c
end
local function hrec_get(k, f)
  return hrec_read(k, redis.call('HGET', k, f))
end
local function hrec_enc(k, st, sent, req, call)
  local d, fl = math.max(sent - req, 0), ST_NUM[st] or 0
  if d > 16777215 then d = math.min(math.ceil(d / 1000), 16777215); fl = fl + 8 end
  local off = sent - hrec_start(k)
  local tail = struct.pack('>I4', off % 4294967296)
  if off >= 4294967296 then tail = string.char(math.floor(off / 4294967296)) .. tail end
  return string.char(fl) .. struct.pack('>I4I3', call, d) .. tail
end
local function hrec_put(k, f, code, sent, req, uuid, packed)
  if packed then code = string.upper(code) end
  redis.call('HSET', k, f, code .. struct.pack('>I6I5', sent, math.max(sent - req, 0)) .. uuid)
end
local function hcall_field(call)
  return F_HC_GROUP .. math.floor((call - 1) / N_CALL_GROUP), ((call - 1) % N_CALL_GROUP) * N_CALL_SLOT
end
local function hcall_put(ck, call, code, n, sent, uuid, packed, why, own)
  if packed then code = string.upper(code) end
  local e = code .. struct.pack('>I1I6I1', math.min(n, 255), sent, #uuid) .. uuid
  if own or why ~= '' or #uuid > 16 then
    redis.call('HSET', ck, call, e .. why)
    return
  end
  local gf, off = hcall_field(call)
  local g = redis.call('HGET', ck, gf) or ''
  if #g < off then g = g .. string.rep('\0', off - #g) end
  redis.call('HSET', ck, gf, string.sub(g, 1, off) .. e .. string.rep('\0', 16 - #uuid) .. string.sub(g, off + N_CALL_SLOT + 1))
end
local function hcall_get(ck, call)
  local gf, off = hcall_field(call)
  local v, g = unpack(redis.call('HMGET', ck, call, gf))
  local own = v ~= false and v ~= nil
  if not own then
    if not g or #g < off + N_CALL_SLOT or string.byte(g, off + 1) == 0 then return nil end
    v = string.sub(g, off + 1, off + N_CALL_SLOT)
  end
  if #v < 9 then return nil end
  local c = string.sub(v, 1, 1)
  local n, sent, ul = struct.unpack('>I1I6I1', v, 2)
  local lc = string.lower(c)
  local why = ''
  if own then why = string.sub(v, 10 + ul) end
  return lc, n, sent, string.sub(v, 10, 9 + ul), lc ~= c, why, own
end
`)
	b.WriteString("local function now_ms() local t = redis.call('TIME'); return t[1] * 1000 + math.floor(t[2] / 1000) end\n")
	// hkey_url(k) is the canonical key of the history key k (Keys.History), of any account: what
	// follows the hash tag's "}" and N_HKEY_TAIL-1 more bytes. An account's name has no "}".
	b.WriteString("local function hkey_url(k) local e = string.find(k, '}', 1, true); return string.sub(k, e + N_HKEY_TAIL) end\n")
	// req_move(k, from, to, resent, n): n URLs of request k move from state from ('' for none) to
	// state to, at most as many as from holds; resent also counts them as resent. It returns true
	// when the request became done by this move (once ever). A missing request is left alone.
	b.WriteString(`local function req_move(k, from, to, resent, n)
  if redis.call('EXISTS', k) == 0 then return false end
  if from ~= '' then
    n = math.min(n, tonumber(redis.call('HGET', k, from) or '0'))
    if n <= 0 then return false end
    redis.call('HINCRBY', k, from, -n)
  end
  redis.call('HINCRBY', k, to, n)
  if resent then redis.call('HINCRBY', k, S_REQ_RESENT, n) end
  local w, s, cf, d, o = unpack(redis.call('HMGET', k, S_REQ_WAITING, S_REQ_SENT, F_REQ_CONFIRM, F_REQ_DONE, F_REQ_OPEN))
  local open = tonumber(w or '0')
  if cf == '1' then open = open + tonumber(s or '0') end
  if open <= 0 and not d and not o then
    redis.call('HSET', k, F_REQ_DONE, now_ms())
    return true
  end
  return false
end
`)
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
	// outbox_add(ko, k, events, c, id, url): appends event c of request id (its hash k) to the
	// outbox ko when events says it has a receiver: N_EVENTS_ALL any request that exists,
	// N_EVENTS_CALLBACK one with a callback URL. It returns the old events the cap dropped.
	b.WriteString(`local function outbox_add(ko, k, events, c, id, url)
  if events == N_EVENTS_ALL then
    if redis.call('EXISTS', k) == 0 then return 0 end
  elseif events == N_EVENTS_CALLBACK then
    local cb = redis.call('HGET', k, F_REQ_CB)
    if not cb or cb == '' then return 0 end
  else
    return 0
  end
  local n = redis.call('RPUSH', ko, c .. '|' .. id .. '|' .. (url or ''))
  if n <= N_OUTBOX_MAX then return 0 end
  redis.call('LTRIM', ko, n - N_OUTBOX_MAX, -1)
  return n - N_OUTBOX_MAX
end
`)
	return b.String()
}()

// Keys of the request record (requests.go): one small hash per request a producer made, the
// index of recent requests, and the idempotency keys. They expire with the history TTL.
const (
	keyRequest     = Prefix + "rq:"      // HASH per request ID: FieldReq* and one count per RequestState
	keyRequestIdem = Prefix + "rq:idem:" // STRING per idempotency key: the request ID it made
	KeyRequests    = Prefix + "rq:at"    // ZSET request ID, score = when it was made (ms): the recent ones
	// KeyRequestLinks links a URL waiting or sent to the open requests it counts for. A field is a
	// canonical key; its value is up to RequestsPerURL words "<request ID>:<code>", the code
	// linkWaiting or linkSent. A word goes when its URL reaches an end state for the request.
	// Bulk requests are not linked here: their tasks carry their request ID (tasks.URLs.Requests).
	KeyRequestLinks = Prefix + "rq:url"
)

// Codes of a word of KeyRequestLinks: the URL's state for that request.
const (
	linkWaiting = "w"
	linkSent    = "s"
)

// RequestKey is the key of request id's hash (default account).
func RequestKey(id string) string { return defaultKeys.Request(id) }

// RequestIdemKey is the key that maps the idempotency key k to its request ID (default account).
func RequestIdemKey(k string) string { return defaultKeys.RequestIdem(k) }

// Fields of a request's hash (RequestKey), besides the counts.
const (
	FieldReqTotal    = "n"    // URLs in the request, after dedupe within it
	FieldReqAt       = "at"   // when it was made (ms)
	FieldReqConfirm  = "cf"   // "1": done means confirmed; "0": done means sent
	FieldReqCallback = "cb"   // the request's own webhook URL, if any
	FieldReqSample   = "smp"  // up to RequestSampleSize canonical keys, newline-separated
	FieldReqDone     = "done" // when it became done (ms); set once
	FieldReqOpen     = "open" // "1" while a bulk run still adds URLs: not done before it ends
	FieldReqAccount  = "acct" // the account that made it; absent for the account default
)

// RequestState is a count of a request's hash: how many of its URLs are in that state.
type RequestState string

// A request's URL states. Waiting, Sent, Confirmed, Dead and Flushed partition the URLs;
// Resent counts how many times Cloudimage failed one and it went back to Waiting.
const (
	ReqWaiting   RequestState = "waiting"   // not sent yet (pending, or in a request task)
	ReqSent      RequestState = "sent"      // accepted by the API, not confirmed yet
	ReqConfirmed RequestState = "confirmed" // Cloudimage said DONE (or it was sent, when nothing is confirmed)
	ReqDead      RequestState = "dead"      // dead-lettered: finally failed
	ReqFlushed   RequestState = "flushed"   // covered by a flush-all sent after it
	ReqResent    RequestState = "resent"    // failed and sent again (a running count, not a state)
)

// Bounds of the request record: a request keeps at most RequestSampleSize of its URLs (the
// first ones), the index keeps the RequestsKept newest requests, and one pending URL counts for
// at most RequestsPerURL requests at once (later ones are told it counts for none: see AddRequests).
const (
	RequestSampleSize = 20
	RequestsKept      = 1000
	RequestsPerURL    = 8
)

// Keys of the webhook outbox (outbox.go). The scripts that move requests append each event of a
// request there, in the same script as the move: the move and its event are one write. Workers
// with a webhook secret take the events and enqueue their delivery tasks.
const (
	// KeyOutbox lists the events not taken yet, oldest first. An event is
	// "<OutboxDone or OutboxDead>|<request ID>|<canonical key, for OutboxDead>". At most OutboxMax.
	KeyOutbox = Prefix + "wh:out"
	// KeyOutboxTaken holds the events a worker took, until their task is enqueued: member the
	// event, score when it was taken (ms). One taken longer than the lease is taken again.
	KeyOutboxTaken = Prefix + "wh:taken"
	// KeyOutboxEvents is the Events of the workers with a secret, as a number, with a TTL that
	// they refresh. A producer whose request ends done reads it: it cannot know the workers' default URL.
	KeyOutboxEvents = Prefix + "wh:events"
)

// Codes of an outbox event: the webhook event it becomes.
const (
	OutboxDone = "d" // request.done
	OutboxDead = "x" // request.url_dead
)

// OutboxMax bounds KeyOutbox: an append beyond it drops the oldest event, and the move says so
// (Moved.Dropped). An event takes 25 bytes, plus its URL for a dead one: 100,000 are 3 to 30 MB.
const OutboxMax = 100000

// Events says which requests' events a move appends to KeyOutbox.
type Events int

// The events a move appends. The zero value appends none.
const (
	EventsNone     Events = 0 // none: this worker signs no event (no webhook secret)
	EventsCallback Events = 1 // those of requests with a callback URL
	EventsAll      Events = 2 // those of every request: a default receiver takes the others
)
