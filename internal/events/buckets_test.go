package events

import (
	"strings"
	"testing"
)

func TestParseBuckets(t *testing.T) {
	b, err := ParseBuckets(" media=https://storage.example.com/media , media/products/big/=https://big.example.com/,media/products/=https://p.example.com/x/,,GCS_b.1-x=http://h:8080/ ")
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 2 {
		t.Errorf("%d buckets, want 2", b.Len())
	}
	for _, c := range []struct {
		bucket, key, url string
		m                match
	}{
		{"media", "a.jpg", "https://storage.example.com/media/a.jpg", matched},
		{"media", "products/1.jpg", "https://p.example.com/x/products/1.jpg", matched},
		{"media", "products/big/1.jpg", "https://big.example.com/products/big/1.jpg", matched}, // the longest prefix wins
		{"media", "dir/a b?c#d%e.jpg", "https://storage.example.com/media/dir/a%20b%3Fc%23d%25e.jpg", matched},
		{"GCS_b.1-x", "x.jpg", "http://h:8080/x.jpg", matched},
		{"other", "a.jpg", "", unmapped},
	} {
		if u, m := b.URL(c.bucket, c.key); u != c.url || m != c.m {
			t.Errorf("URL(%q, %q) = %q, %v; want %q, %v", c.bucket, c.key, u, m, c.url, c.m)
		}
	}
	only, err := ParseBuckets("photos/public/=https://photos.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	if _, m := only.URL("photos", "private/a.jpg"); m != filtered {
		t.Errorf("a key outside the only prefix: %v, want filtered", m)
	}
	if b, err := ParseBuckets(""); err != nil || b.Len() != 0 {
		t.Errorf("empty: %v %v", b, err)
	}
}

func TestParseBucketsErrors(t *testing.T) {
	for in, want := range map[string]string{
		"media":                             `has no "="`,
		"=https://x/":                       "is not a bucket or container name",
		"me dia=https://x/":                 "is not a bucket or container name",
		"media=ftp://x/":                    "is not a base URL",
		"media=storage.example.com/":        "is not a base URL",
		"media=https://x/?a=1":              "is not a base URL",
		"media=https://u:p@x/":              "is not a base URL",
		"media=https://x/,media=https:/":    "is not a base URL",
		"media=https://x/,media=https://y/": "maps \"media\" twice",
	} {
		_, err := ParseBuckets(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "EVENTS_BUCKETS") {
			t.Errorf("%q: %v, want an EVENTS_BUCKETS error with %q", in, err, want)
		}
	}
}
