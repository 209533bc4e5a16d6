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

func urlsN(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://img.example.com/media/2026/11/%08d-product-photo.jpg", i)
	}
	return out
}

func TestRequestIdempotencyAndRecord(t *testing.T) {
	c := testredis.Start(t).Client()
	s := store.New(c)
	ctx := context.Background()
	o := store.NewRequestOptions{IdempotencyKey: "deploy-42", Callback: "https://hooks.example.com/x", Confirm: true, TTL: time.Hour}
	id, made, _, err := s.NewRequest(ctx, urlsN(30), o)
	if err != nil || !made || !store.ValidRequestID(id) {
		t.Fatalf("NewRequest = %q, %v, %v", id, made, err)
	}
	again, made, _, err := s.NewRequest(ctx, urlsN(30), o)
	if err != nil || made || again != id {
		t.Fatalf("the same idempotency key again = %q, %v, %v; want %q, not made", again, made, err, id)
	}
	r, err := s.Request(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 30 || r.Counts[store.ReqWaiting] != 30 || !r.Confirm || r.Callback != o.Callback || !r.Done.IsZero() {
		t.Errorf("record %+v", r)
	}
	if len(r.Sample) != store.RequestSampleSize || r.Sample[0] != urlsN(1)[0] {
		t.Errorf("sample of %d URLs starting %q, want the first %d", len(r.Sample), r.Sample[0], store.RequestSampleSize)
	}
	for _, k := range []string{store.RequestKey(id), store.RequestIdemKey("deploy-42")} {
		if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s expires in %v, want within PURGE_HISTORY_TTL (1h)", k, ttl)
		}
	}
	if recent, _ := s.RecentRequests(ctx, 10); !slices.Equal(recent, []string{id}) {
		t.Errorf("recent requests %v, want [%s]", recent, id)
	}
	if _, err := s.Request(ctx, "rq_aaaaaaaaaaaaaaaa"); err == nil {
		t.Error("an unknown request was found")
	}
	if _, err := s.Request(ctx, "../x"); err == nil {
		t.Error("a malformed request ID was read")
	}
}

// TestRequestDoneOnlyWhenNothingIsOpen moves two requests' URLs through their states: a request
// is never done while a URL waits or (with confirm) is sent and unconfirmed; one URL shared by
// both requests (dedupe across requests) counts for both.
func TestRequestDoneOnlyWhenNothingIsOpen(t *testing.T) {
	s := store.New(testredis.Start(t).Client())
	ctx := context.Background()
	a, _, _, err := s.NewRequest(ctx, urlsN(2), store.NewRequestOptions{Confirm: true, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := s.NewRequest(ctx, urlsN(1), store.NewRequestOptions{Confirm: true, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	move := func(ids []string, from, to store.RequestState, resent bool) []string {
		t.Helper()
		done, err := s.MoveRequests(ctx, ids, from, to, resent)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	notDone := func(id string) {
		t.Helper()
		if r, _ := s.Request(ctx, id); !r.Done.IsZero() {
			t.Fatalf("%s is done with counts %v", id, r.Counts)
		}
	}
	// URL 0 is in both requests; URL 1 only in a.
	move([]string{a, b}, store.ReqWaiting, store.ReqSent, false)
	move([]string{a}, store.ReqWaiting, store.ReqSent, false)
	notDone(a)
	notDone(b)
	// Cloudimage fails URL 1: it goes back to waiting and is sent again.
	move([]string{a}, store.ReqSent, store.ReqWaiting, true)
	if done := move([]string{a, b}, store.ReqSent, store.ReqConfirmed, false); !slices.Equal(done, []string{b}) {
		t.Fatalf("confirming the shared URL made %v done, want only %s", done, b)
	}
	notDone(a)
	// A repeated move finds nothing in its from state and changes nothing.
	if done := move([]string{a}, store.ReqSent, store.ReqConfirmed, false); len(done) != 0 {
		t.Fatalf("a repeated confirmation made %v done", done)
	}
	notDone(a)
	move([]string{a}, store.ReqWaiting, store.ReqSent, false)
	notDone(a)
	if done := move([]string{a}, store.ReqSent, store.ReqDead, false); !slices.Equal(done, []string{a}) {
		t.Fatalf("the last URL dead-lettered made %v done, want %s", done, a)
	}
	r, _ := s.Request(ctx, a)
	want := map[store.RequestState]int64{store.ReqWaiting: 0, store.ReqSent: 0, store.ReqConfirmed: 1, store.ReqDead: 1, store.ReqFlushed: 0, store.ReqResent: 1}
	for st, n := range want {
		if r.Counts[st] != n {
			t.Errorf("%s: %s = %d, want %d", a, st, r.Counts[st], n)
		}
	}
	if done := move([]string{a}, store.ReqWaiting, store.ReqSent, false); len(done) != 0 {
		t.Errorf("a done request became done again: %v", done)
	}
}

func TestRequestDoneWhenSentWithoutConfirm(t *testing.T) {
	s := store.New(testredis.Start(t).Client())
	ctx := context.Background()
	id, _, _, err := s.NewRequest(ctx, urlsN(2), store.NewRequestOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if done, _ := s.MoveRequests(ctx, []string{id}, store.ReqWaiting, store.ReqSent, false); len(done) != 0 {
		t.Fatalf("done with a URL still waiting: %v", done)
	}
	if done, _ := s.MoveRequests(ctx, []string{id}, store.ReqWaiting, store.ReqSent, false); !slices.Equal(done, []string{id}) {
		t.Fatalf("every URL sent, PURGE_CONFIRM=false: done = %v, want %s", done, id)
	}
}

func TestRecentRequestsBounded(t *testing.T) {
	c := testredis.Start(t).Client()
	s := store.New(c)
	ctx := context.Background()
	for range store.RequestsKept + 5 {
		if _, _, _, err := s.NewRequest(ctx, urlsN(1), store.NewRequestOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.ZCard(ctx, store.KeyRequests).Val(); n != store.RequestsKept {
		t.Errorf("the index holds %d requests, want %d", n, store.RequestsKept)
	}
}

// TestLastRequests: the newest requests, newest first, with their counts and no sample; a
// request whose record expired is left out; n of 0 reads none.
func TestLastRequests(t *testing.T) {
	c := testredis.Start(t).Client()
	s := store.New(c)
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		id, _, _, err := s.NewRequest(ctx, urlsN(i+1), store.NewRequestOptions{Confirm: true, Callback: "https://hooks.example.com/x", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		time.Sleep(2 * time.Millisecond) // distinct scores: the index orders by the millisecond
	}
	if err := c.Del(ctx, store.RequestKey(ids[1])).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastRequests(ctx, 10)
	if err != nil || len(got) != 2 || got[0].ID != ids[2] || got[1].ID != ids[0] {
		t.Fatalf("LastRequests(10) = %+v, %v; want %s then %s", got, err, ids[2], ids[0])
	}
	if r := got[0]; r.Total != 3 || r.Counts[store.ReqWaiting] != 3 || !r.Confirm || r.Callback == "" || r.Sample != nil || r.At.IsZero() {
		t.Errorf("the newest request: %+v", r)
	}
	if got, err := s.LastRequests(ctx, 1); err != nil || len(got) != 1 || got[0].ID != ids[2] {
		t.Errorf("LastRequests(1) = %+v, %v", got, err)
	}
	if got, err := s.LastRequests(ctx, 0); err != nil || len(got) != 0 {
		t.Errorf("LastRequests(0) = %+v, %v", got, err)
	}
}

// BenchmarkRequestFootprint measures Redis memory per request record from INFO used_memory on a
// private redis-server: "full" has a full sample of URLs (about 60 bytes each) and an
// idempotency key, "bare" one URL and no key. The record does not grow past the sample.
//
//	go test -run '^$' -bench RequestFootprint -benchtime 10000x ./internal/store/
func BenchmarkRequestFootprint(b *testing.B) {
	for _, kind := range []string{"full", "bare"} {
		b.Run(kind, func(b *testing.B) {
			c := testredis.Start(b).Client()
			s := store.New(c)
			ctx := context.Background()
			urls := urlsN(1000)
			if kind == "bare" {
				urls = urls[:1]
			}
			before := testredis.UsedMemory(b, ctx, c)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				o := store.NewRequestOptions{Confirm: true, TTL: time.Hour}
				if kind == "full" {
					o.IdempotencyKey = fmt.Sprintf("deploy-%d", i)
				}
				if _, _, _, err := s.NewRequest(ctx, urls, o); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(testredis.UsedMemory(b, ctx, c)-before)/float64(b.N), "bytes/request")
		})
	}
}
