package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

const (
	folderA = "https://img.example.com/cover/*"
	folderB = "https://img.example.com/cover/deep/*"
)

// TestPrefixCoversWhatIsUnder (issue 24): a URL or a prefix under a sent prefix, requested before
// its send, is dropped; one requested after it, or outside it, is not. CoveredBy names it.
func TestPrefixCoversWhatIsUnder(t *testing.T) {
	s, ctx := newStore(t)
	before, _ := s.Now(ctx)
	time.Sleep(5 * time.Millisecond)
	sent, _ := s.Now(ctx)
	if err := s.PrefixSent(ctx, []string{folderA, "https://img.example.com/cover/x.jpg"}, before, sent, time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	after, _ := s.Now(ctx)
	under := []string{"https://img.example.com/cover/a.jpg", "https://img.example.com/cover/deep/b.jpg", folderB}
	outside := []string{"https://img.example.com/coverx/a.jpg", "https://img.example.com/other/cover/a.jpg"}
	lim := store.Limit{}
	a, err := s.Admit(ctx, append(append([]string{}, under...), outside...), before, store.Interactive, lim)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range append(append([]string{}, under...), outside...) {
		if want := i < len(under); a.Dropped[i] != want {
			t.Errorf("%s requested before the prefix's send: dropped %v, want %v", u, a.Dropped[i], want)
		}
	}
	if a, _ := s.Admit(ctx, under, after, store.Interactive, lim); a.Verdict != store.Go || len(a.Live(under)) != len(under) {
		t.Errorf("requested after the prefix's send: %+v; want every URL sent", a)
	}
	c, ok, err := s.CoveredBy(ctx, under[1], before)
	if err != nil || !ok || c.Prefix != folderA || c.SentAt != sent {
		t.Errorf("CoveredBy(%s) = %+v %v %v; want %s sent at %d", under[1], c, ok, err, folderA, sent)
	}
	if _, ok, _ := s.CoveredBy(ctx, under[1], after); ok {
		t.Error("CoveredBy names a prefix sent before the request")
	}
	if _, ok, _ := s.CoveredBy(ctx, folderA, before); ok {
		t.Error("CoveredBy names the prefix itself")
	}
}

// TestPrefixUnderWaitingPrefixCollapses (issue 24): a prefix under another that waits to be sent
// yields to it, whichever was requested first; the other's send then covers it. Once the other is
// gone (dead-lettered), it goes on its own.
func TestPrefixUnderWaitingPrefixCollapses(t *testing.T) {
	s, ctx := newStore(t)
	reqB, _ := s.Now(ctx)
	if err := s.PrefixRequested(ctx, []string{folderB, "https://img.example.com/cover/a.jpg"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.PrefixRequested(ctx, []string{folderA}); err != nil {
		t.Fatal(err)
	}
	own := store.Limit{Rate: 100, Burst: 10}
	a, err := s.Admit(ctx, []string{folderB}, reqB, store.Folder, own)
	if err != nil || a.Verdict != store.Yield || !strings.Contains(a.Reason, folderA) {
		t.Fatalf("prefix under a waiting prefix: %+v %v; want yield naming %s", a, err, folderA)
	}
	reqA, _ := s.Now(ctx)
	if a, _ := s.Admit(ctx, []string{folderA}, reqA, store.Folder, own); a.Verdict != store.Go {
		t.Fatalf("the covering prefix: %v; want go", a.Verdict)
	}
	if err := s.PrefixSent(ctx, []string{folderA}, reqA, reqA+1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Admit(ctx, []string{folderB}, reqB, store.Folder, own); a.Verdict != store.Satisfied {
		t.Fatalf("after the covering prefix was sent: %v; want satisfied", a.Verdict)
	}

	// A waiting prefix that is dead-lettered holds nothing back.
	const folderC, folderD = "https://img.example.com/gone/*", "https://img.example.com/gone/sub/*"
	if err := s.PrefixRequested(ctx, []string{folderC}); err != nil {
		t.Fatal(err)
	}
	reqD, _ := s.Now(ctx)
	if a, _ := s.Admit(ctx, []string{folderD}, reqD, store.Folder, own); a.Verdict != store.Yield {
		t.Fatalf("under a waiting prefix: %v; want yield", a.Verdict)
	}
	if err := s.PrefixGone(ctx, []string{folderC}); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Admit(ctx, []string{folderD}, reqD, store.Folder, own); a.Verdict != store.Go {
		t.Fatalf("after the prefix over it was dead-lettered: %v; want go", a.Verdict)
	}
}

// TestBulkPrefixYieldsToInteractive (issue 24): while an interactive prefix waits for the prefix
// budget, a bulk prefix yields; neither touches the URL rate, and URLs do not yield to them.
func TestBulkPrefixYieldsToInteractive(t *testing.T) {
	s, ctx := newStore(t)
	own := store.Limit{Rate: 1, Burst: 1}
	if a, _ := s.Admit(ctx, nil, 0, store.Folder, own); a.Verdict != store.Go {
		t.Fatalf("first prefix: %v", a.Verdict)
	}
	a, _ := s.Admit(ctx, nil, 0, store.Folder, own)
	if a.Verdict != store.Throttled {
		t.Fatalf("second interactive prefix: %v, want throttled (it waits)", a.Verdict)
	}
	// Snoozed, it comes back late: its mark outlives its wait by seconds.
	if ttl, _ := s.Client().PTTL(ctx, store.KeyHotPrefix).Result(); ttl < a.Wait+time.Second {
		t.Errorf("the waiting prefix's mark lasts %s for a wait of %s; want seconds more", ttl, a.Wait)
	}
	if a, _ := s.Admit(ctx, nil, 0, store.FolderBulk, own); a.Verdict != store.Yield {
		t.Fatalf("bulk prefix while an interactive one waits: %v, want yield", a.Verdict)
	}
	if n, _ := s.Client().Exists(ctx, store.KeyRate, store.KeyHot).Result(); n != 0 {
		t.Errorf("prefixes touched the URL rate or its priority rule (%d keys)", n)
	}
	if a, _ := s.Admit(ctx, nil, 0, store.Background, store.Limit{Rate: 1, Burst: 1}); a.Verdict != store.Go {
		t.Errorf("a bulk URL call while an interactive prefix waits: %v, want go", a.Verdict)
	}
	// Once no interactive prefix waits, a bulk prefix takes the budget.
	if err := s.Client().Del(ctx, store.KeyHotPrefix, store.KeyRatePrefix).Err(); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Admit(ctx, nil, 0, store.FolderBulk, own); a.Verdict != store.Go {
		t.Errorf("bulk prefix alone: %v, want go", a.Verdict)
	}
}
