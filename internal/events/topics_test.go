package events_test

import (
	"testing"

	"github.com/cipurge/cipurge/internal/events"
)

// TestSNSTopicsUnsetSaidAtStart: a receiver made without allowed topics says once, at start,
// that every topic is accepted; one made with topics says nothing of it.
func TestSNSTopicsUnsetSaidAtStart(t *testing.T) {
	t.Parallel()
	const said = "EVENTS_SNS_TOPICS is unset: SNS messages of every topic are accepted"
	if n := setup(t, nil).logs.FilterMessageSnippet(said).Len(); n != 1 {
		t.Errorf("without topics: %d warnings %q, want 1", n, said)
	}
	e := setup(t, func(o *events.Options) { o.SNSTopics = []string{topicArn} })
	if n := e.logs.FilterMessageSnippet(said).Len(); n != 0 {
		t.Errorf("with topics: %d warnings %q, want none", n, said)
	}
}
