// Package cipurge is the Go client of the purge worker: application code requests Cloudimage
// invalidations with a Producer, which writes them to Redis for the workers (cmd/worker) to send.
// It is to cipurge what asynq's root package is to asynq: what a producer imports, and nothing of
// the worker's.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	norm, _ := normalize.New(normalize.Config{Token: "demo"})
//	p := cipurge.NewProducer(rdb, norm)
//	report, err := p.EnqueueURLsFrom(ctx, "cms: image 42 replaced", "https://img.example.com/a.jpg")
//
// # The flow of one URL
//
// EnqueueURLs normalises the URL to its canonical key (package normalize) and adds the key to a
// Redis sorted set of pending requests, scored by the Redis time of the request (package store).
// A key that is already pending is not added again: the send that is coming covers this request
// too. The worker's batcher turns keys that have waited a full coalescing window into request
// tasks of at most 15 URLs (package tasks, the wire contract; package taskq, its asynq tasks) on
// the interactive queue. Each request task is one API call, with its own retries and its own entry
// in the dead-letter queue (asynq's archive).
//
// Mass re-ingest (EnqueueBulk, `enqueue --bulk`) skips the pending set: the producer normalises and
// dedupes locally (Ingest) and enqueues ready-made bulk tasks on the bulk queue, which workers
// serve only when the interactive queues are empty.
//
// Flush-all is its own task on its own queue, enqueued only by RequestFlushAll with a confirmation
// that the worker checks again before it sends anything (package flushall owns the rule).
//
// No payload carries the API key.
package cipurge
