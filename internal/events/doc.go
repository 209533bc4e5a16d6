// Package events receives object storage events and invalidates the changed images.
//
// An object may be created, overwritten, copied or removed in a bucket. Its public URL then goes
// through the same enqueue path as the HTTP intake. That path normalises the URL, dedupes it
// against what is pending, and applies the coalescing window. The source text is
// "event: <sender> <bucket>/<key>".
//
// Two endpoints serve on the worker's HTTP server. EVENTS_TOKEN turns them on. While it is empty,
// Disabled answers 404 with that hint.
//
//	POST /v1/events/s3           S3 event notification messages ({"Records": [...]}, event
//	                             version 2.x): MinIO's webhook target (with its EventName/Key
//	                             envelope), Ceph RGW's HTTP push endpoint, and AWS S3 through an
//	                             SNS HTTPS subscription
//	POST /v1/events/cloudevents  CloudEvents 1.0 in binary, structured or batched mode: Azure Event
//	                             Grid (Microsoft.Storage.BlobCreated/BlobDeleted) and Google Cloud
//	                             Storage through Eventarc (google.cloud.storage.object.v1.finalized
//	                             and .deleted)
//
// The s3 endpoint answers an SNS SubscriptionConfirmation. It verifies every SNS message's
// signature against a certificate fetched from an SNS host. It refuses unsigned and stale
// messages. The cloudevents endpoint answers Event Grid's webhook validation handshake on
// OPTIONS.
//
// # Authentication
//
// The request must carry EVENTS_TOKEN in one of three ways:
//   - as "Authorization: Bearer";
//   - as the basic-auth password, as in the SNS subscription URL https://events:TOKEN@host/...;
//   - as the query parameter token=.
//
// Otherwise the answer is 401, and nothing is enqueued.
//
// A scoped token of the accounts file (Options.Scoped) is taken in the same three places.
// It reaches some accounts only.
// An object of another account makes the whole delivery 403, naming that account.
// Nothing of it is enqueued then.
//
// # Mapping
//
// EVENTS_BUCKETS names each bucket's public base URL. See ParseBuckets. S3 keys are URL-decoded
// as S3 encodes them. A '+' is a space.
//
// # Answers
//
//   - 200 with a Summary, once Redis holds every URL of the delivery.
//   - 400 with the reason, for a body that is not JSON or not a known format.
//   - 403 for an SNS message that does not verify.
//   - 413 for a body over EVENTS_MAX_BYTES.
//   - 503 with Retry-After while Redis cannot be written. The sender then retries.
//
// Some events are acknowledged and counted, but enqueue nothing. They are events that change
// nothing, events for unmapped buckets, and keys that do not normalise. A retry would not fix
// them.
//
// docs/events.md says how to point each sender at the worker.
package events
