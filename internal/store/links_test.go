package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestLinkedURLsMoveEveryRequest: a URL shared by two requests moves both; a failed URL goes back
// to waiting and counts a resend; the links go at an end state; a ninth request of one URL does
// not count it; a bulk task's requests move by the task's URLs.
// It runs over 80 lines on purpose: each step builds on the requests the steps before made.
func TestLinkedURLsMoveEveryRequest(t *testing.T) {
	c := testredis.Start(t).Client()
	s := store.New(c)
	ctx := context.Background()
	u := urlsN(3)
	o := store.NewRequestOptions{Confirm: true, TTL: time.Hour, Link: true}
	a, _, _, err := s.NewRequest(ctx, u[:2], o)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := s.NewRequest(ctx, u[1:3], o)
	if err != nil {
		t.Fatal(err)
	}
	move := func(urls []string, m store.Move) store.Moved {
		t.Helper()
		got, err := s.MoveURLs(ctx, nil, urls, m)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	counts := func(id string) map[store.RequestState]int64 {
		r, err := s.Request(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.Counts
	}
	move(u, store.Move{From: store.ReqWaiting, To: store.ReqSent, Keep: true})
	if ca, cb := counts(a), counts(b); ca[store.ReqSent] != 2 || cb[store.ReqSent] != 2 || ca[store.ReqWaiting] != 0 {
		t.Fatalf("after the send: a %v, b %v", ca, cb)
	}
	move(u[1:2], store.Move{From: store.ReqSent, To: store.ReqWaiting, Resent: true, Keep: true})
	if got := move(u, store.Move{From: store.ReqSent, To: store.ReqConfirmed}); len(got.Done) != 0 {
		t.Fatalf("done %v while the shared URL waits for its resend", got.Done)
	}
	got := move(u[1:2], store.Move{From: store.ReqWaiting, To: store.ReqDead})
	slices.Sort(got.Done)
	want := []string{a, b}
	slices.Sort(want)
	if !slices.Equal(got.Done, want) || len(got.Dead) != 2 {
		t.Fatalf("the shared URL dead: done %v dead %v, want both done and dead", got.Done, got.Dead)
	}
	if ca := counts(a); ca[store.ReqConfirmed] != 1 || ca[store.ReqDead] != 1 || ca[store.ReqResent] != 1 {
		t.Errorf("a: %v", ca)
	}
	if n := c.HLen(ctx, store.KeyRequestLinks).Val(); n != 0 {
		t.Errorf("%d URLs still linked after their end", n)
	}
	// A URL counts for at most RequestsPerURL requests.
	var ids []string
	for range store.RequestsPerURL {
		id, _, unlinked, err := s.NewRequest(ctx, u[:1], o)
		if err != nil || len(unlinked) != 0 {
			t.Fatal(err, unlinked)
		}
		ids = append(ids, id)
	}
	over, _, unlinked, err := s.NewRequest(ctx, u[:2], o)
	if err != nil || !slices.Equal(unlinked, []int{0}) {
		t.Fatalf("a ninth request of one URL: unlinked %v, %v", unlinked, err)
	}
	if r, _ := s.Request(ctx, over); r.Total != 1 || r.Counts[store.ReqWaiting] != 1 {
		t.Errorf("the ninth request counts %d URLs (%v), want the linked one", r.Total, r.Counts)
	}
	got, err = s.FlushLinks(ctx, store.EventsNone)
	if err != nil || len(got.Done) != store.RequestsPerURL+1 {
		t.Fatalf("a flush-all made %d requests done (%v), want %d", len(got.Done), err, store.RequestsPerURL+1)
	}
	if cs := counts(ids[0]); cs[store.ReqFlushed] != 1 {
		t.Errorf("flushed: %v", cs)
	}
	// A bulk request: its task carries it, no link.
	bulk, _, _, err := s.NewRequest(ctx, u, store.NewRequestOptions{Confirm: true, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveURLs(ctx, []string{bulk}, u, store.Move{From: store.ReqWaiting, To: store.ReqSent}); err != nil {
		t.Fatal(err)
	}
	got, err = s.MoveURLs(ctx, []string{bulk}, u, store.Move{From: store.ReqSent, To: store.ReqConfirmed, SentDone: true})
	if err != nil || !slices.Equal(got.Done, []string{bulk}) {
		t.Fatalf("the bulk task confirmed: done %v, %v", got.Done, err)
	}
	if r, _ := s.Request(ctx, bulk); r.Counts[store.ReqConfirmed] != 3 || r.Confirm {
		t.Errorf("bulk request %v, confirm %v", r.Counts, r.Confirm)
	}
}

// BenchmarkLinkFootprint measures the Redis memory a request adds per URL, from INFO used_memory
// on a private redis-server: "linked" links each URL of the pending set to the request (rq:url),
// "bulk" counts a bulk run's URLs only. Each op is one request of 1,000 distinct URLs.
//
//	go test -run '^$' -bench LinkFootprint -benchtime 20x ./internal/store/
func BenchmarkLinkFootprint(b *testing.B) {
	for _, kind := range []string{"linked", "bulk"} {
		b.Run(kind, func(b *testing.B) {
			c := testredis.Start(b).Client()
			s := store.New(c)
			ctx := context.Background()
			const per = 1000
			before := testredis.UsedMemory(b, ctx, c)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				urls := make([]string, per)
				for j := range urls {
					urls[j] = fmt.Sprintf("https://img.example.com/media/2026/11/%04d-%04d-product-photo.jpg", i, j)
				}
				if _, _, _, err := s.NewRequest(ctx, urls, store.NewRequestOptions{Confirm: true, TTL: time.Hour, Link: kind == "linked"}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(testredis.UsedMemory(b, ctx, c)-before)/float64(b.N*per), "bytes/URL")
		})
	}
}

// TestMoveURLsPassesTheRequestsSeenLast: MoveURLs reads no link before its script. The URLs of a
// request it moved before cost one call; URLs of more new requests than it keeps (20 requests of
// one URL, moved at once) cost a second call, and every request still counts its URL.
func TestMoveURLsPassesTheRequestsSeenLast(t *testing.T) {
	c := testredis.Start(t).Client()
	count := &redisCount{}
	c.AddHook(count)
	s := store.New(c)
	ctx := context.Background()
	o := store.NewRequestOptions{Confirm: true, TTL: time.Hour, Link: true}
	u := urlsN(50)
	big, _, _, err := s.NewRequest(ctx, u[:30], o)
	if err != nil {
		t.Fatal(err)
	}
	var small []string
	for _, x := range u[30:] {
		id, _, _, err := s.NewRequest(ctx, []string{x}, o)
		if err != nil {
			t.Fatal(err)
		}
		small = append(small, id)
	}
	sent := store.Move{From: store.ReqWaiting, To: store.ReqSent, Keep: true}
	calls := func(urls []string, m store.Move) int64 {
		t.Helper()
		count.take()
		if _, err := s.MoveURLs(ctx, nil, urls, m); err != nil {
			t.Fatal(err)
		}
		n, _, _ := count.take()
		return n
	}
	calls([]string{"https://img.example.com/no-request.jpg"}, sent) // loads the script
	if n := calls(u[:15], sent); n != 2 {
		t.Errorf("the first move of a request's URLs: %d commands, want 2 (a miss, then its key)", n)
	}
	if n := calls(u[15:30], sent); n != 1 {
		t.Errorf("a move of the same request's URLs: %d commands, want 1", n)
	}
	if n := calls(u[30:], sent); n != 2 {
		t.Errorf("a move of 20 new requests' URLs: %d commands, want 2", n)
	}
	if got, err := s.MoveURLs(ctx, nil, u, store.Move{From: store.ReqSent, To: store.ReqConfirmed}); err != nil || len(got.Done) != 21 {
		t.Fatalf("confirming all: done %d requests, want 21: %v", len(got.Done), err)
	}
	for i, id := range append(small, big) {
		want := int64(1)
		if i == len(small) {
			want = 30
		}
		r, err := s.Request(ctx, id)
		if err != nil || r.Done.IsZero() || r.Counts[store.ReqConfirmed] != want {
			t.Errorf("request %s after every confirmation: %+v, %v; want %d confirmed", id, r, err, want)
		}
	}
}
