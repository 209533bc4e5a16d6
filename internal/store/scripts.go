package store

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

// The scripts live in lua/*.lua, each with a header that says its KEYS, ARGV and reply. Each runs
// with the part of luaPreamble it uses in front (the schema's constants: trimPreamble), so a
// script never spells a key, a field, a state or a code by hand.
//
//go:embed lua/*.lua
var luaFiles embed.FS

// script loads lua/name.lua. A missing file is a build mistake, caught by every test of the package.
func script(name string) *redis.Script {
	body, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("store: " + err.Error())
	}
	sc := redis.NewScript(trimPreamble(luaPreamble, string(body)) + string(body))
	scriptNames[sc.Hash()] = name
	return sc
}

var (
	addPendingScript     = script("add_pending")
	dueScript            = script("due")
	removePendingScript  = script("remove_pending")
	markScript           = script("mark")
	markCallScript       = script("mark_call")
	requeuedScript       = script("requeued")
	publishWorkerScript  = script("publish_worker")
	allSentScript        = script("all_sent")
	allBeginScript       = script("all_begin")
	allEndScript         = script("all_end")
	leaseScript          = script("lease")
	releaseScript        = script("release")
	admitScript          = script("admit")
	sentScript           = script("sent")
	pauseScript          = script("pause")
	backoffScript        = script("backoff")
	dlqSwapScript        = script("dlq_swap")
	dlqTrimScript        = script("dlq_trim")
	migrateHistoryScript = script("migrate_history")
	requestNewScript     = script("request_new")
	requestMoveScript    = script("request_move")
	prefixSentScript     = script("prefix_sent")
	prefixWaitingScript  = script("prefix_waiting")
	linkMoveScript       = script("link_move")
	requestGrowScript    = script("request_grow")
	startScript          = script("start")
	outboxTakeScript     = script("outbox_take")
)
