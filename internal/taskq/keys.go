package taskq

import "time"

// asynq's Redis key names. This is the one place that spells them.
// The product reads a few of them past asynq's Inspector, with a cheap O(1) LLEN or ZCARD.
// The Inspector's queue info runs a script and samples memory instead.
// status also reads a queue that asynq no longer lists.
//
// The source is base.go in asynq v0.26's internal/base, which asynq does not export.
// TestAsynqKeys pins every name to what asynq really writes.
// Upgrading asynq means checking base.go again.

// AsynqQueues is asynq's set of the queue names it knows (base.AllQueues). asynq's client adds a
// queue to it once per process, on its first task, so after Redis lost its data a running worker's
// queues may be missing from it while their tasks are there.
const AsynqQueues = "asynq:queues"

// queueKeyPrefix is the prefix of every key of queue q (base.QueueKeyPrefix): the braces make
// every key of a queue one Redis Cluster hash slot.
func queueKeyPrefix(q string) string { return "asynq:{" + q + "}:" }

// PendingKey is the list of q's tasks waiting for a worker (base.PendingKey).
func PendingKey(q string) string { return queueKeyPrefix(q) + "pending" }

// ActiveKey is the list of q's tasks being run (base.ActiveKey).
func ActiveKey(q string) string { return queueKeyPrefix(q) + "active" }

// ScheduledKey is the sorted set of q's tasks due later (base.ScheduledKey).
func ScheduledKey(q string) string { return queueKeyPrefix(q) + "scheduled" }

// RetryKey is the sorted set of q's tasks waiting to be retried, snoozed ones included
// (base.RetryKey).
func RetryKey(q string) string { return queueKeyPrefix(q) + "retry" }

// ArchivedKey is the sorted set of q's archived tasks: asynq's dead letters (base.ArchivedKey).
func ArchivedKey(q string) string { return queueKeyPrefix(q) + "archived" }

// CompletedKey is the sorted set of q's completed tasks kept for their retention
// (base.CompletedKey).
func CompletedKey(q string) string { return queueKeyPrefix(q) + "completed" }

// PausedKey exists while q is paused (asynq queue pause, or the asynqmon UI) (base.PausedKey).
func PausedKey(q string) string { return queueKeyPrefix(q) + "paused" }

// ProcessedTotalKey counts q's tasks processed, ever (base.ProcessedTotalKey).
func ProcessedTotalKey(q string) string { return queueKeyPrefix(q) + "processed" }

// FailedTotalKey counts q's failed task runs, ever (base.FailedTotalKey).
func FailedTotalKey(q string) string { return queueKeyPrefix(q) + "failed" }

// TaskKey is the hash of task id of queue q (base.TaskKey).
func TaskKey(q, id string) string { return queueKeyPrefix(q) + "t:" + id }

// TaskPendingSince is the field of a task's hash (TaskKey) that holds when it became pending, in
// Unix nanoseconds (asynq's internal/rdb enqueue scripts): the oldest pending task's is the
// queue's latency.
const TaskPendingSince = "pending_since"

// LeaseKey is the sorted set of q's active tasks, scored by when each one's lease expires (Unix
// seconds; base.LeaseKey). asynq's recoverer retries or archives the tasks whose lease expired.
func LeaseKey(q string) string { return queueKeyPrefix(q) + "lease" }

// TaskStateField is the field of a task's hash (TaskKey) that holds its state, one of the
// TaskState* below or pending, active, scheduled, retry, aggregating (base.TaskState's strings).
const TaskStateField = "state"

// The task states the product reads by name.
const (
	TaskStateArchived  = "archived"
	TaskStateCompleted = "completed"
)

// asynq trims a queue's archive each time it archives a task (internal/rdb's maxArchiveSize and
// archivedExpirationInDays): it drops the entries archived more than ArchiveAge ago, and the
// oldest until ArchiveKept remain.
const (
	ArchiveKept = 10000 - 1
	ArchiveAge  = 90 * 24 * time.Hour
)
