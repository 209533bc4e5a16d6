package enqueuecmd

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// benchLines returns n input lines of distinct images in the forms users hold.
func benchLines(n int) []string {
	out := make([]string, n)
	for i := range out {
		path := "img.example.com/catalog/" + strconv.Itoa(i/1000) + "/photo-" + strconv.Itoa(i) + ".jpg"
		switch i % 3 {
		case 0:
			out[i] = "https://" + path
		case 1:
			out[i] = "https://demo.cloudimg.io/" + path + "?w=600"
		default:
			out[i] = "http://" + strings.ToUpper(path[:15]) + path[15:] + "#top"
		}
	}
	return out
}

// BenchmarkLineReader reads a file of URLs line by line.
func BenchmarkLineReader(b *testing.B) {
	data := []byte(strings.Join(benchLines(10000), "\n") + "\n")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		lr := newLineReader(bytes.NewReader(data), normalize.MaxInputLen)
		for {
			_, _, _, ok, err := lr.next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
}

// BenchmarkIngestDryRun is the enqueue command's own work per line without Redis: read,
// normalise, dedupe, print the key (--dry-run).
func BenchmarkIngestDryRun(b *testing.B) {
	lines := benchLines(10000)
	data := strings.Join(lines, "\n") + "\n"
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		src := newLineReader(strings.NewReader(data), normalize.MaxInputLen)
		s, err := ingest(b.Context(), src, norm, nil, ingestOptions{dryRun: true, senders: 1, batch: 500}, io.Discard, newPrinter(io.Discard, false))
		if err != nil || s.Accepted != int64(len(lines)) {
			b.Fatalf("accepted %v of %d: %v", s, len(lines), err)
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}
