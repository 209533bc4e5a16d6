// Package cipurge is the Go API of the purge worker.
//
// Application code requests Cloudimage invalidations with a Client. It looks URLs up with an
// Inspector. The Client writes requests to Redis, and the workers (cmd/worker) send them. It is
// to cipurge what asynq's root package is to asynq. It holds what an application imports and
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
// Enqueue normalises the URL to its canonical key with package normalize. It adds the key to a
// Redis sorted set of pending requests. The score is the Redis time of the request. A key that
// is already pending is not added again. The coming send covers this request too.
//
// The worker's batcher takes keys that have waited a full coalescing window. It turns them into
// request tasks. A request task holds at most 15 URLs. It is one API call, with its own retries.
// A task that runs out of retries is a dead letter in asynq's archive.
//
// EnqueueBulk and EnqueueBulkFrom are for mass re-ingest. They skip the pending set. The client
// normalises and dedupes locally, then enqueues bulk tasks. Workers serve the bulk queue only
// when the interactive queues are empty.
//
// Flush-all is its own task on its own queue. Only RequestFlushAll enqueues one. It carries a
// confirmation. The worker checks it again before it sends anything.
//
// No payload carries the API key.
//
// # Several accounts
//
// A deployment may serve several Cloudimage accounts, declared in one accounts file
// (docs/accounts.md). A Client built WithAccounts(LoadAccounts(path)) routes each URL to its
// account's keys and queues: by its CDN host or token, or by the account that lists its origin.
// A URL of no account, or of two, is rejected with the candidates; the others are queued.
// WithAccount names the account of a whole request. A request whose URLs span accounts has one
// ID and a part in each account; an Inspector built with InspectAccounts adds the parts up.
//
// # Errors
//
// Every error is one of this package's types or sentinels:
//   - *OptionError
//   - *EvictionError
//   - *PolicyUnknownError
//   - *ReplicaError
//   - *RedisError
//   - *InvalidURLError
//   - *ReadError
//   - *FlushRefusedError, with its ErrFlushAll* causes
//
// Match them with errors.Is and errors.As.
//
// Producer is the previous release's API. It still works for one release. It is deprecated.
package cipurge
