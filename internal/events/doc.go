// Package events receives object storage events and invalidates the changed images: when an
// object is created (also overwritten or copied) or removed in a bucket, its public URL goes
// through the same enqueue path as the HTTP intake (normalisation, dedupe against what is
// pending, the coalescing window), with the source text "event: <sender> <bucket>/<key>".
//
// Two endpoints, on the worker's HTTP server, turned on by EVENTS_TOKEN (Disabled answers 404
// with that hint while it is empty):
//
//	POST /v1/events/s3           S3 event notification messages ({"Records": [...]}, event
//	                             version 2.x): MinIO's webhook target (with its EventName/Key
//	                             envelope), Ceph RGW's HTTP push endpoint, and AWS S3 through an
//	                             SNS HTTPS subscription (the SubscriptionConfirmation is answered;
//	                             every SNS message's signature is verified against a certificate
//	                             fetched from an SNS host; unsigned and stale messages are refused)
//	POST /v1/events/cloudevents  CloudEvents 1.0 in binary, structured or batched mode: Azure Event
//	                             Grid (Microsoft.Storage.BlobCreated/BlobDeleted; OPTIONS answers
//	                             the webhook validation handshake) and Google Cloud Storage through
//	                             Eventarc (google.cloud.storage.object.v1.finalized/deleted)
//
// Authentication: EVENTS_TOKEN as "Authorization: Bearer", as the basic-auth password (an SNS
// subscription URL https://events:TOKEN@host/...), or as the query parameter token=; 401 with
// nothing enqueued otherwise. Mapping: EVENTS_BUCKETS names each bucket's public base URL (see
// ParseBuckets); S3 keys are URL-decoded as S3 encodes them ('+' is a space).
//
// Answers: 200 with a Summary once Redis holds every URL of the delivery (events that change
// nothing, and events for unmapped buckets or keys that do not normalise, are acknowledged and
// counted: a retry would not fix them); 400 with the reason for a body that is not JSON or not a
// known format; 403 for an SNS message that does not verify; 413 over EVENTS_MAX_BYTES; 503 with
// Retry-After while Redis cannot be written, so that the sender retries. docs/events.md says how
// to point each sender at the worker.
package events
