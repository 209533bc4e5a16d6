package events

import "github.com/prometheus/client_golang/prometheus"

// Metrics count what the receivers get. Build them with NewMetrics; a nil *Metrics counts
// nothing.
type Metrics struct {
	Received *prometheus.CounterVec // cipurge_events_received_total{source,type,outcome}
	Refused  *prometheus.CounterVec // cipurge_events_refused_total{path,code}
}

// TypeOther is the "type" label of an event type the receivers do not know.
const TypeOther = "other"

// knownTypes are the event types the "type" label names (S3 names without MinIO's "s3:" prefix):
// those the senders document. Senders choose the type strings, so they must not choose the
// metric's cardinality: any other type is counted as TypeOther.
var knownTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range []string{
		// AWS S3 (and the names MinIO and Ceph share with it).
		s3TestEvent,
		"ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload",
		"ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated",
		"ObjectRestore:Post", "ObjectRestore:Completed", "ObjectRestore:Delete",
		"ReducedRedundancyLostObject",
		"Replication:OperationFailedReplication", "Replication:OperationMissedThreshold",
		"Replication:OperationReplicatedAfterThreshold", "Replication:OperationNotTracked",
		"LifecycleExpiration:Delete", "LifecycleExpiration:DeleteMarkerCreated", "LifecycleTransition",
		"IntelligentTiering", "ObjectTagging:Put", "ObjectTagging:Delete", "ObjectAcl:Put",
		// MinIO's own.
		"ObjectAccessed:Get", "ObjectAccessed:Head", "ObjectAccessed:GetRetention", "ObjectAccessed:GetLegalHold",
		"ObjectAccessed:Attributes",
		"ObjectCreated:PutRetention", "ObjectCreated:PutLegalHold", "ObjectCreated:PutTagging", "ObjectCreated:DeleteTagging",
		"ObjectRemoved:DeleteAllVersions", "ObjectRemoved:NoOP", "LifecycleDelMarkerExpiration:Delete",
		"Replication:OperationCompletedReplication",
		"ObjectReplication:Failed", "ObjectReplication:Complete", "ObjectReplication:NotTracked",
		"ObjectReplication:MissedThreshold", "ObjectReplication:ReplicatedAfterThreshold",
		"ObjectTransition:Failed", "ObjectTransition:Complete",
		"Scanner:ManyVersions", "Scanner:LargeVersions", "Scanner:BigPrefix",
		"BucketCreated:*", "BucketRemoved:*",
		// Ceph RGW's own.
		"ObjectLifecycle:Expiration:Current", "ObjectLifecycle:Expiration:NonCurrent",
		"ObjectLifecycle:Expiration:DeleteMarker", "ObjectLifecycle:Expiration:AbortMultipartUpload",
		"ObjectLifecycle:Transition:Current", "ObjectLifecycle:Transition:NonCurrent",
		"ObjectSynced:Create", "ObjectSynced:Delete", "ObjectSynced:DeletionMarkerCreated",
		// SNS's subscription messages.
		snsSubscribe, snsUnsubscribe,
		// Azure Blob Storage (Event Grid).
		azureCreated, azureDeleted, "Microsoft.Storage.BlobRenamed", "Microsoft.Storage.BlobTierChanged",
		"Microsoft.Storage.AsyncOperationInitiated", "Microsoft.Storage.DirectoryCreated",
		"Microsoft.Storage.DirectoryRenamed", "Microsoft.Storage.DirectoryDeleted",
		"Microsoft.Storage.BlobInventoryPolicyCompleted", "Microsoft.Storage.LifecyclePolicyCompleted",
		"Microsoft.Storage.StorageTaskQueued", "Microsoft.Storage.StorageTaskCompleted",
		"Microsoft.Storage.StorageTaskAssignmentQueued", "Microsoft.Storage.StorageTaskAssignmentCompleted",
		// Google Cloud Storage (Eventarc).
		gcsFinalized, gcsDeleted, "google.cloud.storage.object.v1.archived", "google.cloud.storage.object.v1.metadataUpdated",
	} {
		m[t] = true
	}
	return m
}()

// NewMetrics registers the receivers' metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_events_received_total",
			Help: "Storage events received, by source (s3, minio, ceph, sns, azure, gcs), the sender's event type (other for a type the worker does not know) and outcome " +
				"(enqueued, already_pending, ignored, filtered, unmapped, rejected, unavailable).",
		}, []string{"source", "type", "outcome"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_events_refused_total",
			Help: "Event deliveries refused before anything was enqueued, by path and the answer's error code (unauthorized, busy, body_too_large, read_error, malformed_json, " +
				"duplicate_key, too_deep, bad_encoding, unknown_format, sns_signature_invalid, sns_certificate_untrusted, sns_topic_not_allowed, ...).",
		}, []string{"path", "code"}),
	}
	reg.MustRegister(m.Received, m.Refused)
	return m
}

func (m *Metrics) received(source, typ, outcome string) {
	if m == nil {
		return
	}
	m.Received.WithLabelValues(source, typeLabel(typ), outcome).Inc()
}

func (m *Metrics) refused(path, code string) {
	if m == nil {
		return
	}
	switch path {
	case PathS3, PathCloudEvents:
	default:
		path = "other"
	}
	m.Refused.WithLabelValues(path, code).Inc()
}

// typeLabel is typ when it is a known event type, else TypeOther.
func typeLabel(typ string) string {
	if knownTypes[typ] {
		return typ
	}
	return TypeOther
}
