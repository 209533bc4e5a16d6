package producer

import (
	"hash/maphash"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// Ingest normalises input URLs and finds the ones repeated within one run.
// It is the one normalise-and-dedupe rule of every producer.
// The Go client, the enqueue command and the intake all use it.
// Memory is constant per distinct key, so a file of any size streams through it.
// It is not safe for concurrent use.
type Ingest struct {
	norm *normalize.Normalizer
	seen *dedupe
}

// NewIngest starts a run with norm: duplicates are found within it.
func NewIngest(norm *normalize.Normalizer) *Ingest { return &Ingest{norm: norm, seen: newDedupe()} }

// Add normalises raw and returns its canonical key.
// dup is true when the run had the key already.
// err is the normaliser's *normalize.Error when raw is rejected.
func (in *Ingest) Add(raw string) (key string, dup bool, err error) {
	key, err = in.norm.Normalize(raw)
	if err != nil {
		return "", false, err
	}
	return key, !in.seen.add(key), nil
}

// dedupeCap bounds the fingerprints kept to find duplicates within one run.
// At the cap they take about 72 MB.
// Past it the set is emptied and starts again in the memory it has.
// A later duplicate is then reported as already pending by Redis, or dropped at send time.
// It is never sent twice in a window.
const dedupeCap = 2 << 20

// MemoryLimit is the soft limit on the Go heap of a process that streams one large input
// through an Ingest. It is the set at its cap plus room for the garbage of the lines read.
// Without it the collector lets the heap grow to twice the set.
// docs/reliability.md has the peak memory measured with it.
const MemoryLimit = 96 << 20

// dedupe finds repeated keys with 128-bit fingerprints made of two seeded maphash values.
// A false match needs two 64-bit collisions at once: about 1e-26 for a million keys.
// The set maps the first half to the second, which uses Go's fast 64-bit map path.
// The rare keys whose first half collides with another key's go to a second, small map.
// docs/performance.md has the measurements behind this layout.
type dedupe struct {
	s1, s2 maphash.Seed
	seen   map[uint64]uint64
	more   map[[2]uint64]struct{}
	max    int // dedupeCap; smaller in tests
}

func newDedupe() *dedupe {
	return &dedupe{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), seen: make(map[uint64]uint64, 1024), max: dedupeCap}
}

// add reports whether key is new.
func (d *dedupe) add(key string) bool {
	h1, h2 := maphash.String(d.s1, key), maphash.String(d.s2, key)
	v, ok := d.seen[h1]
	if !ok {
		if len(d.seen) >= d.max {
			clear(d.seen)
			d.more = nil
		}
		d.seen[h1] = h2
		return true
	}
	if v == h2 {
		return false
	}
	fp := [2]uint64{h1, h2}
	if _, ok := d.more[fp]; ok {
		return false
	}
	if d.more == nil {
		d.more = make(map[[2]uint64]struct{})
	}
	d.more[fp] = struct{}{}
	return true
}
