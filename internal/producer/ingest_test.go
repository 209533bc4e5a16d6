package producer

import (
	"hash/maphash"
	"strconv"
	"testing"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// BenchmarkDedupe is the per-key cost of finding duplicates within one input, over a million
// distinct keys (the set grows as it does in a real run).
func BenchmarkDedupe(b *testing.B) {
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = "https://img.example.com/catalog/" + strconv.Itoa(i/1000) + "/photo-" + strconv.Itoa(i) + ".jpg"
	}
	b.ReportAllocs()
	i := 0
	var d *dedupe
	for b.Loop() {
		if i%len(keys) == 0 {
			d = newDedupe()
		}
		d.add(keys[i%len(keys)])
		i++
	}
}

// TestDedupeFirstHalfCollision: two different keys whose first 64-bit fingerprints collide are
// both new, and each is a duplicate the second time.
func TestDedupeFirstHalfCollision(t *testing.T) {
	d := newDedupe()
	a, b := "https://img.example.com/a.jpg", "https://img.example.com/b.jpg"
	if !d.add(a) {
		t.Fatal("first key reported as a duplicate")
	}
	// Make b's first half collide with a different second half, as a 64-bit collision would.
	d.seen[maphash.String(d.s1, b)] = maphash.String(d.s2, b) + 1
	if !d.add(b) {
		t.Error("a key whose first half collides with another key's was reported as a duplicate")
	}
	if d.add(b) {
		t.Error("the colliding key, added again, was not reported as a duplicate")
	}
	if d.add(a) {
		t.Error("the first key, added again, was not reported as a duplicate")
	}
}

// TestIngest: new, repeated (after normalisation) and rejected inputs.
func TestIngest(t *testing.T) {
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	in := NewIngest(norm)
	for _, c := range []struct {
		raw      string
		dup, bad bool
	}{
		{"https://img.example.com/a.jpg", false, false},
		{"https://img.example.com/b.jpg", false, false},
		{"https://img.example.com/a.jpg#top", true, false},
		{"not a url", false, true},
	} {
		key, dup, err := in.Add(c.raw)
		if dup != c.dup || (err != nil) != c.bad || (!c.bad && key == "") {
			t.Errorf("Add(%q) = %q, %v, %v; want dup %v, rejected %v", c.raw, key, dup, err, c.dup, c.bad)
		}
	}
}

// TestDedupeStartsAgainAtCap: the set never holds more than its cap of fingerprints; the key
// past the cap empties it, so a key seen before is new again (Redis catches it then).
func TestDedupeStartsAgainAtCap(t *testing.T) {
	d := newDedupe()
	if d.max != dedupeCap {
		t.Fatalf("a new set's cap is %d, want dedupeCap %d", d.max, dedupeCap)
	}
	d.max = 1000
	key := func(i int) string { return "https://img.example.com/cap/" + strconv.Itoa(i) + ".jpg" }
	for i := range d.max {
		d.add(key(i))
	}
	if d.add(key(0)) {
		t.Fatal("a key seen before the cap was reported new")
	}
	if !d.add(key(d.max)) {
		t.Fatal("the key past the cap was reported as a duplicate")
	}
	if len(d.seen) != 1 {
		t.Errorf("the set holds %d fingerprints after the cap, want 1", len(d.seen))
	}
	if !d.add(key(0)) {
		t.Error("after the set started again, a key of before was reported as a duplicate")
	}
}
