// Package cipurge is the Go API of the purge worker: application code requests Cloudimage
// invalidations with a Client and looks URLs up with an Inspector.
// The Client writes requests to Redis, and the workers (cmd/worker) send them.
// It is to cipurge what asynq's root package is to asynq: what an application imports, and
// nothing of the worker's.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	norm, err := normalize.New(normalize.Config{Token: "demo"})
//	...
//	client, err := cipurge.NewClient(rdb, norm)
//	...
//	report, err := client.Enqueue(ctx, []string{"https://img.example.com/a.jpg"},
//		cipurge.WithSource("cms: image 42 replaced"))
//
// # The flow of one URL
//
// Enqueue normalises the URL to its canonical key (package normalize).
// It adds the key to a Redis sorted set of pending requests, scored by the Redis time of the request.
// A key that is already pending is not added again: the send that is coming covers this request too.
// The worker's batcher turns keys that have waited a full coalescing window into request tasks.
// A request task holds at most 15 URLs and is one API call, with its own retries.
// A task that runs out of retries is a dead letter in asynq's archive.
//
// EnqueueBulk and EnqueueBulkFrom are for mass re-ingest.
// They skip the pending set: the client normalises and dedupes locally and enqueues bulk tasks.
// Workers serve the bulk queue only when the interactive queues are empty.
//
// Flush-all is its own task on its own queue.
// Only RequestFlushAll enqueues one, with a confirmation that the worker checks again before it
// sends anything.
//
// No payload carries the API key.
//
// # Errors
//
// Every error is one of this package's types or sentinels: *OptionError, *EvictionError,
// *PolicyUnknownError, *RedisError, *InvalidURLError, *ReadError, and *FlushRefusedError with its
// ErrFlushAll* causes.
// Match them with errors.Is and errors.As.
//
// Producer, the previous release's API, still works for one release and is deprecated.
package cipurge
