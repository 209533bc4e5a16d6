package events

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what the receivers get. Build them with NewMetrics; a nil *Metrics counts
// nothing.
type Metrics struct {
	Received *prometheus.CounterVec // cipurge_events_received_total{source,type,outcome}
	Refused  *prometheus.CounterVec // cipurge_events_refused_total{path,code}

	mu    sync.Mutex
	types map[string]struct{} // the event type label values seen (bounded)
}

// maxTypes bounds the "type" label values: past it, new types count as "other". Senders choose
// the type strings, so they must not choose the metric's cardinality.
const maxTypes = 200

// NewMetrics registers the receivers' metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_events_received_total",
			Help: "Storage events received, by source (s3, minio, ceph, sns, azure, gcs), the sender's event type and outcome " +
				"(enqueued, already_pending, ignored, filtered, unmapped, rejected, unavailable).",
		}, []string{"source", "type", "outcome"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cipurge_events_refused_total",
			Help: "Event deliveries refused before anything was enqueued, by path and error code (unauthorized, malformed_json, unknown_format, sns_signature_invalid, ...).",
		}, []string{"path", "code"}),
		types: map[string]struct{}{},
	}
	reg.MustRegister(m.Received, m.Refused)
	return m
}

func (m *Metrics) received(source, typ, outcome string) {
	if m == nil {
		return
	}
	m.Received.WithLabelValues(source, m.typeLabel(typ), outcome).Inc()
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

// typeLabel is typ, or "other" once maxTypes distinct types were seen or when typ is long or
// holds characters event type names do not have.
func (m *Metrics) typeLabel(typ string) string {
	if len(typ) > 80 {
		return "other"
	}
	for _, c := range typ {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '.' || c == '_' || c == '-' || c == '*') {
			return "other"
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.types[typ]; ok {
		return typ
	}
	if len(m.types) >= maxTypes {
		return "other"
	}
	m.types[typ] = struct{}{}
	return typ
}
