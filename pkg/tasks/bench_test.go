package tasks

import (
	"strconv"
	"testing"
	"time"
)

// benchKeys returns n canonical keys shaped like real ones (about 60 bytes).
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "https://img.example.com/catalog/2026/11/product-" + strconv.Itoa(100000+i) + "-front.jpg"
	}
	return keys
}

func benchPayload() URLs {
	return URLs{URLs: benchKeys(MaxURLsPerTask), RequestedAt: time.UnixMilli(1_790_000_000_123).UTC(), Origin: OriginInteractive}
}

// BenchmarkDecodeURLs is the worker's cost to read a request task's payload.
func BenchmarkDecodeURLs(b *testing.B) {
	payload, err := EncodeURLs(benchPayload())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeURLs(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkURLsTaskID is the task-ID rule alone (a SHA-256 over the URLs).
func BenchmarkURLsTaskID(b *testing.B) {
	p := benchPayload()
	b.ReportAllocs()
	for b.Loop() {
		_ = URLsTaskID(p)
	}
}

// BenchmarkSplit cuts one batcher step's worth of keys (1,500) into API-sized requests.
func BenchmarkSplit(b *testing.B) {
	keys := benchKeys(100 * MaxURLsPerTask)
	b.ReportAllocs()
	for b.Loop() {
		if got := Split(keys, MaxURLsPerTask); len(got) != 100 {
			b.Fatalf("%d chunks, want 100", len(got))
		}
	}
}
