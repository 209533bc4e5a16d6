package normalize

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are inputs of every shape, added to the corpus for every
// configuration (with the plainClasses and benchInputs).
var fuzzSeeds = []string{
	"",
	" ",
	"/",
	"//",
	"v7",
	"/v7/",
	"?w=600",
	"https://tok.cloudimg.io/",
	"https://tok.cloudimg.io/v7/v7/x.jpg",
	"https://tok.cloudimg.io/tok.cloudimg.io/x.jpg",
	"https://tok.cloudimg.io/https://tok.cloudimg.io/x.jpg",
	"https://other.cloudimg.io/img.domain.com/x.jpg",
	"images/image1.jpg",
	"_media_/images/image1.jpg",
	"_media_",
	"_demo_one_/x.jpg",
	"https://storage.example.com/media/images/image1.jpg",
	"https://storage.example.com/media/v7/x.jpg",
	"https://storage.example.com/media//x.jpg",
	"https://storage.example.com/media/a:b/x.jpg",
	"https://storage.example.com/media/_media_/x.jpg",
	"https://storage.example.com/media/storage.example.com/x.jpg",
	"https://storage.example.com/media/tok.cloudimg.io/x.jpg",
	"https://storage.example.com/media/https:/x.jpg",
	"https://one.example.com/base/x.jpg",
	"localhost:8080/x.jpg",
	"img.domain.com:8080/x.jpg",
	"[2001:db8::1]:8080/x.jpg",
	"https://[::ffff:1.2.3.4]/x.jpg",
	"https://[fe80::1%25eth0]/x.jpg",
	"javascript:alert(1)",
	"data:image/png;base64,AAAA",
	"file:///etc/passwd",
	"https://user:pass@img.domain.com/x.jpg",
	"https://img.domain.com/a/%2e%2E/b/./c/../d.jpg",
	"https://img.domain.com/%zz%2f%2F%7e%41%",
	"https://img.domain.com/é/a b/\u00a0.jpg",
	"https://bücher.de/x.jpg",
	"https://img.domain.com/a\x00b",
	"https://img.domain.com/\xff",
	"\uFEFF\uFEFFhttps://img.domain.com/x.jpg",
	`https:\\img.domain.com\a\..\b.jpg`,
	"HTTP:IMG.DOMAIN.COM.:80/X.JPG",
	"https://0x7f.1/x.jpg",
	"https://1.2.3.4./x.jpg",
	"https://img.domain.com/*",
	"https://img.domain.com/a/%2A",
	"/v7/https://img.domain.com/image2.jpg",
	"https://tok.cloudimg.io/v7/_media_/v7/x.jpg",
	"https://tok.cloudimg.io/https:img.domain.com/x.jpg",
	"https://tok.cloudimg.io/..%2f..%2fetc/passwd",
	"C:\\x.jpg",
}

var fuzzNormalizers = func() []*Normalizer {
	ns := make([]*Normalizer, len(testConfigs))
	for i, c := range testConfigs {
		n, err := New(c.cfg)
		if err != nil {
			panic(err)
		}
		ns[i] = n
	}
	return ns
}()

// FuzzNormalize checks, for every configuration (chosen by the first
// argument): Normalize never panics; a rejection is an *Error with a
// reason; a key is printable ASCII with no query string or fragment,
// carries a leading /v7/ exactly when the token is legacy, normalises to
// itself, and is what its CDN URL (on the token host or a CNAME, with a
// query string) normalises to.
func FuzzNormalize(f *testing.F) {
	var seeds []string
	seeds = append(seeds, fuzzSeeds...)
	seeds = append(seeds, distinct...)
	for _, c := range plainClasses {
		seeds = append(seeds, c.key)
		seeds = append(seeds, c.inputs...)
	}
	for _, in := range benchInputs {
		seeds = append(seeds, in...)
	}
	for i := range fuzzNormalizers {
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, cfg uint8, in string) {
		n := fuzzNormalizers[int(cfg)%len(fuzzNormalizers)]
		key, err := n.Normalize(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Normalize(%q) error %T %v, want *Error", in, err, err)
			}
			if e.Reason == "" || key != "" {
				t.Fatalf("Normalize(%q) = %q, %v: empty reason or a key with the error", in, key, err)
			}
			if len(e.Input) > maxErrInput+len("...") || !strings.HasPrefix(in, strings.TrimSuffix(e.Input, "...")) {
				t.Fatalf("Normalize(%q): Error.Input %q is not the start of the input", in, e.Input)
			}
			return
		}
		if key == "" || len(key) > MaxInputLen {
			t.Fatalf("Normalize(%q) = %q (%d bytes)", in, key, len(key))
		}
		for i := 0; i < len(key); i++ {
			if c := key[i]; c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '\\' {
				t.Fatalf("Normalize(%q) = %q: byte %q at %d", in, key, c, i)
			}
		}
		if !utf8.ValidString(key) {
			t.Fatalf("Normalize(%q) = %q: invalid UTF-8", in, key)
		}
		if strings.HasPrefix(key, "/v7/") != n.legacy || !n.legacy && strings.HasPrefix(key, "v7/") {
			t.Fatalf("Normalize(%q) = %q with LegacyV7=%v", in, key, n.legacy)
		}
		if strings.HasSuffix(key, "/") {
			t.Fatalf("Normalize(%q) = %q: a folder", in, key)
		}
		checkFixedPoint(t, n, in, key)
	})
}
