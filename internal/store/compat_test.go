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

// TestReadsDataOfTheOldFormat writes Redis data exactly as the code before schema.go and the
// embedded scripts wrote it (keys and fields spelled out), and reads and drains it with this code.
func TestReadsDataOfTheOldFormat(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := now - 10_000
	for _, cmd := range [][]any{
		{"ZADD", "cipurge:{cipurge}:pending", old, "https://img.example.com/p1.jpg", old + 1, "https://img.example.com/p2.jpg"},
		{"HSET", "cipurge:{cipurge}:src", "https://img.example.com/p1.jpg", "cms"},
		{"HSET", "cipurge:{cipurge}:h:https://img.example.com/s.jpg", "req", old - 5, "sent", old, "uuid", "u-1", "st", "sent", "q", old - 5, "task", "urls_x"},
		{"HSET", "cipurge:{cipurge}:all", "requested_at", old - 100, "sent_at", old - 50, "uuid", "all-1"},
		{"HSET", "cipurge:{cipurge}:stats", "urls_sent", 7, "calls", 2, "dropped", 1},
		{"SET", "cipurge:{cipurge}:pause", "Cloudimage answered 429", "PX", 60_000},
	} {
		if err := rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(cmd, err)
		}
	}

	rec, ok, err := s.History(ctx, "https://img.example.com/s.jpg")
	if err != nil || !ok || rec.SentAt != old || rec.RequestedAt != old-5 || rec.UUID != "u-1" || rec.State != store.StateSent || rec.Task != "urls_x" {
		t.Fatalf("old history read as %+v, %v, %v", rec, ok, err)
	}
	all, err := s.AllState(ctx)
	if err != nil || all.SentAt != old-50 || all.RequestedAt != old-100 || all.UUID != "all-1" {
		t.Fatalf("old flush-all record read as %+v, %v", all, err)
	}
	if tot, err := s.Totals(ctx); err != nil || tot != (store.Totals{URLsSent: 7, Calls: 2, Dropped: 1}) {
		t.Fatalf("old totals read as %+v, %v", tot, err)
	}
	if reason, left, err := s.PauseState(ctx); err != nil || left <= 0 || reason != "Cloudimage answered 429" {
		t.Fatalf("old pause read as %q %v %v", reason, left, err)
	}
	// The old pause holds admission; an old send drops a request made before it.
	adm, err := s.Admit(ctx, []string{"https://img.example.com/s.jpg", "https://img.example.com/n.jpg"}, old-1, store.Interactive, store.Limit{})
	if err != nil || adm.Verdict != store.Paused || !adm.Dropped[0] || adm.Dropped[1] {
		t.Fatalf("admission over old data: %+v, %v", adm, err)
	}
	// The old pending requests drain: due, with their source, removed with their task recorded.
	due, _, err := s.DueEntries(ctx, store.Window{Window: time.Second, MaxDelay: time.Second, Batch: 15, MaxClaim: 1500})
	if err != nil || len(due) != 2 || due[0].RequestedAt != old {
		t.Fatalf("old pending entries due: %+v, %v", due, err)
	}
	if src, err := s.Sources(ctx, due); err != nil || src["https://img.example.com/p1.jpg"] != "cms" {
		t.Fatalf("old sources: %v, %v", src, err)
	}
	if err := s.RemovePending(ctx, due, []string{"t1", "t1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.PendingCount(ctx); err != nil || n != 0 {
		t.Fatalf("%d old entries left pending (%v)", n, err)
	}
	if rec, _, _ := s.History(ctx, "https://img.example.com/p2.jpg"); rec.Task != "t1" || rec.QueuedAt != old+1 {
		t.Fatalf("queued record of an old entry: %+v", rec)
	}
	// A send by this code goes to the bucketed history and takes over from the old record.
	if err := s.Sent(ctx, []string{"https://img.example.com/s.jpg"}, old, now, "u-2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := s.History(ctx, "https://img.example.com/s.jpg"); err != nil || !ok || rec.SentAt != now || rec.UUID != "u-2" || rec.State != store.StateSent {
		t.Fatalf("history after a new send over old data: %+v, %v, %v", rec, ok, err)
	}
	if n, err := rdb.Exists(ctx, "cipurge:{cipurge}:h:https://img.example.com/s.jpg").Result(); err != nil || n != 0 {
		t.Fatalf("the old per-URL hash outlives the send that covers it: %d, %v", n, err)
	}
}

// TestOldHistoryHonoured writes a history hash as the version before the bucketed history wrote it
// and checks that admission drops a request it satisfies, a confirmation marks it, and status reads it.
func TestOldHistoryHonoured(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const u = "https://img.example.com/old.jpg"
	if err := rdb.HSet(ctx, "cipurge:{cipurge}:h:"+u, "req", now-20_000, "sent", now-10_000, "uuid", "u-old", "st", "sent").Err(); err != nil {
		t.Fatal(err)
	}
	adm, err := s.Admit(ctx, []string{u}, now-15_000, store.Interactive, store.Limit{})
	if err != nil || adm.Verdict != store.Satisfied {
		t.Fatalf("a request before the old send: %+v, %v", adm, err)
	}
	if adm, err = s.Admit(ctx, []string{u}, now-5_000, store.Interactive, store.Limit{}); err != nil || adm.Verdict != store.Go {
		t.Fatalf("a request after the old send: %+v, %v", adm, err)
	}
	// Beside URLs with no per-URL hash, the old hash is still read (admit reads the hashes only
	// when one of them exists).
	both := []string{"https://img.example.com/new.jpg", u}
	if adm, err = s.Admit(ctx, both, now-15_000, store.Interactive, store.Limit{}); err != nil || adm.Verdict != store.Go || !slices.Equal(adm.Live(both), both[:1]) {
		t.Fatalf("a request before the old send, beside a new URL: %+v, %v", adm, err)
	}
	if err := s.MarkState(ctx, []string{u}, "u-old", store.StateConfirmed, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := s.History(ctx, u); err != nil || !ok || rec.State != store.StateConfirmed || rec.UUID != "u-old" || rec.SentAt != now-10_000 {
		t.Fatalf("old record after its confirmation: %+v, %v, %v", rec, ok, err)
	}
}

// TestHourlyHistoryOf000c5dfIsRead writes the hourly history bucket of version 000c5df (its key
// and text record spelled out) and checks that it is moved into the epoch buckets and read there:
// a lookup shows it, admission drops a request it satisfies, a confirmation marks it.
func TestHourlyHistoryOf000c5dfIsRead(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const u = "https://img.example.com/hourly.jpg"
	const uuid = "4fc96d31-8d3a-4b7e-9f0a-2b1c3d4e5f60"
	f, shard := store.HistoryField(u)
	sent := now - 3*3600_000
	hour := sent - sent%3600_000
	key := fmt.Sprintf("cipurge:{cipurge}:hh:%d:%d", hour/1000, shard%1024)
	rec := fmt.Sprintf("s%013d %d %s", sent, 250, uuid)
	if err := rdb.HSet(ctx, key, f, rec).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.PExpire(ctx, key, 7*24*time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.History(ctx, u)
	if err != nil || !ok || got.SentAt != sent || got.RequestedAt != sent-250 || got.UUID != uuid || got.State != store.StateSent {
		t.Fatalf("hourly history read as %+v, %v, %v", got, ok, err)
	}
	if n, _ := rdb.Exists(ctx, key).Result(); n != 0 {
		t.Fatalf("the hourly bucket outlives its move")
	}
	if adm, err := s.Admit(ctx, []string{u}, sent-1, store.Interactive, store.Limit{}); err != nil || adm.Verdict != store.Satisfied {
		t.Fatalf("a request before the hourly send: %+v, %v", adm, err)
	}
	if err := s.MarkState(ctx, []string{u}, uuid, store.StateConfirmed, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.History(ctx, u); got.State != store.StateConfirmed || got.UUID != uuid {
		t.Fatalf("hourly record after its confirmation: %+v", got)
	}
}
