package accounts

import (
	"errors"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// TestRoute: each URL form finds its account, or a refusal that names the candidates or the fix.
func TestRoute(t *testing.T) {
	s := parseThree(t)
	for _, tc := range []struct {
		name, raw, explicit string
		want                string // the account, or "!" and words of the refusal
	}{
		{"token host", "https://shopa.cloudimg.io/storage.shop-a.com/a.jpg?w=600", "", "shop-a"},
		{"token host, any case and port", "HTTPS://ShopB.CloudImg.io:443/x/a.jpg", "", "shop-b"},
		{"token host without scheme", "shopc.cloudimg.io/v7/https://x.example.com/a.jpg", "", "shop-c"},
		{"CNAME", "https://img.shop-a.com/storage.shop-a.com/a.jpg", "", "shop-a"},
		{"CNAME, http", "http://IMG.SHOP-A.COM./a.jpg", "", "shop-a"},
		{"token of no account", "https://other.cloudimg.io/x.example.com/a.jpg", "", `!"other.cloudimg.io", which serves no declared account (shop-a, shop-b, shop-c)`},
		{"origin", "https://storage.shop-a.com/products/42.jpg", "", "shop-a"},
		{"origin, http", "http://storage.shop-a.com/products/42.jpg", "", "shop-a"},
		{"origin without scheme", "storage.shop-a.com/products/42.jpg", "", "shop-a"},
		{"origin under an origin prefix", "https://bucket.example.com/b/a.jpg", "", `!matches two accounts, "shop-b" (origin https://bucket.example.com/b/) and "shop-c" (origin https://bucket.example.com/)`},
		{"origin of one", "https://bucket.example.com/c/a.jpg", "", "shop-c"},
		{"origin under an alias base", "https://media.example.com/b/x/a.jpg", "", "shop-b"},
		{"origin of the other alias", "https://media.example.com/c/a.jpg", "", "shop-c"},
		{"origin folder", "https://shared.example.com/avatars/*", "", "shop-c"},
		{"origin of none", "https://elsewhere.example.com/a.jpg", "", "!is on the origin https://elsewhere.example.com/, which no account lists: add the origin"},
		{"origin path is a folder of no base", "https://media.example.com/a.jpg", "", "!which no account lists"},
		{"alias shared", "_media_/a.jpg", "", `!matches two accounts by its alias _media_, "shop-b" and "shop-c": name the account explicitly`},
		{"alias of none", "_other_/a.jpg", "", "!starts with the alias _other_, which no account declares"},
		{"relative key", "products/a.jpg", "", "shop-b"},
		{"legacy key", "/v7/https://shared.example.com/a.jpg", "", "shop-c"},
		{"embedded origin key", "https://storage.shop-a.com/a.jpg", "", "shop-a"},
		{"explicit overrides the form", "https://elsewhere.example.com/a.jpg", "shop-b", "shop-b"},
		{"explicit over a CDN host", "https://shopa.cloudimg.io/x.example.com/a.jpg", "shop-c", "shop-c"},
		{"explicit unknown", "https://storage.shop-a.com/a.jpg", "shop-z", `!no account is named "shop-z": use one of shop-a, shop-b, shop-c`},
		{"a folder routes; its normaliser judges it", "https://storage.shop-a.com/", "", "shop-a"},
		{"no host", "https://", "", "!has"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := s.Route(tc.raw, tc.explicit)
			if w, refused := strings.CutPrefix(tc.want, "!"); refused {
				var ne *normalize.Error
				if !errors.As(err, &ne) || !strings.Contains(err.Error(), w) {
					t.Fatalf("Route = %v, %v; want a refusal with %q", a, err, w)
				}
				return
			}
			if err != nil || a.Name != tc.want {
				t.Fatalf("Route = %v, %v; want %s", a, err, tc.want)
			}
		})
	}
}

// TestRouteTwoPrefixes: a relative key is refused when two accounts have an origin prefix.
func TestRouteTwoPrefixes(t *testing.T) {
	s, err := Parse([]byte(`
accounts:
  - {name: a, token: a, origin_prefix: "https://s.example.com/a/"}
  - {name: b, token: b, origin_prefix: "https://s.example.com/b/"}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Route("x/1.jpg", ""); err == nil || !strings.Contains(err.Error(), `matches two accounts by its origin prefix, "a" and "b"`) {
		t.Errorf("err = %v", err)
	}
	if a, err := s.Route("https://s.example.com/b/1.jpg", ""); err != nil || a.Name != "b" {
		t.Errorf("origin under b's prefix: %v, %v", a, err)
	}
	if _, err := s.Route("https://s.example.com/c/1.jpg", ""); err == nil || !strings.Contains(err.Error(), "which no account lists") {
		t.Errorf("origin under no prefix: %v", err)
	}
}

// TestRouteOne: one account routes every URL to itself, as today; only an unknown explicit name is refused.
func TestRouteOne(t *testing.T) {
	s, err := Single(Account{URL: normalize.Config{Token: "demo"}, Burst: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"https://anything.example.com/a.jpg", "https://other.cloudimg.io/x", "rel/a.jpg", "_x_/a.jpg"} {
		if a, err := s.Route(raw, ""); err != nil || a.Name != DefaultName {
			t.Errorf("Route(%s) = %v, %v", raw, a, err)
		}
	}
	if a, err := s.Route("https://a.example.com/a.jpg", DefaultName); err != nil || a.Name != DefaultName {
		t.Errorf("explicit default: %v, %v", a, err)
	}
	if _, err := s.Route("https://a.example.com/a.jpg", "shop"); err == nil || !strings.Contains(err.Error(), `no account is named "shop": use one of default`) {
		t.Errorf("explicit unknown: %v", err)
	}
}

// TestBucketAccount: a bucket names its account; a key prefix splits a shared bucket, longest first.
func TestBucketAccount(t *testing.T) {
	s, err := Parse([]byte(`
accounts:
  - {name: a, token: a, buckets: [media, shared/a/]}
  - {name: b, token: b, buckets: [shared/b/, shared/b/deep/x/]}
  - {name: c, token: c, buckets: [shared]}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ bucket, key, want string }{
		{"media", "x.jpg", "a"},
		{"shared", "a/x.jpg", "a"},
		{"shared", "b/x.jpg", "b"},
		{"shared", "other/x.jpg", "c"},
		{"elsewhere", "x.jpg", ""},
	} {
		if got := s.BucketAccount(tc.bucket, tc.key); got != tc.want {
			t.Errorf("%s/%s: %q, want %q", tc.bucket, tc.key, got, tc.want)
		}
	}
	_, err = Parse([]byte("accounts:\n  - {name: a, token: a, buckets: [media, 'bad bucket/']}\n  - {name: b, token: b, buckets: [media]}\n"), "")
	for _, w := range []string{`account "a", field buckets: entry "bad bucket/": "bad bucket" is not a bucket`,
		`account "b", field buckets: "media" is also a bucket of account "a"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}
