package events

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/kvlist"
)

// Buckets maps buckets (S3, MinIO, Ceph, GCS) and containers (Azure) to the public base URL that
// Cloudimage fetches their objects from: EVENTS_BUCKETS. Build it with ParseBuckets; the zero
// value maps nothing.
type Buckets struct {
	m map[string][]mapping // bucket -> its entries, longest prefix first
}

// mapping is one EVENTS_BUCKETS entry.
type mapping struct {
	prefix string // only keys that start with it count ("" = every key)
	base   string // the public base URL, ending in "/"
}

// ParseBuckets parses EVENTS_BUCKETS: comma-separated entries "bucket=https://base/" or
// "bucket/key/prefix/=https://base/". An object's URL is its entry's base followed by the whole
// object key; a prefix only filters (events for keys outside every prefix of a bucket are
// acknowledged and ignored). A bucket may have several entries with different prefixes; the
// longest matching prefix wins. Spaces around entries are ignored, and so are empty entries.
// Errors name EVENTS_BUCKETS, the entry and the fix.
func ParseBuckets(s string) (Buckets, error) {
	b := Buckets{m: map[string][]mapping{}}
	err := kvlist.Each(s, "bucket=https://public/base/ (or bucket/key/prefix/=https://public/base/)", func(en kvlist.Entry) error {
		e, left, base := en.Text, en.Name, en.Value
		bucket, prefix, _ := strings.Cut(left, "/")
		if prefix != "" {
			prefix = left[len(bucket)+1:]
		}
		if !ValidBucket(bucket) {
			return fmt.Errorf("entry %q: %q is not a bucket or container name: use letters, digits, '.', '-' and '_'", e, bucket)
		}
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("entry %q: %q is not a base URL: give the http(s) URL that Cloudimage fetches the bucket's objects from, such as https://storage.example.com/media/ (no query, no user)", e, base)
		}
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		for _, m := range b.m[bucket] {
			if m.prefix == prefix {
				return fmt.Errorf("maps %q twice: keep one entry", left)
			}
		}
		b.m[bucket] = append(b.m[bucket], mapping{prefix: prefix, base: base})
		return nil
	})
	if err != nil {
		return Buckets{}, fmt.Errorf("EVENTS_BUCKETS %w", err)
	}
	for _, ms := range b.m {
		sort.Slice(ms, func(i, j int) bool { return len(ms[i].prefix) > len(ms[j].prefix) })
	}
	return b, nil
}

// Len is the number of buckets mapped.
func (b Buckets) Len() int { return len(b.m) }

// match is what the mapping says about one object.
type match int

const (
	matched  match = iota // the object has a URL
	unmapped              // the bucket is not in EVENTS_BUCKETS
	filtered              // the bucket is, but the key is outside every prefix configured for it
)

// URL returns the public URL of bucket's object key (decoded: as stored), and whether the
// mapping covers it. The key is escaped as little as a path needs (escapeKey), so that the
// normaliser gives it the key it gives the object's URL typed by hand.
func (b Buckets) URL(bucket, key string) (string, match) {
	ms, ok := b.m[bucket]
	if !ok {
		return "", unmapped
	}
	for _, m := range ms {
		if strings.HasPrefix(key, m.prefix) {
			return m.base + escapeKey(key), matched
		}
	}
	return "", filtered
}

// ValidBucket reports whether s can be a bucket or container name: letters, digits, '.', '-' and '_'.
func ValidBucket(s string) bool { return accounts.ValidBucket(s) }

// escapeKey escapes what cannot stand in a URL path as it is: '%', '?' and '#' (they would end
// or change the path; a '\\' would read as '/'), spaces and control bytes, bytes outside ASCII,
// and the characters RFC 3986 never allows ("<>^`{|}). Every other character stays literal, as the normaliser keeps it:
// "image (1).jpg" is image%20(1).jpg, not image%20%281%29.jpg, so both paths dedupe to one key.
func escapeKey(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("%?#\"<>\\^`{|}", c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
