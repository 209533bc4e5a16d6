package events_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	cievents "github.com/cipurge/cipurge/internal/events"
)

// TestEventTypeLabelIsBounded: the "type" label of cipurge_events_received_total names the event
// types the senders document; any other type string a sender makes up is counted as "other", so
// 300 made-up types add one series, not 300.
func TestEventTypeLabelIsBounded(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	var recs [][3]string
	for i := range 300 {
		recs = append(recs, [3]string{fmt.Sprintf("Made:Up%03d", i), "media", "a.jpg"})
	}
	recs = append(recs, [3]string{"ObjectCreated:Put", "media", "b.jpg"}, [3]string{"s3:ObjectAccessed:Get", "media", "b.jpg"},
		[3]string{"ObjectTagging:Put", "media", "b.jpg"})
	if s := e.send(http.MethodPost, cievents.PathS3, s3Message(t, "minio:s3", recs...)).summary(t); s.Ignored != 302 || s.Enqueued != 1 {
		t.Errorf("summary %+v", s)
	}
	// A CloudEvent of a storage service with a type it does not document: ignored, counted as other.
	a := e.send(http.MethodPost, cievents.PathCloudEvents, `{}`, "Ce-Specversion: 1.0", "Ce-Id: 1",
		"Ce-Source: /subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z", "Ce-Type: Microsoft.Storage.Made-Up")
	if s := a.summary(t); s.Ignored != 1 {
		t.Errorf("unknown Azure type: %+v", s)
	}
	for _, c := range []struct {
		source, typ, outcome string
		want                 int
	}{
		{"minio", cievents.TypeOther, cievents.OutcomeIgnored, 300},
		{"minio", "ObjectCreated:Put", cievents.OutcomeEnqueued, 1},
		{"minio", "ObjectAccessed:Get", cievents.OutcomeIgnored, 1},
		{"minio", "ObjectTagging:Put", cievents.OutcomeIgnored, 1},
		{"azure", cievents.TypeOther, cievents.OutcomeIgnored, 1},
	} {
		if n := e.count(c.source, c.typ, c.outcome); n != c.want {
			t.Errorf("cipurge_events_received_total{source=%q,type=%q,outcome=%q} = %d, want %d", c.source, c.typ, c.outcome, n, c.want)
		}
	}
	// e.count created the series it read; beyond them, the made-up types added none.
	if n := testutil.CollectAndCount(e.m.Received); n != 5 {
		t.Errorf("%d series, want 5", n)
	}
}
