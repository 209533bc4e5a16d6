package store_test

import (
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// TestAccountsDoNotShareState (issue 23): a Store bound to one account never reads another's
// state. A prefix sent, a pause and pending URLs of shop-a leave shop-b and the default account
// alone. The prefix cover also proves that the admit script finds the URL in shop-a's history
// keys, whose prefix is longer than the default's.
func TestAccountsDoNotShareState(t *testing.T) {
	s, ctx := newStore(t)
	a, b := s.For("shop-a"), s.For("shop-b")
	before, _ := s.Now(ctx)
	time.Sleep(5 * time.Millisecond)
	sent, _ := s.Now(ctx)
	if err := a.PrefixSent(ctx, []string{folderA}, before, sent, time.Hour); err != nil {
		t.Fatal(err)
	}
	under := []string{"https://img.example.com/cover/a.jpg"}
	lim := store.Limit{}
	if got, err := a.Admit(ctx, under, before, store.Interactive, lim); err != nil || !got.Dropped[0] {
		t.Errorf("shop-a: a URL under its own sent prefix: %+v %v; want it dropped", got, err)
	}
	for _, other := range []*store.Store{b, s} {
		if got, err := other.Admit(ctx, under, before, store.Interactive, lim); err != nil || got.Verdict != store.Go || got.Dropped[0] {
			t.Errorf("%s: a URL under shop-a's sent prefix: %+v %v; want it sent", other.Account(), got, err)
		}
	}
	if err := a.Pause(ctx, "429", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Admit(ctx, nil, 0, store.Interactive, lim); got.Verdict != store.Paused {
		t.Errorf("shop-a after its own pause: %v, want paused", got.Verdict)
	}
	for _, other := range []*store.Store{b, s} {
		if got, _ := other.Admit(ctx, nil, 0, store.Interactive, lim); got.Verdict != store.Go {
			t.Errorf("%s after shop-a's pause: %v, want go", other.Account(), got.Verdict)
		}
	}
	if _, err := a.AddPending(ctx, "", []string{"k1", "k2"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		st   *store.Store
		want int64
	}{{a, 2}, {b, 0}, {s, 0}} {
		if n, _, err := c.st.PendingCount(ctx); err != nil || n != c.want {
			t.Errorf("%s: %d pending (%v), want %d", c.st.Account(), n, err, c.want)
		}
	}
}
