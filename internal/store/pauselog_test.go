package store_test

import (
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// TestPauseLogKeepsWhatHappened: pauses of one cause in a row are one record with the calls they
// held; another cause starts a new record; the last outage stays named after later pauses; the
// log keeps PauseLogSize pauses besides the latest, in one key.
func TestPauseLogKeepsWhatHappened(t *testing.T) {
	s, ctx := newStore(t)
	if err := s.RecordPause(ctx, store.PauseOutage, "Cloudimage outage: server_error", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordPause(ctx, store.PauseOutage, "Cloudimage outage: transport_error", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.PauseHeld(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordPause(ctx, store.PauseRateLimited, "429 from Cloudimage (rate limited)", time.Minute); err != nil {
		t.Fatal(err)
	}
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.PauseHistory(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Recent) != 2 {
		t.Fatalf("recent pauses: %+v, want 2", h.Recent)
	}
	latest, outage := h.Recent[0], h.Recent[1]
	if latest.Cause != store.PauseRateLimited || !latest.Ongoing || latest.Held != 0 || latest.End-latest.Start != time.Minute.Milliseconds() {
		t.Errorf("latest: %+v, want an ongoing 1m rate-limit pause that held nothing yet", latest)
	}
	if outage.Cause != store.PauseOutage || outage.Pauses != 2 || outage.Held != 3 || outage.Ongoing || outage.Reason != "Cloudimage outage: transport_error" {
		t.Errorf("outage: %+v, want 2 pauses, 3 calls held, the last reason", outage)
	}
	if h.LastOutage == nil || *h.LastOutage != outage {
		t.Errorf("last outage: %+v, want %+v", h.LastOutage, outage)
	}
	for i := range 2 * store.PauseLogSize {
		cause := store.PauseRateLimited
		if i%2 == 0 {
			cause = store.PauseOutage // alternate, so that each starts a record
		}
		if err := s.RecordPause(ctx, cause, "r", time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if h, err = s.PauseHistory(ctx, now); err != nil || len(h.Recent) != store.PauseLogSize+1 {
		t.Errorf("after many pauses: %d records (%v), want %d", len(h.Recent), err, store.PauseLogSize+1)
	}
	rdb := s.Client()
	if n, err := rdb.Keys(ctx, store.KeyPauseLog+"*").Result(); err != nil || len(n) != 1 {
		t.Errorf("the pause log is %v keys (%v), want one", n, err)
	}
	if ttl := rdb.PTTL(ctx, store.KeyPauseLog).Val(); ttl < 24*time.Hour {
		t.Errorf("the pause log expires in %s: it must outlive its last pause by at least a day", ttl)
	}
}
