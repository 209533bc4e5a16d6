package producer

import (
	"hash/maphash"
	"strings"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// Ingest normalises input URLs and finds the ones repeated within one run.
// It is the one normalise-and-dedupe rule of every producer.
// The Go client, the enqueue command and the intake all use it.
// Memory is constant per distinct key, so a file of any size streams through it.
// It is not safe for concurrent use.
type Ingest struct {
	norm     *normalize.Normalizer
	seen     *dedupe
	folders  bool
	route    Router
	explicit string             // the account named for every URL, or ""
	account  string             // the account of the last URL added
	others   map[string]*dedupe // the keys seen of every account but the first
	first    string             // the first account seen: its keys are in seen
}

// Router gives a URL its account: internal/accounts.Set is one.
// It returns the account's name and normaliser, or a *normalize.Error that says why none.
// explicit, when set, names the account and overrides the URL's form.
type Router interface {
	RouteURL(raw, explicit string) (account string, norm *normalize.Normalizer, err error)
}

// NewRoutedIngest starts a run whose URLs r routes, each to its account.
// explicit, when set, names the account of every URL.
// A URL that no account takes, or two, is rejected with the router's reason; the others go on.
// The same key of two accounts is two requests.
func NewRoutedIngest(r Router, explicit string) *Ingest {
	return &Ingest{route: r, explicit: explicit, seen: newDedupe()}
}

// Account returns the account of the URL Add took last: "" for an Ingest made by NewIngest.
func (in *Ingest) Account() string { return in.account }

// Folders makes every later input a folder (prefix), as an explicit flag or field asks: a
// trailing / or /* is optional. It returns in.
func (in *Ingest) Folders() *Ingest { in.folders = true; return in }

// RootPrefixError is Add's refusal of a root prefix: a whole host, alias or token. It asks as
// much of the origin as a flush-all, so it goes only as one does (Producer.RequestFlushAll with
// FlushAll.Prefix). It unwraps to the normaliser's *normalize.Error.
type RootPrefixError struct {
	Key string // the canonical root prefix
	Err *normalize.Error
}

func (e *RootPrefixError) Error() string { return e.Err.Error() }

// Unwrap returns the normaliser's rejection.
func (e *RootPrefixError) Unwrap() error { return e.Err }

// NewIngest starts a run with norm: duplicates are found within it.
func NewIngest(norm *normalize.Normalizer) *Ingest { return &Ingest{norm: norm, seen: newDedupe()} }

// Add normalises raw and returns its canonical key.
// A folder ending with /* (any input, with Folders) is a prefix: its key ends with /*.
// dup is true when the run had the key already.
// err is the normaliser's *normalize.Error when raw is rejected, or a *RootPrefixError.
// A routed Ingest first finds the URL's account; a URL no account takes is the router's error.
func (in *Ingest) Add(raw string) (key string, dup bool, err error) {
	folder := in.folders || normalize.IsPrefix(raw)
	if folder && in.folders && !normalize.IsPrefix(raw) && !strings.HasSuffix(strings.TrimSpace(raw), "/") {
		raw = strings.TrimSpace(raw) + "/"
	}
	norm, seen := in.norm, in.seen
	if in.route != nil {
		in.account = ""
		acct, n, err := in.route.RouteURL(raw, in.explicit)
		if err != nil {
			return "", false, err
		}
		norm, seen, in.account = n, in.seenOf(acct), acct
	}
	if folder {
		p, err := norm.NormalizePrefix(raw)
		if err != nil {
			return "", false, err
		}
		if p.Root {
			return "", false, &RootPrefixError{Key: p.Key, Err: normalize.RootError(raw)}
		}
		key = p.Key
	} else if key, err = norm.Normalize(raw); err != nil {
		return "", false, err
	}
	return key, !seen.add(key), nil
}

// seenOf returns the keys seen of account acct.
// The first account uses the run's set, so a run of one account costs what an unrouted run does.
func (in *Ingest) seenOf(acct string) *dedupe {
	if in.first == "" {
		in.first = acct
	}
	if acct == in.first {
		return in.seen
	}
	d, ok := in.others[acct]
	if !ok {
		if in.others == nil {
			in.others = map[string]*dedupe{}
		}
		d = newDedupe()
		in.others[acct] = d
	}
	return d
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
