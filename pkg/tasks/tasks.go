// Package tasks is the wire contract between producers and workers: task type names, queue names,
// the JSON payloads an operator reads in asynqmon, the task-ID rules, and the Producer that
// application code uses to request invalidations.
//
// # The flow of one URL
//
// A producer normalises the URL to its canonical key (package normalize) and adds the key to a
// Redis sorted set of pending requests, scored by the Redis time of the request. A key that is
// already pending is not added again: the send that is coming covers this request too. The worker's
// batcher turns keys that have waited a full coalescing window into request tasks of at most 15 URLs
// (TypeURLs) on QueueInteractive. Each request task is one API call, with its own retries and its own
// entry in the dead-letter queue (asynq's archive).
//
// Mass re-ingest (Producer.EnqueueBulk, `enqueue --bulk`) skips the pending set: the producer
// normalises and dedupes locally and enqueues ready-made bulk tasks on QueueBulk, which workers
// serve only when the interactive queues are empty. A bulk task carries the URLs of up to
// BulkRequests API requests, which the worker sends one after the other; a request that fails or
// must wait becomes a request task of its own, so the dead-letter queue still holds one request's
// URLs per entry.
//
// Flush-all (TypeAll) is its own task on its own queue, enqueued only by RequestFlushAll with a
// confirmation that the worker checks again before it sends anything.
//
// No payload carries the API key.
package tasks

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cipurge/cipurge/pkg/apiclient"
)

// Task type names.
const (
	TypeURLs    = "purge:urls"    // one API request: 1 to 15 canonical URLs, scope "original"
	TypeAll     = "purge:all"     // one flush-all request: scope "all"
	TypeConfirm = "purge:confirm" // follow an accepted request until Cloudimage says DONE or ERROR
)

// Queue names. Workers serve them in strict priority, highest first.
const (
	QueueAll         = "flush-all" // confirmed flush-all requests
	QueueInteractive = "purge"     // interactive invalidations
	QueueConfirm     = "confirm"   // status checks of accepted requests
	QueueBulk        = "bulk"      // mass re-ingest: served only when the others are empty
)

// Queues returns the queues a worker serves and their priorities (used with StrictPriority).
func Queues() map[string]int {
	return map[string]int{QueueAll: 8, QueueInteractive: 6, QueueConfirm: 3, QueueBulk: 1}
}

// QueueNames lists the queues, highest priority first.
func QueueNames() []string { return []string{QueueAll, QueueInteractive, QueueConfirm, QueueBulk} }

// MaxURLsPerTask is the API's cap on URLs in one "original" request (owned by the API client).
const MaxURLsPerTask = apiclient.MaxURLsPerRequest

// BulkRequests is how many API requests' worth of URLs one bulk task carries (150 URLs at the
// default batch size, about 10 KB of payload). Ten cuts the Redis work of a mass re-ingest (one
// asynq enqueue, dequeue and completion per task) tenfold, while a task still finishes in a few
// API calls' time and a worker's shutdown or crash repeats at most that many admissions.
const BulkRequests = 10

// Origins of a URL request task, as shown in its payload.
const (
	OriginInteractive = "interactive" // formed by the batcher from the pending set
	OriginBulk        = "bulk"        // enqueued ready-made by a bulk producer
	OriginSplit       = "split"       // half of a request the API rejected with 400, to isolate the bad URL
	OriginResend      = "resend"      // URLs Cloudimage reported as failed, sent again
)

// ErrBadPayload marks a payload that cannot be decoded or is invalid. Workers archive such a task
// at once (asynq.SkipRetry) with this reason instead of retrying it.
var ErrBadPayload = errors.New("bad task payload")

// Attempt is an earlier invalidation of the same URLs that Cloudimage accepted but reported as
// failed (status ERROR, or the URL listed under failed).
type Attempt struct {
	UUID   string `json:"uuid"`
	Status string `json:"status"`
}

// URLs is the payload of TypeURLs: one API request.
type URLs struct {
	// URLs are canonical keys, exactly as they will be sent (1 to 15; a bulk task carries up to
	// BulkRequests times as many, sent in requests of at most 15).
	URLs []string `json:"urls"`
	// RequestedAt is the latest request these URLs cover (Redis clock). A URL invalidated after it
	// (by another request or a flush-all) is dropped at send time: it is already satisfied.
	RequestedAt time.Time `json:"requested_at"`
	// Origin says where the task came from (interactive, bulk, split, resend).
	Origin string `json:"origin"`
	// Sources are the free-text sources/reasons given by the producers, if any.
	Sources []string `json:"sources,omitempty"`
	// Previous lists earlier invalidations of these URLs that Cloudimage failed.
	Previous []Attempt `json:"previous,omitempty"`
}

// All is the payload of TypeAll: one flush-all request.
type All struct {
	// Confirm must equal the worker's CLOUDIMAGE_TOKEN; the worker checks it again before sending.
	Confirm     string    `json:"confirm"`
	RequestedAt time.Time `json:"requested_at"`
	RequestedBy string    `json:"requested_by,omitempty"`
	Reason      string    `json:"reason,omitempty"`
}

// Confirm is the payload of TypeConfirm: follow one accepted request until it is final.
type Confirm struct {
	UUID        string    `json:"uuid"`
	URLs        []string  `json:"urls"`
	RequestedAt time.Time `json:"requested_at"`
	SentAt      time.Time `json:"sent_at"`
	Origin      string    `json:"origin"`
	Previous    []Attempt `json:"previous,omitempty"`
}

// NewURLsTask returns the request task for p on queue, with a task ID derived from its content so
// that a batch formed twice (after a crash between enqueue and bookkeeping) is enqueued once.
// maxRetry is PURGE_MAX_RETRY: the task may fail maxRetry+1 times in all. asynq's own limit is set
// one higher, so that a task snoozed by the rate limit on its last attempt is not archived by
// asynq; the worker archives it itself when the failures are used up.
func NewURLsTask(p URLs, queue string, maxRetry int) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeURLs, err)
	}
	return asynq.NewTask(TypeURLs, b, asynq.TaskID(URLsTaskID(p)), asynq.Queue(queue),
		asynq.MaxRetry(maxRetry+1), asynq.Timeout(5*time.Minute)), nil
}

// URLsTaskID is the task ID rule for request tasks: "urls_" and a hash of the origin, the request
// time and the URLs, each length-prefixed so that no two different requests share an ID. IDs use
// no '-' (asynqmon shortens IDs at the first one) and no '{' or '}' (Redis Cluster hash tags).
func URLsTaskID(p URLs) string {
	// One buffer, hashed at once: two allocations instead of two per URL (it runs for every
	// request task the batcher forms and every bulk task a producer enqueues).
	n := 2*binary.MaxVarintLen64 + len(p.Origin) + 20
	for _, u := range p.URLs {
		n += binary.MaxVarintLen64 + len(u)
	}
	buf := make([]byte, 0, n)
	buf = appendField(buf, p.Origin)
	var ms [20]byte
	buf = appendField(buf, string(strconv.AppendInt(ms[:0], p.RequestedAt.UnixMilli(), 10)))
	for _, u := range p.URLs {
		buf = appendField(buf, u)
	}
	sum := sha256.Sum256(buf)
	var id [len("urls_") + 32]byte
	copy(id[:], "urls_")
	hex.Encode(id[len("urls_"):], sum[:16])
	return string(id[:])
}

// appendField appends s with its length in front (so that no two payloads hash the same bytes).
func appendField(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// DecodeURLs decodes and validates a TypeURLs payload. Errors wrap ErrBadPayload.
func DecodeURLs(b []byte) (URLs, error) {
	var p URLs
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: %s: %v", ErrBadPayload, TypeURLs, err)
	}
	return p, p.validate()
}

func (p URLs) validate() error {
	if len(p.URLs) == 0 {
		return fmt.Errorf("%w: %s: no urls", ErrBadPayload, TypeURLs)
	}
	for i, u := range p.URLs {
		if u == "" {
			return fmt.Errorf("%w: %s: urls[%d] is empty", ErrBadPayload, TypeURLs, i)
		}
	}
	if p.RequestedAt.IsZero() {
		return fmt.Errorf("%w: %s: requested_at is missing", ErrBadPayload, TypeURLs)
	}
	return nil
}

// TaskIDAll is the task ID of a flush-all request. Only one can exist at a time: a second request
// while one is pending, retrying or dead-lettered conflicts with it.
const TaskIDAll = "flush_all"

// FlushAllMaxRetry is asynq's retry limit of a flush-all task: the most PURGE_MAX_RETRY allows, so
// that the sending worker's own PURGE_MAX_RETRY decides when a flush-all that the API refused
// stops being retried.
const FlushAllMaxRetry = 100

// NewAllTask returns the flush-all task for p.
func NewAllTask(p All, maxRetry int) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeAll, err)
	}
	return asynq.NewTask(TypeAll, b, asynq.TaskID(TaskIDAll), asynq.Queue(QueueAll), asynq.MaxRetry(maxRetry+1), asynq.Timeout(5*time.Minute)), nil
}

// DecodeAll decodes and validates a TypeAll payload. Errors wrap ErrBadPayload.
func DecodeAll(b []byte) (All, error) {
	var p All
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: %s: %v", ErrBadPayload, TypeAll, err)
	}
	return p, p.validate()
}

func (p All) validate() error {
	if p.Confirm == "" {
		return fmt.Errorf("%w: %s: confirm is missing", ErrBadPayload, TypeAll)
	}
	if p.RequestedAt.IsZero() {
		return fmt.Errorf("%w: %s: requested_at is missing", ErrBadPayload, TypeAll)
	}
	return nil
}

// NewConfirmTask returns the status-check task for p, first due after delay.
func NewConfirmTask(p Confirm, delay time.Duration) (*asynq.Task, error) {
	if p.UUID == "" {
		return nil, fmt.Errorf("%w: %s: uuid is missing", ErrBadPayload, TypeConfirm)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeConfirm, err)
	}
	return asynq.NewTask(TypeConfirm, b, asynq.TaskID("confirm_"+strings.ReplaceAll(p.UUID, "-", "")), asynq.Queue(QueueConfirm),
		asynq.ProcessIn(delay), asynq.MaxRetry(10), asynq.Timeout(2*time.Minute)), nil
}

// DecodeConfirm decodes and validates a TypeConfirm payload. Errors wrap ErrBadPayload.
func DecodeConfirm(b []byte) (Confirm, error) {
	var p Confirm
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: %s: %v", ErrBadPayload, TypeConfirm, err)
	}
	if p.UUID == "" {
		return p, fmt.Errorf("%w: %s: uuid is missing", ErrBadPayload, TypeConfirm)
	}
	return p, nil
}

// Split cuts keys into request-sized chunks of at most size URLs (size is clamped to 1..15).
func Split(keys []string, size int) [][]string {
	size = min(max(size, 1), MaxURLsPerTask)
	out := make([][]string, 0, (len(keys)+size-1)/size)
	for len(keys) > 0 {
		n := min(size, len(keys))
		out = append(out, keys[:n:n])
		keys = keys[n:]
	}
	return out
}
