package store_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestHistoryFootprint drains 50,000 URLs the way the worker does (queued in request tasks, then
// sent 15 per call and confirmed) and checks that what stays in Redis is at most 64 bytes per URL
// of INFO used_memory (the delta over the pending set and queued records, which are gone).
func TestHistoryFootprint(t *testing.T) {
	const n, most = 50_000, 64
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	keys := footprintKeys(n)
	before := testredis.UsedMemory(t, ctx, rdb)
	drainForFootprint(t, s, keys, 0)
	per := float64(testredis.UsedMemory(t, ctx, rdb)-before) / n
	t.Logf("history: %.1f bytes of used_memory per URL sent (%d URLs)", per, n)
	logMemoryParts(t, ctx, rdb, n)
	if per > most {
		t.Fatalf("history costs %.1f bytes per URL; at most %d", per, most)
	}
	// and it still answers: the last URL is confirmed, with its uuid
	rec, ok, err := s.History(ctx, keys[n-1])
	if err != nil || !ok || rec.State != store.StateConfirmed || rec.UUID == "" || rec.SentAt == 0 {
		t.Fatalf("history of %s: %+v, %v, %v", keys[n-1], rec, ok, err)
	}
	first, _, err := s.History(ctx, keys[0])
	if err != nil || first.SentAt == 0 {
		t.Fatalf("history of %s: %+v, %v", keys[0], first, err)
	}
	adm, err := s.Admit(ctx, []string{keys[0], keys[n-1]}, first.SentAt-1, store.Interactive, store.Limit{})
	if err != nil || adm.Verdict != store.Satisfied {
		t.Fatalf("a request before the sends: %+v, %v", adm, err)
	}
}

// TestHistoryFootprintWithRequests drains 50,000 URLs as TestHistoryFootprint does, first with
// no request, then with each URL in a request of its producer call, linked and moved as the
// worker moves it. It logs what stays per URL sent, and what the requests add over the drain
// without them, per URL and per request. Each request must end done, with no link left. A
// request's record, by MEMORY USAGE, must stay under maxRequestBytes whatever its number of URLs.
//
//	go test -count=1 -run 'TestHistoryFootprint' -v ./internal/store/
func TestHistoryFootprintWithRequests(t *testing.T) {
	const n, maxRequestBytes = 50_000, 3000
	var alone float64
	for _, per := range []int{0, 1, 15, 1000} {
		rdb := testredis.Start(t).Client()
		s, ctx := store.New(rdb), context.Background()
		before := testredis.UsedMemory(t, ctx, rdb)
		ids := drainForFootprint(t, s, footprintKeys(n), per)
		all := float64(testredis.UsedMemory(t, ctx, rdb)-before) / n
		if per == 0 {
			alone = all
			t.Logf("no request: %.1f bytes of used_memory per URL sent", all)
			continue
		}
		if links := rdb.HLen(ctx, store.KeyRequestLinks).Val(); links != 0 {
			t.Errorf("%d URLs a request: %d URLs are still linked to a request", per, links)
		}
		for _, id := range []string{ids[0], ids[len(ids)-1]} {
			if r, err := s.Request(ctx, id); err != nil || r.Done.IsZero() || r.Counts[store.ReqConfirmed] != r.Total {
				t.Errorf("request %s: %+v, %v; want done, every URL confirmed", id, r, err)
			}
		}
		added := (all - alone) * n / float64(len(ids))
		t.Logf("%d requests of %d URLs: %.1f bytes of used_memory per URL sent, %.1f more than with no request: %.0f per request",
			len(ids), per, all, all-alone, added)
		// The bound is checked on the record itself. The used_memory difference above is
		// divided by few requests when they are large, so its noise is too big to judge.
		for _, id := range []string{ids[0], ids[len(ids)-1]} {
			b := rdb.MemoryUsage(ctx, store.RequestKey(id), 0).Val()
			t.Logf("request %s of %d URLs: its record holds %d bytes", id, per, b)
			if b == 0 || b > maxRequestBytes {
				t.Errorf("the record of a request of %d URLs holds %d bytes; want 1 to %d", per, b, maxRequestBytes)
			}
		}
	}
}

// logMemoryParts logs where used_memory goes per URL: MEMORY USAGE of the history's buckets
// (records, key names, one dict entry each) and of its call tables, the keyspace's dict and
// expires dict (MEMORY STATS), and Lua's script cache with the clients' buffers.
func logMemoryParts(t *testing.T, ctx context.Context, rdb *redis.Client, n int) {
	t.Helper()
	sum := func(match string) (usage, keys, fields int64) {
		iter := rdb.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			u, _ := rdb.MemoryUsage(ctx, iter.Val(), 0).Result()
			usage += u
			keys++
			fields += rdb.HLen(ctx, iter.Val()).Val()
		}
		return usage, keys, fields
	}
	usage, keys, fields := sum(store.Prefix + "hb:*")
	cusage, ckeys, cfields := sum(store.Prefix + "hc:*")
	st, err := rdb.Do(ctx, "MEMORY", "STATS").Result()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.(map[any]any)
	db, _ := m["db.0"].(map[any]any)
	num := func(v any) float64 {
		switch x := v.(type) {
		case int64:
			return float64(x)
		case float64:
			return x
		}
		return 0
	}
	per := func(v float64) float64 { return v / float64(n) }
	t.Logf("per URL: buckets' MEMORY USAGE %.1f B (%d keys, %d fields); call tables' %.1f B (%d keys, %d fields); keyspace dict %.1f B; expires dict %.1f B; Lua scripts %.1f B; clients %.1f B",
		per(float64(usage)), keys, fields, per(float64(cusage)), ckeys, cfields, per(num(db["overhead.hashtable.main"])), per(num(db["overhead.hashtable.expires"])),
		per(num(m["lua.caches"])), per(num(m["clients.normal"])))
}

// footprintKeys returns n canonical keys of a realistic length.
func footprintKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("https://img.example.com/media/2026/11/%08d-product-photo.jpg", i)
	}
	return keys
}

// drainForFootprint queues keys in request tasks, 1,500 at a time, sends them 15 per call and
// confirms them, as the worker does. With perRequest > 0 the keys first come in linked requests
// of perRequest URLs, and each send and confirmation moves them for their requests, as the
// worker's moveRequests does. It returns the request IDs.
func drainForFootprint(t *testing.T, s *store.Store, keys []string, perRequest int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	move := func(urls []string, m store.Move) {
		if perRequest > 0 {
			if _, err := s.MoveURLs(ctx, nil, urls, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	for start := 0; start < len(keys); start += 1500 {
		chunk := keys[start:min(start+1500, len(keys))]
		for j := 0; perRequest > 0 && j < len(chunk); j += perRequest {
			id, _, _, err := s.NewRequest(ctx, chunk[j:min(j+perRequest, len(chunk))], store.NewRequestOptions{Confirm: true, TTL: time.Hour, Link: true})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if _, err := s.AddPending(ctx, "", chunk); err != nil {
			t.Fatal(err)
		}
		tasks := make([]string, 0, len(chunk))
		for range chunk {
			tasks = append(tasks, "urls_"+strconv.Itoa(start))
		}
		// the pending entries' request times, as the batcher reads them
		got, _, err := s.DueEntries(ctx, store.Window{Batch: 15, MaxClaim: 1500})
		if err != nil || len(got) != len(chunk) {
			t.Fatalf("%d due of %d: %v", len(got), len(chunk), err)
		}
		if err := s.RemovePending(ctx, got, tasks, time.Hour); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < len(got); j += 15 {
			part := got[j:min(j+15, len(got))]
			urls := make([]string, len(part))
			for k, e := range part {
				urls[k] = e.Key
			}
			uuid := fmt.Sprintf("4fc96d31-8d3a-4b7e-9f0a-%012d", start+j)
			if err := s.Sent(ctx, urls, part[len(part)-1].RequestedAt, part[len(part)-1].RequestedAt+300, uuid, time.Hour); err != nil {
				t.Fatal(err)
			}
			// The worker moves every send's URLs, linked or not: the move drops their queued records.
			sent := store.Move{From: store.ReqWaiting, To: store.ReqSent, Keep: true, Covers: part[len(part)-1].RequestedAt}
			if _, err := s.MoveURLs(ctx, nil, urls, sent); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkState(ctx, urls, uuid, store.StateConfirmed, "", time.Hour); err != nil {
				t.Fatal(err)
			}
			move(urls, store.Move{From: store.ReqSent, To: store.ReqConfirmed})
		}
	}
	return ids
}

// TestHistoryFootprintSparse sends 1,000,000 URLs a week, spread evenly over a simulated week,
// and checks the history's used_memory per URL. It keeps only the URLs of 64 of the 4,096
// shards (1/64 of the stream): each shard's buckets are keys of their own, filled by its URLs
// alone, so the bytes per URL of a sample of shards are those of the whole history. The sends
// carry their simulated times; their buckets expire after the week, so all of them are counted.
// The per-second send counters of the simulated seconds (which live two minutes) are deleted
// before the reading.
func TestHistoryFootprintSparse(t *testing.T) {
	const (
		perWeek = 1_000_000
		shards  = 64
		most    = 64 // as TestHistoryFootprint
	)
	rdb := testredis.Start(t).Client()
	s, ctx := store.New(rdb), context.Background()
	used := func() int64 { return testredis.UsedMemory(t, ctx, rdb) }
	week := (7 * 24 * time.Hour).Milliseconds()
	start := time.Now().UnixMilli()
	before := used()
	var call []string
	sent, calls := 0, 0
	var secs []string
	flush := func(at int64) {
		if len(call) == 0 {
			return
		}
		uuid := fmt.Sprintf("4fc96d31-8d3a-4b7e-9f0a-%012d", calls)
		if err := s.Sent(ctx, call, at-2000, at, uuid, 7*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		secs = append(secs, store.SentSecondKey(at/1000), store.CallsSecondKey(at/1000))
		sent += len(call)
		calls++
		call = call[:0]
	}
	for j := range perWeek {
		u := fmt.Sprintf("https://img.example.com/media/2026/11/%08d-product-photo.jpg", j)
		if _, shard := store.HistoryField(u); shard >= shards {
			continue
		}
		call = append(call, u)
		if len(call) == 15 {
			flush(start + int64(j)*week/perWeek)
		}
	}
	flush(start + week)
	for i := 0; i < len(secs); i += 500 {
		if err := rdb.Del(ctx, secs[i:min(i+500, len(secs))]...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(used()-before) / float64(sent)
	t.Logf("history at %d URLs a week: %.1f bytes of used_memory per URL (%d URLs of %d shards, %d calls)", perWeek, per, sent, shards, calls)
	logMemoryParts(t, ctx, rdb, sent)
	if per > most {
		t.Fatalf("history costs %.1f bytes per URL at %d URLs a week; at most %d", per, perWeek, most)
	}
}
