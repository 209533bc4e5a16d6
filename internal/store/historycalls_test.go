package store_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestMarkPerCall sends three URLs in one call and one of them again in a later call, then
// marks the first call confirmed as a status check does (all its URLs). The two URLs whose
// last send it was read confirmed with its uuid; the one sent again keeps its newer call's
// uuid and state. A mark of one URL alone gives it a state of its own, with its reason.
func TestMarkPerCall(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{"https://img.example.com/a.jpg", "https://img.example.com/b.jpg", "https://img.example.com/c.jpg"}
	const a, b = "4fc96d31-8d3a-4b7e-9f0a-00000000000a", "not-a-canonical-uuid-b"
	if err := s.Sent(ctx, urls, now-500, now-100, a, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Sent(ctx, urls[1:2], now-50, now, b, time.Hour); err != nil {
		t.Fatal(err)
	}
	rdb.ConfigResetStat(ctx)
	if err := s.MarkState(ctx, urls, a, store.StateConfirmed, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := commandCalls(t, ctx, rdb, "hset"); n != 1 {
		t.Errorf("a status check's mark of a whole call ran %d HSETs; want 1", n)
	}
	want := map[string][3]any{urls[0]: {a, store.StateConfirmed, now - 100}, urls[1]: {b, store.StateSent, now}, urls[2]: {a, store.StateConfirmed, now - 100}}
	for u, w := range want {
		r, ok, err := s.History(ctx, u)
		if err != nil || !ok || r.UUID != w[0] || r.State != w[1] || r.SentAt != w[2] {
			t.Errorf("%s after the call's mark: %+v, %v, %v; want uuid %v, state %v, sent %v", u, r, ok, err, w[0], w[1], w[2])
		}
	}
	// The call was marked once: its URLs' records are as the send wrote them.
	if err := s.MarkState(ctx, urls[2:], a, store.StateFailed, "listed under failed", time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.History(ctx, urls[2]); r.State != store.StateFailed || r.Detail != "listed under failed" || r.UUID != a {
		t.Errorf("a URL marked alone: %+v", r)
	}
	if r, _, _ := s.History(ctx, urls[0]); r.State != store.StateConfirmed || r.Detail != "" {
		t.Errorf("its call's other URL: %+v", r)
	}
	if err := s.MarkState(ctx, urls[1:2], b, store.StateUnconfirmed, "status checks gave up", time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.History(ctx, urls[1]); r.State != store.StateUnconfirmed || r.Detail != "status checks gave up" || r.UUID != b {
		t.Errorf("a one-URL call marked with a reason: %+v", r)
	}
	if err := s.MarkDead(ctx, urls[:1], "urls_t", "rejected", time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.History(ctx, urls[0]); r.State != store.StateDead || r.Detail != "rejected" || r.Task != "urls_t" || r.UUID != a {
		t.Errorf("a URL dead-lettered after its send: %+v", r)
	}
	// A call with a reason keeps it in a field of its own; a later mark without one clears it.
	const c = "4fc96d31-8d3a-4b7e-9f0a-00000000000c"
	if err := s.Sent(ctx, urls[:2], now-5, now+1, c, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{{store.StateUnconfirmed, "status checks gave up"}, {store.StateConfirmed, ""}} {
		if err := s.MarkState(ctx, urls[:2], c, m[0], m[1], time.Hour); err != nil {
			t.Fatal(err)
		}
		if r, _, _ := s.History(ctx, urls[1]); r.State != m[0] || r.Detail != m[1] || r.UUID != c {
			t.Errorf("a call marked %s (%q): %+v", m[0], m[1], r)
		}
	}
	// A request before a send is satisfied; one after it is not.
	adm, err := s.Admit(ctx, urls, now-150, store.Interactive, store.Limit{})
	if err != nil || adm.Verdict != store.Satisfied {
		t.Fatalf("a request before the sends: %+v, %v", adm, err)
	}
}

// TestHistoryCallLost deletes a call table, as an eviction or an operator could, and sends a new
// call that takes the lost call's number. The old URL must not show the new call's uuid.
func TestHistoryCallLost(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sent(ctx, []string{"https://img.example.com/old.jpg"}, now-20, now-10, "u-old", time.Hour); err != nil {
		t.Fatal(err)
	}
	keys := rdb.Keys(ctx, store.Prefix+"hc:*").Val()
	if len(keys) != 1 {
		t.Fatalf("call tables: %v", keys)
	}
	rdb.Del(ctx, keys[0])
	if err := s.Sent(ctx, []string{"https://img.example.com/new.jpg"}, now-5, now, "u-new", time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := s.History(ctx, "https://img.example.com/old.jpg"); err != nil || !ok || r.UUID != "" || r.State != store.StateSent || r.SentAt != now-10 {
		t.Fatalf("a URL whose call is lost: %+v, %v, %v", r, ok, err)
	}
	if err := s.MarkState(ctx, []string{"https://img.example.com/old.jpg"}, "u-new", store.StateConfirmed, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.History(ctx, "https://img.example.com/new.jpg"); r.State != store.StateSent || r.UUID != "u-new" {
		t.Fatalf("the new call was marked through a URL of the lost one: %+v", r)
	}
}

// TestHistoryExpirySetOnce sends 300 URLs in 20 calls and counts the PEXPIREATs Redis ran: one per
// bucket and call table created, none per URL. Every bucket and the call table expire at the
// epoch's end plus the TTL.
func TestHistoryExpirySetOnce(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	if err := s.UseHistoryTTL(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	urls := footprintKeys(300)
	send := func() {
		for i := 0; i < len(urls); i += 15 {
			if err := s.Sent(ctx, urls[i:i+15], now-10, now, "4fc96d31-8d3a-4b7e-9f0a-2b1c3d4e5f60", time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	rdb.ConfigResetStat(ctx)
	send()
	buckets := rdb.Keys(ctx, store.Prefix+"hb:*").Val()
	if got := commandCalls(t, ctx, rdb, "pexpireat"); got != int64(len(buckets))+1 {
		t.Errorf("%d PEXPIREATs for %d buckets and one call table (300 URLs)", got, len(buckets))
	}
	epoch := store.HistoryEpoch(time.Hour)
	want := now - now%epoch + epoch + time.Hour.Milliseconds()
	for _, k := range append(buckets, store.HistoryCallsKey(now, epoch)) {
		if !store.IsHistoryKey(k) {
			t.Errorf("IsHistoryKey(%q) is false: the bench would not count it as history", k)
		}
		if at := rdb.PExpireTime(ctx, k).Val().Milliseconds(); at != want {
			t.Errorf("%s expires at %d, want %d", k, at, want)
		}
	}
	rdb.ConfigResetStat(ctx)
	send() // the same URLs again: every bucket and the call table exist
	if got := commandCalls(t, ctx, rdb, "pexpireat"); got != 0 {
		t.Errorf("%d PEXPIREATs for 300 URLs sent again into existing buckets", got)
	}
}

// TestReadsHistoryOf060b371 writes a record as 060b371 wrote it in the epoch buckets (the uuid
// in the record) and checks that this code reads it: a lookup shows it, admission drops a request
// it satisfies, a status check's mark reaches it, and a new send takes over from it.
func TestReadsHistoryOf060b371(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const u = "https://img.example.com/060b371.jpg"
	const uuid = "4fc96d31-8d3a-4b7e-9f0a-2b1c3d4e5f60"
	f, shard := store.HistoryField(u)
	sent := now - 60_000
	epoch := store.HistoryEpoch(7 * 24 * time.Hour)
	packed, _ := hex.DecodeString(strings.ReplaceAll(uuid, "-", ""))
	// state code (upper case: the uuid is packed), sent ms (6 bytes), delay (5 bytes), uuid
	v := "S" + string(be(sent, 6)) + string(be(250, 5)) + string(packed)
	key := store.HistoryEpochKey(sent, epoch, shard)
	if err := rdb.HSet(ctx, key, f, v).Err(); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.History(ctx, u)
	if err != nil || !ok || got.SentAt != sent || got.RequestedAt != sent-250 || got.UUID != uuid || got.State != store.StateSent {
		t.Fatalf("060b371's record read as %+v, %v, %v", got, ok, err)
	}
	if adm, err := s.Admit(ctx, []string{u}, sent-1, store.Interactive, store.Limit{}); err != nil || adm.Verdict != store.Satisfied {
		t.Fatalf("a request before 060b371's send: %+v, %v", adm, err)
	}
	if err := s.MarkState(ctx, []string{u}, uuid, store.StateConfirmed, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.History(ctx, u); got.State != store.StateConfirmed || got.UUID != uuid || got.SentAt != sent {
		t.Fatalf("060b371's record after its confirmation: %+v", got)
	}
	if err := s.Sent(ctx, []string{u}, now-10, now, "u-2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.History(ctx, u); got.State != store.StateSent || got.UUID != "u-2" || got.SentAt != now || got.RequestedAt != now-10 {
		t.Fatalf("a new send over 060b371's record: %+v", got)
	}
}

// be is n big-endian bytes of v.
func be(v int64, n int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return b[8-n:]
}

// TestSendClearsThePerURLHash: a send deletes a URL's own hash when the send covers what it
// holds (a dead letter's reason and task), and keeps only a queued request made after the send.
func TestSendClearsThePerURLHash(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const dead, queued = "https://img.example.com/dead.jpg", "https://img.example.com/queued.jpg"
	if err := s.MarkDead(ctx, []string{dead}, "urls_t", "rejected", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, store.HistoryKey(queued), store.FieldQueued, now+5, store.FieldTask, "urls_q").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sent(ctx, []string{dead, queued}, now-10, now, "u-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, store.HistoryKey(dead)).Val(); n != 0 {
		t.Errorf("a dead letter's hash outlives the send that covers it")
	}
	if m := rdb.HGetAll(ctx, store.HistoryKey(queued)).Val(); len(m) != 2 || m[store.FieldTask] != "urls_q" {
		t.Errorf("a request queued after the send: its hash holds %v", m)
	}
	if r, _, _ := s.History(ctx, dead); r.State != store.StateSent || r.UUID != "u-1" || r.Detail != "" || r.Task != "" {
		t.Errorf("a dead letter sent again: %+v", r)
	}
}

// TestReadsCallsOfe19948e writes a call's entry as e19948e wrote it (a field of its own, named by
// the call's number, in place of a slot of a group) and checks that a lookup reads it and a
// status check marks it there, with its reason.
func TestReadsCallsOfe19948e(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{"https://img.example.com/e1.jpg", "https://img.example.com/e2.jpg"}
	const uuid = "4fc96d31-8d3a-4b7e-9f0a-2b1c3d4e5f60"
	if err := s.Sent(ctx, urls, now-10, now, uuid, time.Hour); err != nil {
		t.Fatal(err)
	}
	ck := store.HistoryCallsKey(now, store.HistoryEpoch(7*24*time.Hour))
	packed, _ := hex.DecodeString(strings.ReplaceAll(uuid, "-", ""))
	// state code (upper case: packed uuid), URLs, sent ms (6 bytes), uuid length, uuid
	entry := "S" + string(be(2, 1)) + string(be(now, 6)) + string(be(16, 1)) + string(packed)
	if err := rdb.HDel(ctx, ck, store.FieldCallsGroup+"0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, ck, "1", entry).Err(); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := s.History(ctx, urls[1]); err != nil || !ok || r.UUID != uuid || r.State != store.StateSent {
		t.Fatalf("a call of e19948e read as %+v, %v, %v", r, ok, err)
	}
	if err := s.MarkState(ctx, urls, uuid, store.StateUnconfirmed, "still running after 1h", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		if r, _, _ := s.History(ctx, u); r.UUID != uuid || r.State != store.StateUnconfirmed || r.Detail != "still running after 1h" {
			t.Errorf("%s after its call of e19948e was marked: %+v", u, r)
		}
	}
	if n := rdb.HLen(ctx, ck).Val(); n != 2 {
		t.Errorf("the call table holds %d fields; want the counter and the call's own", n)
	}
}

// TestMarkCalls: calls marked together, on a Redis that has not loaded the script yet, each end
// in the state; a call named with fewer URLs than it sent is marked URL by URL, and its other
// URL keeps its state.
func TestMarkCalls(t *testing.T) {
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := urlsN(7)
	uuid := func(i int) string { return fmt.Sprintf("4fc96d31-8d3a-4b7e-9f0a-%012d", i) }
	calls := []store.Call{{UUID: uuid(1), URLs: u[:3]}, {UUID: uuid(2), URLs: u[3:5]}, {UUID: uuid(3), URLs: u[5:7]}}
	for _, c := range calls {
		if err := s.Sent(ctx, c.URLs, now-10, now, c.UUID, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	calls[2].URLs = u[5:6] // a part of its call
	if err := s.MarkCalls(ctx, calls, store.StateConfirmed, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkCalls(ctx, calls[:2], store.StateConfirmed, time.Hour); err != nil { // the script loaded
		t.Fatal(err)
	}
	for i, x := range u {
		want := store.StateConfirmed
		if i == 6 {
			want = store.StateSent
		}
		if r, _, err := s.History(ctx, x); err != nil || r.State != want {
			t.Errorf("URL %d after the marks: %+v, %v; want %s", i, r, err, want)
		}
	}
}
