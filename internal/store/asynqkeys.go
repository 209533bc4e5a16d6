package store

import "time"

// asynq's own Redis layout, as far as the product reads it (asynq v0.26: internal/base for the
// keys, internal/rdb for the archive's limits): the one place in package store that spells it.
// The dead-letter reconciliation (deadlettersweep.go) needs what asynq's Inspector does not give
// cheaply: the archive's scores and a task's state, for thousands of tasks at once.
//
// The worker and the status reader still spell a few of these keys themselves (pending, active,
// scheduled, retry, paused); they are being gathered into one owner separately, and this file is
// meant to fold into it.

// AsynqKey is asynq's key name of queue q: "asynq:{q}:" + name (base.QueueKeyPrefix), where name is
// one of asynq's: "archived" (ZSET task ID, score = when archived, Unix seconds of the archiving
// process's clock), "pending" and "active" (LISTs of task IDs), "lease" (ZSET task ID, score = when
// the lease of an active task expires, Unix seconds), or AsynqTaskName(id).
func AsynqKey(q, name string) string { return "asynq:{" + q + "}:" + name }

// AsynqTaskName is the name, for AsynqKey, of task id's hash (base.TaskKey): its message ("msg")
// and its state (AsynqStateField).
func AsynqTaskName(id string) string { return "t:" + id }

// AsynqStateField is the field of a task's hash that holds its state: pending, active, scheduled,
// retry, archived, completed or aggregating (base.TaskState's strings).
const AsynqStateField = "state"

// States of a task that matter to the reconciliation.
const (
	asynqStateArchived  = "archived"
	asynqStateCompleted = "completed"
)

// asynq trims a queue's archive each time it archives a task (rdb.maxArchiveSize and
// archivedExpirationInDays): it drops the entries archived more than AsynqArchiveAge ago, and the
// oldest until AsynqArchiveKept remain.
const (
	AsynqArchiveKept = 10000 - 1
	AsynqArchiveAge  = 90 * 24 * time.Hour
)
