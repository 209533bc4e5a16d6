package store

import (
	"strconv"
	"strings"

	"github.com/cipurge/cipurge/pkg/tasks"
)

// Keys are the keys of one account's state.
// KeysFor builds them from the constants of schema.go: only the prefix changes.
// The account tasks.DefaultAccount has Prefix, so its keys are the constants themselves.
// Another account's prefix carries the hash tag {cipurge:NAME}.
// So every key of one account is in one Cluster slot, and each account's scripts run on one node.
//
// Three keys stay shared by the deployment: KeyWorkers (the workers' heartbeats),
// KeyWriteProbe (the proof that Redis takes writes) and the sandbox's records (SandboxKey).
// asynq's own keys are per queue, named by internal/taskq.
type Keys struct {
	Account string // the account's name
	Prefix  string // starts every key of the account

	Pending, Sources, Queued               string
	Rate, RateStatus, RatePrefix           string
	Pause, PauseRuns, PauseLog, Hot, Probe string
	All, Batcher, Stats                    string
	DeadLetters, DeadIndex, DeadMarks      string
	DeadTrim, DeadSweep                    string
	HistoryLayout                          string
	PrefixSent, PrefixWaiting, HotPrefix   string
	Starts, StartsPrefix, Checks           string
	Requests, RequestLinks                 string
	Outbox, OutboxTaken, OutboxEvents      string

	history, historyHour, historyEpoch string
	historyCalls                       string
	sentSecs, callsSecs, deadLettered  string
	request, requestIdem               string
}

// defaultKeys are the keys of tasks.DefaultAccount.
var defaultKeys = KeysFor(tasks.DefaultAccount)

// AccountPrefix returns the prefix of account's keys.
// The default account's is Prefix.
func AccountPrefix(account string) string {
	if account == "" || account == tasks.DefaultAccount {
		return Prefix
	}
	return prefixHead + ":" + account + "}:"
}

// KeysFor returns the keys of account ("" is tasks.DefaultAccount).
// The caller checks the name (tasks.CheckAccountName).
func KeysFor(account string) Keys {
	if account == "" {
		account = tasks.DefaultAccount
	}
	p := AccountPrefix(account)
	at := func(c string) string { return p + strings.TrimPrefix(c, Prefix) }
	return Keys{
		Account: account, Prefix: p,
		Pending: at(KeyPending), Sources: at(KeySources), Queued: at(KeyQueued),
		Rate: at(KeyRate), RateStatus: at(KeyRateStatus), RatePrefix: at(KeyRatePrefix),
		Pause: at(KeyPause), PauseRuns: at(KeyPauseRuns), PauseLog: at(KeyPauseLog), Hot: at(KeyHot), Probe: at(KeyProbe),
		All: at(KeyAll), Batcher: at(KeyBatcher), Stats: at(KeyStats),
		DeadLetters: at(KeyDeadLetters), DeadIndex: at(KeyDeadIndex), DeadMarks: at(KeyDeadMarks),
		DeadTrim: at(KeyDeadTrim), DeadSweep: at(KeyDeadSweep),
		HistoryLayout: at(KeyHistoryLayout),
		PrefixSent:    at(KeyPrefixSent), PrefixWaiting: at(KeyPrefixWaiting), HotPrefix: at(KeyHotPrefix),
		Starts: at(KeyStarts), StartsPrefix: at(KeyStartsPrefix), Checks: at(KeyChecks),
		Requests: at(KeyRequests), RequestLinks: at(KeyRequestLinks),
		Outbox: at(KeyOutbox), OutboxTaken: at(KeyOutboxTaken), OutboxEvents: at(KeyOutboxEvents),
		history: at(keyHistory), historyHour: at(keyHistoryHour), historyEpoch: at(keyHistoryEpoch), historyCalls: at(keyHistoryCalls),
		sentSecs: at(keySentSecs), callsSecs: at(keyCallsSecs), deadLettered: at(keyDeadLettered),
		request: at(keyRequest), requestIdem: at(keyRequestIdem),
	}
}

// History is the key of one canonical URL's history hash.
func (k Keys) History(key string) string { return k.history + key }

// HistoryEpoch is the key of the history hash of shard for sends in the epoch (of length epoch
// ms) that contains ms. The key names the epoch's length and start in hours.
func (k Keys) HistoryEpoch(ms, epoch int64, shard uint64) string {
	start := ms - ms%epoch
	return k.historyEpoch + strconv.FormatInt(epoch/historyHour, 10) + ":" + strconv.FormatInt(start/historyHour, 10) +
		":" + strconv.FormatUint(shard, 10)
}

// HistoryBucket is the key of the hourly history hash (000c5df and before) of shard for sends
// in the hour that contains ms.
func (k Keys) HistoryBucket(ms int64, shard uint64) string {
	start := ms - ms%legacyHistoryBucket.Milliseconds()
	return k.historyHour + strconv.FormatInt(start/1000, 10) + ":" + strconv.FormatUint(shard, 10)
}

// SentSecond and CallsSecond are the per-second counters of URLs sent and API calls made in
// the Unix second sec (kept rateWindowS seconds).
func (k Keys) SentSecond(sec int64) string  { return k.sentSecs + strconv.FormatInt(sec, 10) }
func (k Keys) CallsSecond(sec int64) string { return k.callsSecs + strconv.FormatInt(sec, 10) }

// DeadLetter marks the request task id as dead-lettered by the worker on purpose.
func (k Keys) DeadLetter(id string) string { return k.deadLettered + id }

// Request is the key of request id's hash.
func (k Keys) Request(id string) string { return k.request + id }

// RequestIdem is the key that maps the idempotency key k to its request ID.
func (k Keys) RequestIdem(key string) string { return k.requestIdem + key }

// HistoryCalls is the key of the call table of the epoch (of length epoch ms) that contains
// ms: the uuid and state of each API call whose URLs have records in that epoch's buckets.
func (k Keys) HistoryCalls(ms, epoch int64) string {
	start := ms - ms%epoch
	return k.historyCalls + strconv.FormatInt(epoch/historyHour, 10) + ":" + strconv.FormatInt(start/historyHour, 10)
}

// isHistory reports whether key is one of k's history keys.
func (k Keys) isHistory(key string) bool {
	return strings.HasPrefix(key, k.historyEpoch) || strings.HasPrefix(key, k.historyCalls) ||
		strings.HasPrefix(key, k.historyHour) || strings.HasPrefix(key, k.history)
}
