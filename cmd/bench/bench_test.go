package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// TestFormsNormaliseToTheKey: every spelling the data sets use is the same image to the product,
// so that the enqueue rows' expected counts (distinct images) are right.
func TestFormsNormaliseToTheKey(t *testing.T) {
	n, err := normalize.New(normalize.Config{Token: benchToken})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		for f := range numForms {
			got, err := n.Normalize(form("set", i, f))
			if err != nil {
				t.Fatalf("form %d of image %d (%s): %v", f, i, form("set", i, f), err)
			}
			if want := imageKey("set", i); got != want {
				t.Errorf("form %d of image %d (%s) normalises to %s, want %s", f, i, form("set", i, f), got, want)
			}
		}
	}
}

// TestWriteDuplicates: the duplicate-heavy file has the asked number of lines, a third of them
// distinct images, and the same content on every run.
func TestWriteDuplicates(t *testing.T) {
	dir := t.TempDir()
	ds, err := writeDuplicates(filepath.Join(dir, "a.txt"), "d", 1000)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := readLines(ds.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1000 || ds.lines != 1000 || ds.uniques != 334 {
		t.Fatalf("%d lines (reported %d), %d distinct; want 1000 and 334", len(lines), ds.lines, ds.uniques)
	}
	n, _ := normalize.New(normalize.Config{Token: benchToken})
	keys := map[string]bool{}
	for _, l := range lines {
		k, err := n.Normalize(l)
		if err != nil {
			t.Fatal(err)
		}
		keys[k] = true
	}
	if len(keys) != ds.uniques {
		t.Errorf("%d distinct keys, want %d", len(keys), ds.uniques)
	}
	again, _ := writeDuplicates(filepath.Join(dir, "b.txt"), "d", 1000)
	lines2, _ := readLines(again.path)
	for i := range lines {
		if lines[i] != lines2[i] {
			t.Fatalf("line %d differs between two runs: %q, %q", i+1, lines[i], lines2[i])
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 50; i++ {
		ds = append(ds, time.Duration(51-i)*time.Millisecond) // unsorted
	}
	if got := percentile(ds, 95); got != 48*time.Millisecond {
		t.Errorf("p95 of 1..50 ms = %s, want 48ms (nearest rank)", got)
	}
	if got := percentile(ds, 50); got != 25*time.Millisecond {
		t.Errorf("p50 of 1..50 ms = %s, want 25ms", got)
	}
	if got := percentile(ds, 100); got != 50*time.Millisecond {
		t.Errorf("max = %s, want 50ms", got)
	}
	if got := percentile(nil, 95); got != 0 {
		t.Errorf("p95 of nothing = %s", got)
	}
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	cases := []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0), 1},
		{at(0, 999), 2},
		{at(0, 1000), 1}, // half-open: [t, t+1s)
		{at(0, 0, 0, 500, 1200, 1300, 1400, 1999), 4},
		{at(0, 0, 0, 500, 999, 1000), 5},
	}
	for i, c := range cases {
		if got := maxInWindow(c.times, time.Second); got != c.want {
			t.Errorf("case %d: %d, want %d", i, got, c.want)
		}
	}
	if got := countIn(at(0, 500, 1000, 1500), t0.Add(500*time.Millisecond), t0.Add(1500*time.Millisecond)); got != 2 {
		t.Errorf("countIn [500ms, 1500ms) = %d, want 2", got)
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := group(in); got != want {
			t.Errorf("group(%d) = %q, want %q", in, got, want)
		}
	}
	if got := ratio(3, 2); got != "1.50x" {
		t.Errorf("ratio(3, 2) = %q", got)
	}
	if got := ratio(1, 0); got != "n/a" {
		t.Errorf("ratio(1, 0) = %q", got)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-smoke", "-rows", "drain,rate"}, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if !o.smoke || !o.rows["drain"] || !o.rows["rate"] || o.rows["enqueue"] {
		t.Errorf("parsed %+v", o)
	}
	if o, err := parseFlags([]string{"-rows", "confirmcost"}, testWriter{t}); err != nil || !o.rows["confirm"] || !o.costOnly || o.rows["drain"] {
		t.Errorf("-rows confirmcost parsed %+v, %v; want the confirm row's cost pair only", o, err)
	}
	if o, err := parseFlags([]string{"-rows", "pace100"}, testWriter{t}); err != nil || !o.rows["pace"] || !o.paceFast || o.rows["drain"] {
		t.Errorf("-rows pace100 parsed %+v, %v; want the pace row at 100/s only", o, err)
	}
	if _, err := parseFlags([]string{"-rows", "drian"}, testWriter{t}); err == nil {
		t.Error("an unknown row was accepted")
	}
	if _, err := parseFlags([]string{"-concurrency", "0"}, testWriter{t}); err == nil {
		t.Error("-concurrency 0 was accepted")
	}
	b := &bench{o: &options{args: []string{"-md", "x.md", "-smoke", "-keep"}}}
	if got := b.command(); got != "make bench-smoke   (go run ./cmd/bench -smoke)" {
		t.Errorf("reproduce command %q", got)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
