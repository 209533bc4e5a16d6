package normalize

import (
	"strings"
	"testing"
)

// TestNormalizeFolderPrefix: every URL form Normalize takes, ending with /*, gives one canonical prefix;
// roots (a whole token, host, alias or origin prefix) are marked; a star elsewhere is rejected.
func TestNormalizeFolderPrefix(t *testing.T) {
	n, err := New(Config{Token: "tok", Aliases: map[string]string{"_media_": "https://storage.example.com/media"}})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		key  string
		root bool
	}
	for in, w := range map[string]want{
		"https://img.example.com/avatars/*":                   {"https://img.example.com/avatars/*", false},
		"http://IMG.example.com:443/avatars/*?w=300":          {"https://img.example.com/avatars/*", false},
		"https://tok.cloudimg.io/img.example.com/avatars/*":   {"https://img.example.com/avatars/*", false},
		"https://tok.cloudimg.io/v7/img.example.com/avatars/": {"https://img.example.com/avatars/*", false},
		"/img.example.com/avatars/*":                          {"https://img.example.com/avatars/*", false},
		"img.example.com/a/./b/../avatars/*":                  {"https://img.example.com/a/avatars/*", false},
		"_media_/products/*":                                  {"_media_/products/*", false},
		"https://storage.example.com/media/products/*":        {"_media_/products/*", false},
		"https://tok.cloudimg.io/_media_/products/*":          {"_media_/products/*", false},
		"https://img.example.com/*":                           {"https://img.example.com/*", true},
		"img.example.com/*":                                   {"https://img.example.com/*", true},
		"_media_/*":                                           {"_media_/*", true},
		"https://storage.example.com/media/*":                 {"_media_/*", true},
		"/*":                                                  {"/*", true},
		"*":                                                   {"/*", true},
		"https://tok.cloudimg.io/*":                           {"/*", true},
		"tok.cloudimg.io/*":                                   {"/*", true},
		"https://tok.cloudimg.io/v7/*":                        {"/*", true},
	} {
		p, err := n.NormalizePrefix(in)
		if err != nil || p.Key != w.key || p.Root != w.root {
			t.Errorf("NormalizePrefix(%q) = %+v, %v; want %+v", in, p, err, w)
			continue
		}
		if again, err := n.NormalizePrefix(p.Key); err != nil || again != p {
			t.Errorf("NormalizePrefix(%q) = %+v, %v: not idempotent", p.Key, again, err)
		}
		if !IsPrefix(in) && !strings.HasSuffix(in, "/") {
			t.Errorf("IsPrefix(%q) = false", in)
		}
	}
	for in, reason := range map[string]string{
		"https://img.example.com/a*/b/*":        "has * at byte",
		"https://img.example.com/avatars/a*":    "does not end with /*",
		"https://img.example.com/avatars/a.jpg": "does not end with /*",
		"https://other.cloudimg.io/x.com/a/*":   "token",
		"":                                      "empty",
		"ftp://img.example.com/a/*":             "scheme",
	} {
		if _, err := n.NormalizePrefix(in); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("NormalizePrefix(%q) = %v, want a rejection that says %q", in, err, reason)
		}
	}
	// Sent as a URL (Normalize), a root prefix is refused: no flush-all by the back door.
	for _, in := range []string{"https://img.example.com/*", "_media_/*", "https://storage.example.com/media/*"} {
		if k, err := n.Normalize(in); err == nil || !strings.Contains(err.Error(), "flush-all") {
			t.Errorf("Normalize(%q) = %q, %v; want a refusal that names the flush-all", in, k, err)
		}
	}
	if k, err := n.Normalize("https://img.example.com/avatars/*"); err != nil || k != "https://img.example.com/avatars/*" {
		t.Errorf("Normalize of a folder below a host: %q, %v", k, err)
	}
	if IsPrefix("https://img.example.com/a.jpg") || IsPrefix("https://img.example.com/a*") {
		t.Error("IsPrefix is true for an image URL")
	}
	// Every image key under a prefix starts with the prefix's key without its star.
	p, _ := n.NormalizePrefix("https://tok.cloudimg.io/img.example.com/avatars/*")
	k, _ := n.Normalize("https://img.example.com/avatars/7/a.jpg?w=10")
	if !strings.HasPrefix(k, strings.TrimSuffix(p.Key, Wildcard)) {
		t.Errorf("image key %q is not under prefix %q", k, p.Key)
	}
}

// TestNormalizePrefixLegacyAndOriginPrefix: the /v7/ form and an origin prefix's relative keys.
func TestNormalizePrefixLegacyAndOriginPrefix(t *testing.T) {
	legacy, _ := New(Config{Token: "tok", LegacyV7: true})
	for in, key := range map[string]string{"https://img.example.com/a/*": "/v7/https://img.example.com/a/*", "/*": "/v7/*", "/v7/*": "/v7/*"} {
		if p, err := legacy.NormalizePrefix(in); err != nil || p.Key != key {
			t.Errorf("legacy NormalizePrefix(%q) = %+v, %v; want %q", in, p, err, key)
		}
	}
	pre, _ := New(Config{Token: "tok", OriginPrefix: "https://storage.example.com/media/"})
	for in, w := range map[string]Prefix{
		"https://tok.cloudimg.io/images/*":           {Key: "images/*"},
		"https://storage.example.com/media/images/*": {Key: "images/*"},
		"https://storage.example.com/media/*":        {Key: "*", Root: true},
	} {
		if p, err := pre.NormalizePrefix(in); err != nil || p != w {
			t.Errorf("origin prefix NormalizePrefix(%q) = %+v, %v; want %+v", in, p, err, w)
		}
	}
}
