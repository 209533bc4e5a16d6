package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
)

// BenchmarkFootprint measures Redis memory per URL: waiting in the pending set, and kept in the
// history after it was sent (PURGE_HISTORY_TTL). It reports bytes/URL from INFO used_memory on a
// private redis-server; URLs look like real keys (about 60 bytes).
//
// The sends carry the Redis clock: a send long ago would go to buckets that expired already.
//
//	go test -run '^$' -bench '^BenchmarkFootprint$' -benchtime 20000x ./internal/store/
func BenchmarkFootprint(b *testing.B) {
	for _, kind := range []string{"pending", "history"} {
		b.Run(kind, func(b *testing.B) {
			r := testredis.Start(b)
			c := r.Client()
			s := store.New(c)
			ctx := context.Background()
			used := func() int64 { return testredis.UsedMemory(b, ctx, c) }
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = fmt.Sprintf("https://img.example.com/media/2026/11/%08d-product-photo.jpg", i)
			}
			now, err := s.Now(ctx)
			if err != nil {
				b.Fatal(err)
			}
			before := used()
			b.ResetTimer()
			for start := 0; start < len(keys); start += 1000 {
				chunk := keys[start:min(start+1000, len(keys))]
				var err error
				if kind == "pending" {
					_, err = s.AddPending(ctx, "", chunk)
				} else {
					for j := 0; j < len(chunk); j += 15 {
						part := chunk[j:min(j+15, len(chunk))]
						err = s.Sent(ctx, part, now-10, now, "4fc96d31-8d3a-4b7e-9f0a-2b1c3d4e5f60", time.Hour)
						if err != nil {
							break
						}
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(used()-before)/float64(b.N), "bytes/URL")
		})
	}
}
