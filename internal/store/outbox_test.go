package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestMoveAppendsEachEventOnce: a move appends one outbox entry per event of a request with a
// receiver, none for a request without one, and none when it asks for none. The same move
// again appends nothing. A bulk task's requests get their events too.
func TestMoveAppendsEachEventOnce(t *testing.T) {
	c := testredis.Start(t).Client()
	s := store.New(c)
	ctx := context.Background()
	u := urlsN(4)
	newReq := func(urls []string, callback string, link bool) string {
		t.Helper()
		id, _, _, err := s.NewRequest(ctx, urls, store.NewRequestOptions{Confirm: true, TTL: time.Hour, Link: link, Callback: callback})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	move := func(reqs, urls []string, m store.Move) store.Moved {
		t.Helper()
		got, err := s.MoveURLs(ctx, reqs, urls, m)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	outbox := func() []string {
		t.Helper()
		got, err := c.LRange(ctx, store.KeyOutbox, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a := newReq(u[:2], "https://hooks.example.com/a", true)
	b := newReq(u[1:2], "", true)
	move(nil, u[:2], store.Move{From: store.ReqWaiting, To: store.ReqSent, Keep: true, Events: store.EventsCallback})
	move(nil, u[:1], store.Move{From: store.ReqSent, To: store.ReqConfirmed, Events: store.EventsCallback})
	if got := outbox(); len(got) != 0 {
		t.Fatalf("outbox %q before any request is done", got)
	}
	dead := store.Move{From: store.ReqSent, To: store.ReqDead, Events: store.EventsCallback}
	got := move(nil, u[1:2], dead)
	if len(got.Done) != 2 || len(got.Dead) != 2 {
		t.Fatalf("the shared URL dead: done %v dead %v, want both requests", got.Done, got.Dead)
	}
	want := []string{store.OutboxDead + "|" + a + "|" + u[1], store.OutboxDone + "|" + a + "|"}
	if got := outbox(); !slices.Equal(got, want) {
		t.Fatalf("outbox %q, want %q: request %s has no receiver", got, want, b)
	}
	if got := move(nil, u[1:2], dead); len(got.Done)+len(got.Dead) != 0 || !slices.Equal(outbox(), want) {
		t.Fatalf("the same move again: %+v, outbox %q", got, outbox())
	}

	// A bulk request, carried by its task, with EventsAll: no callback needed.
	bulk := newReq(u[2:3], "", false)
	move([]string{bulk}, u[2:3], store.Move{From: store.ReqWaiting, To: store.ReqSent, Events: store.EventsAll})
	bulkDead := store.Move{From: store.ReqSent, To: store.ReqDead, Events: store.EventsAll}
	move([]string{bulk}, u[2:3], bulkDead)
	move([]string{bulk}, u[2:3], bulkDead)
	want = append(want, store.OutboxDead+"|"+bulk+"|"+u[2], store.OutboxDone+"|"+bulk+"|")
	if got := outbox(); !slices.Equal(got, want) {
		t.Fatalf("outbox %q, want %q", got, want)
	}

	// EventsNone: a worker with no secret appends nothing.
	newReq(u[3:], "https://hooks.example.com/d", true)
	move(nil, u[3:], store.Move{From: store.ReqWaiting, To: store.ReqDead})
	if got := outbox(); !slices.Equal(got, want) {
		t.Fatalf("EventsNone appended: outbox %q", got)
	}
}

// TestOutboxTakeAckLease: taken events go to no other taker until their lease ends; acked ones
// never come back.
func TestOutboxTakeAckLease(t *testing.T) {
	c := testredis.Start(t).Client()
	s := store.New(c)
	ctx := context.Background()
	ids := []string{store.NewRequestID(), store.NewRequestID(), store.NewRequestID()}
	for _, id := range ids {
		c.RPush(ctx, store.KeyOutbox, store.OutboxDone+"|"+id+"|")
	}
	c.RPush(ctx, store.KeyOutbox, "garbage")
	evs, err := s.TakeOutbox(ctx, 10, time.Hour)
	if err != nil || len(evs) != 3 {
		t.Fatalf("took %+v, %v: want the 3 events, not the garbage", evs, err)
	}
	for i, ev := range evs {
		if ev.Request != ids[i] || ev.Dead || ev.URL != "" {
			t.Errorf("event %d: %+v, want request.done of %s", i, ev, ids[i])
		}
	}
	if again, _ := s.TakeOutbox(ctx, 10, time.Hour); len(again) != 0 {
		t.Fatalf("taken again within the lease: %+v", again)
	}
	if err := s.AckOutbox(ctx, evs[0]); err != nil {
		t.Fatal(err)
	}
	again, err := s.TakeOutbox(ctx, 10, 0)
	if err != nil || len(again) != 2 || again[0].Request == ids[0] || again[1].Request == ids[0] {
		t.Fatalf("after the lease: %+v, %v; want the 2 not acked", again, err)
	}
	if w, tk, err := s.OutboxLen(ctx); err != nil || w != 0 || tk != 2 {
		t.Errorf("outbox len %d waiting, %d taken, %v; want 0, 2", w, tk, err)
	}
}

// TestOutboxCap: an append to a full outbox drops its oldest event, and the move counts it.
func TestOutboxCap(t *testing.T) {
	c := testredis.Start(t).Client()
	s := store.New(c)
	ctx := context.Background()
	fill := make([]any, 0, 10000)
	for i := 0; i < 10000; i++ {
		fill = append(fill, "old")
	}
	for n := 0; n < store.OutboxMax; n += len(fill) {
		if err := c.RPush(ctx, store.KeyOutbox, fill...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	u := urlsN(1)
	id, _, _, err := s.NewRequest(ctx, u, store.NewRequestOptions{Confirm: true, TTL: time.Hour, Link: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.MoveURLs(ctx, nil, u, store.Move{From: store.ReqWaiting, To: store.ReqDead, Events: store.EventsAll})
	if err != nil || got.Dropped != 2 {
		t.Fatalf("moved %+v, %v: want 2 dropped (a url_dead and a done)", got, err)
	}
	n, _ := c.LLen(ctx, store.KeyOutbox).Result()
	last, _ := c.LIndex(ctx, store.KeyOutbox, -1).Result()
	if n != store.OutboxMax || last != store.OutboxDone+"|"+id+"|" {
		t.Errorf("outbox of %d, last %q: want %d, ending with the new event", n, last, store.OutboxMax)
	}
}

// TestRequestDoneAtItsEndHasItsEvent: a request done when its producer ends it (here: no URL
// left to follow) gets its done event when it has a callback. One without gets it only once a
// worker says it has a default receiver (KeyOutboxEvents).
func TestRequestDoneAtItsEndHasItsEvent(t *testing.T) {
	c := testredis.Start(t).Client()
	s := store.New(c)
	ctx := context.Background()
	newReq := func(callback string) string {
		t.Helper()
		id, _, _, err := s.NewRequest(ctx, nil, store.NewRequestOptions{Confirm: true, TTL: time.Hour, Callback: callback})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	withCallback := newReq("https://hooks.example.com/a")
	newReq("")
	if err := s.PublishEvents(ctx, store.EventsCallback, time.Minute); err != nil {
		t.Fatal(err)
	}
	newReq("")
	if err := s.PublishEvents(ctx, store.EventsAll, time.Minute); err != nil {
		t.Fatal(err)
	}
	withDefault := newReq("")
	got, _ := c.LRange(ctx, store.KeyOutbox, 0, -1).Result()
	want := []string{store.OutboxDone + "|" + withCallback + "|", store.OutboxDone + "|" + withDefault + "|"}
	if !slices.Equal(got, want) {
		t.Errorf("outbox %q, want %q", got, want)
	}
}

// BenchmarkOutboxFootprint measures the Redis memory of the outbox per event, from MEMORY USAGE
// of KeyOutbox on a private redis-server. Each op is one request of one linked URL moved to dead:
// a request.url_dead and a request.done, with the 63-character canonical keys of urlsN.
//
//	go test -run '^$' -bench OutboxFootprint -benchtime 20000x ./internal/store/
func BenchmarkOutboxFootprint(b *testing.B) {
	c := testredis.Start(b).Client()
	s := store.New(c)
	ctx := context.Background()
	u := urlsN(b.N)
	for i := 0; i < b.N; i++ {
		if _, _, _, err := s.NewRequest(ctx, u[i:i+1], store.NewRequestOptions{Confirm: true, TTL: time.Hour, Link: true}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.MoveURLs(ctx, nil, u[i:i+1], store.Move{From: store.ReqWaiting, To: store.ReqDead, Events: store.EventsAll}); err != nil {
			b.Fatal(err)
		}
	}
	n, err := c.MemoryUsage(ctx, store.KeyOutbox, 0).Result()
	if err != nil {
		b.Fatal(err)
	}
	events, _ := c.LLen(ctx, store.KeyOutbox).Result()
	if events != int64(2*b.N) {
		b.Fatalf("%d events, want %d", events, 2*b.N)
	}
	b.ReportMetric(float64(n)/float64(events), "B/event")
}
