// Package tasks is the wire contract between producers and workers.
//
// It owns the task type names, the queue names, the task-ID rules and the JSON payloads. An
// operator reads those payloads in asynqmon. The package imports no Redis client. Package taskq
// makes asynq tasks of these payloads. Application code requests invalidations through package
// cipurge, the module's root.
//
// A request task (TypeURLs) is one API call of 1 to 15 canonical URLs. It may hold several calls
// when the API's latency calls for more calls in flight than the worker has task slots. A bulk
// task carries the URLs of up to BulkRequests such calls. The worker sends a task's calls
// concurrently. Flush-all (TypeAll) is its own task on its own queue. A status check
// (TypeConfirm) follows one accepted invalidation until Cloudimage says DONE or ERROR.
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
// They are the default account's: QueuesOf gives another's.
func Queues() map[string]int { return QueuesOf(DefaultAccount).Priorities() }

// QueueNames lists the queues, highest priority first (the default account's).
func QueueNames() []string { return []string{QueueAll, QueueInteractive, QueueConfirm, QueueBulk} }

// MaxURLsPerTask is the Cloudimage API's cap on URLs in one "original" request.
// A task never carries more. This is the one place the cap is written.
const MaxURLsPerTask = 15

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
	// Requests are the request IDs every URL of the task counts for (a bulk run's). URLs of the
	// pending set are linked to their requests in Redis instead.
	Requests []string `json:"requests,omitempty"`
}

// All is the payload of TypeAll: one flush-all request.
type All struct {
	// Confirm must equal the worker's Cloudimage token. The worker checks it again before sending.
	Confirm     string    `json:"confirm"`
	RequestedAt time.Time `json:"requested_at"`
	RequestedBy string    `json:"requested_by,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	// Prefix is a root prefix (a whole host, alias or token, ending with /*) sent in scope
	// original in place of scope all; "" for a flush-all. It is confirmed and sent once as a
	// flush-all is, and counts against the same cooldown.
	Prefix string `json:"prefix,omitempty"`
}

// Confirm is the payload of TypeConfirm: follow one accepted request until it is final.
type Confirm struct {
	UUID        string    `json:"uuid"`
	URLs        []string  `json:"urls"`
	RequestedAt time.Time `json:"requested_at"`
	SentAt      time.Time `json:"sent_at"`
	Origin      string    `json:"origin"`
	Previous    []Attempt `json:"previous,omitempty"`
	Requests    []string  `json:"requests,omitempty"` // as in URLs
}

// EncodeURLs validates p and returns its JSON (package taskq makes the asynq task of it).
func EncodeURLs(p URLs) ([]byte, error) { return encode(TypeURLs, p, p.validate()) }

// encode returns p's JSON when it is valid (invalid is validate's error).
func encode(typ string, p any, invalid error) ([]byte, error) {
	if invalid != nil {
		return nil, invalid
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return b, nil
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

// decode unmarshals b, a payload of type typ, and validates it. Errors wrap ErrBadPayload.
func decode[P interface{ validate() error }](typ string, b []byte) (P, error) {
	var p P
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: %s: %v", ErrBadPayload, typ, err)
	}
	return p, p.validate()
}

// DecodeURLs decodes and validates a TypeURLs payload. Errors wrap ErrBadPayload.
func DecodeURLs(b []byte) (URLs, error) { return decode[URLs](TypeURLs, b) }

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

// EncodeAll validates p and returns its JSON.
func EncodeAll(p All) ([]byte, error) { return encode(TypeAll, p, p.validate()) }

// DecodeAll decodes and validates a TypeAll payload. Errors wrap ErrBadPayload.
func DecodeAll(b []byte) (All, error) { return decode[All](TypeAll, b) }

func (p All) validate() error {
	if p.Confirm == "" {
		return fmt.Errorf("%w: %s: confirm is missing", ErrBadPayload, TypeAll)
	}
	if p.RequestedAt.IsZero() {
		return fmt.Errorf("%w: %s: requested_at is missing", ErrBadPayload, TypeAll)
	}
	return nil
}

// ConfirmTaskID is the task ID of the status check of the invalidation uuid: one per invalidation.
func ConfirmTaskID(uuid string) string { return "confirm_" + strings.ReplaceAll(uuid, "-", "") }

// EncodeConfirm validates p and returns its JSON.
func EncodeConfirm(p Confirm) ([]byte, error) { return encode(TypeConfirm, p, p.validate()) }

func (p Confirm) validate() error {
	if p.UUID == "" {
		return fmt.Errorf("%w: %s: uuid is missing", ErrBadPayload, TypeConfirm)
	}
	return nil
}

// DecodeConfirm decodes and validates a TypeConfirm payload. Errors wrap ErrBadPayload.
func DecodeConfirm(b []byte) (Confirm, error) { return decode[Confirm](TypeConfirm, b) }

// URLsOf returns the URLs a task of type typ names (a request or a status check), or nil when it
// names none or its payload does not decode.
func URLsOf(typ string, payload []byte) []string {
	switch typ {
	case TypeURLs:
		if p, err := DecodeURLs(payload); err == nil {
			return p.URLs
		}
	case TypeConfirm:
		if p, err := DecodeConfirm(payload); err == nil {
			return p.URLs
		}
	}
	return nil
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
