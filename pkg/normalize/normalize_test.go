package normalize

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// The configurations every table and the fuzz test run against. The token
// is "tok", so https://tok.cloudimg.io is the CDN host.
var testConfigs = []struct {
	name string
	cfg  Config
}{
	{"plain", Config{Token: "tok", Hosts: []string{"cname.example.com"}}},
	{"legacy", Config{Token: "tok", Hosts: []string{"cname.example.com"}, LegacyV7: true}},
	{"prefix", Config{Token: "tok", Hosts: []string{"cname.example.com"}, OriginPrefix: "https://storage.example.com/media/"}},
	{"aliases", Config{Token: "tok", Hosts: []string{"cname.example.com"}, Aliases: testAliases}},
	{"all", Config{Token: "tok", Hosts: []string{"cname.example.com"}, LegacyV7: true, OriginPrefix: "https://storage.example.com/media/", Aliases: map[string]string{
		"_demo_":     "https://demo.example.com",
		"_demo_one_": "https://one.example.com/base",
	}}},
}

var testAliases = map[string]string{
	"_media_":    "https://storage.example.com/media",
	"_img_":      "https://storage.example.com/media/images", // longer base than _media_
	"_demo_":     "https://demo.example.com",
	"_demo_one_": "https://one.example.com/base",
}

func newTest(t testing.TB, name string) *Normalizer {
	t.Helper()
	for _, c := range testConfigs {
		if c.name == name {
			n, err := New(c.cfg)
			if err != nil {
				t.Fatalf("New(%s): %v", name, err)
			}
			return n
		}
	}
	t.Fatalf("no test config %q", name)
	return nil
}

// class is an equivalence class: every input maps to key.
type class struct {
	key    string
	inputs []string
}

// plainClasses hold for a token without prefix or alias; for a legacy
// token the key is "/v7/" + key.
var plainClasses = []class{
	{"https://img.domain.com/image2.jpg", []string{
		// CDN URLs on the token host, with and without /v7/, any query
		"https://tok.cloudimg.io/img.domain.com/image2.jpg?w=600",
		"https://tok.cloudimg.io/img.domain.com/image2.jpg",
		"https://tok.cloudimg.io/img.domain.com/image2.jpg?w=600#top",
		"https://tok.cloudimg.io/img.domain.com/image2.jpg?ci_sign=0a1b2c&w=600&vh=123",
		"https://tok.cloudimg.io/v7/img.domain.com/image2.jpg?w=600&h=400",
		"https://tok.cloudimg.io/https://img.domain.com/image2.jpg",
		"https://tok.cloudimg.io/v7/https://img.domain.com/image2.jpg?w=600",
		"https://tok.cloudimg.io/http://img.domain.com/image2.jpg",
		"https://tok.cloudimg.io/https:/img.domain.com/image2.jpg", // slashes collapsed by a proxy
		"https://tok.cloudimg.io/HTTPS://IMG.DOMAIN.COM/image2.jpg",
		"https://tok.cloudimg.io//img.domain.com/image2.jpg",
		"https://TOK.CloudImg.IO:443/img.domain.com/image2.jpg",
		"http://tok.cloudimg.io:80/img.domain.com/image2.jpg",
		"https://tok.cloudimg.io./img.domain.com/image2.jpg",
		"//tok.cloudimg.io/img.domain.com/image2.jpg",
		"tok.cloudimg.io/img.domain.com/image2.jpg?w=600",
		"tok.cloudimg.io/v7/https://img.domain.com/image2.jpg",
		// CNAME
		"https://cname.example.com/img.domain.com/image2.jpg",
		"https://CNAME.example.com/v7/img.domain.com/image2.jpg?w=600",
		"cname.example.com/https://img.domain.com/image2.jpg",
		// the origin URL, with or without scheme
		"https://img.domain.com/image2.jpg",
		"http://img.domain.com/image2.jpg",
		"HTTPS://IMG.DOMAIN.COM/image2.jpg",
		"https://img.domain.com:443/image2.jpg",
		"http://img.domain.com:80/image2.jpg",
		"https://img.domain.com:/image2.jpg",
		"https://img.domain.com./image2.jpg",
		"https:img.domain.com/image2.jpg",
		`https:\\img.domain.com\image2.jpg`,
		"https://img.domain.com/image2.jpg?w=600",
		"img.domain.com/image2.jpg",
		"/img.domain.com/image2.jpg", // the seed's body style
		"//img.domain.com/image2.jpg",
		"/v7/https://img.domain.com/image2.jpg",
		"v7/img.domain.com/image2.jpg",
		// white space around, byte order mark
		"  https://img.domain.com/image2.jpg \r\n",
		"\tHTTPS://img.domain.com/image2.jpg\n",
		"\uFEFFhttps://img.domain.com/image2.jpg",
		// escapes that need none, dot segments
		"https://img.domain.com/%69mage2.jpg",
		"https://img.domain.com/image2%2Ejpg",
		"https://img.domain.com/%69%6D%61%67%65%32%2e%6a%70%67",
		"https://img.domain.com/./image2.jpg",
		"https://img.domain.com/a/../image2.jpg",
		"https://img.domain.com/a/b/../../image2.jpg",
		"https://img.domain.com/../../image2.jpg",
		"https://img.domain.com/a/%2e%2E/image2.jpg",
		"https://img.domain.com/a/.%2e/image2.jpg",
		"https://img.domain.com/%2E/image2.jpg",
		"https://tok.cloudimg.io/img.domain.com/a/../image2.jpg",
	}},
	{"https://sample.li/birds.jpg", []string{
		"/sample.li/birds.jpg", // the seed's JSON sample
		"sample.li/birds.jpg",
		"https://sample.li/birds.jpg",
		"https://tok.cloudimg.io/sample.li/birds.jpg?width=500",
	}},
	{"https://sample.li/avatars/*", []string{ // the API's old wildcard form, kept literally
		"/sample.li/avatars/*",
		"https://sample.li/avatars/*",
		"https://tok.cloudimg.io/sample.li/avatars/*",
	}},
	{"https://img.domain.com/a%20b/%C3%A9t%C3%A9.jpg", []string{
		"https://img.domain.com/a b/été.jpg",
		"https://img.domain.com/a%20b/%c3%a9t%c3%a9.jpg",
		"img.domain.com/a%20b/été.jpg",
		"https://tok.cloudimg.io/img.domain.com/a b/%C3%A9t%C3%A9.jpg?w=1",
	}},
	{"https://img.domain.com/a%2Fb.jpg", []string{ // an escaped slash is kept, upper-case hex
		"https://img.domain.com/a%2Fb.jpg",
		"https://img.domain.com/a%2fb.jpg",
		"https://tok.cloudimg.io/img.domain.com/a%2fb.jpg",
	}},
	{"https://img.domain.com/100%25.jpg", []string{
		"https://img.domain.com/100%.jpg",
		"https://img.domain.com/100%25.jpg",
	}},
	{"https://img.domain.com/%7B%22q%22%7C%5E%60%7D.jpg", []string{
		"https://img.domain.com/{\"q\"|^`}.jpg",
		"https://img.domain.com/%7b%22q%22%7c%5e%60%7d.jpg",
	}},
	{"https://img.domain.com/~user/a-b_c.d.jpg", []string{
		"https://img.domain.com/%7Euser/a%2Db%5Fc%2Ed.jpg",
		"https://img.domain.com/~user/a-b_c.d.jpg",
	}},
	{"https://img.domain.com/a(1)+b,c;d=e:f@g!$&'[x].jpg", []string{
		"https://img.domain.com/a(1)+b,c;d=e:f@g!$&'[x].jpg",
	}},
	{"https://img.domain.com:8080/x.jpg", []string{
		"https://img.domain.com:8080/x.jpg",
		"http://img.domain.com:08080/x.jpg",
		"img.domain.com:8080/x.jpg",
		"https://tok.cloudimg.io/img.domain.com:8080/x.jpg",
		"https://tok.cloudimg.io/https://img.domain.com:8080/x.jpg",
	}},
	{"https://192.0.2.10/x.jpg", []string{
		"http://192.0.2.10/x.jpg",
		"192.0.2.10/x.jpg",
		"https://tok.cloudimg.io/192.0.2.10/x.jpg",
	}},
	{"https://[2001:db8::1]:8080/x.jpg", []string{
		"https://[2001:DB8:0::1]:8080/x.jpg",
		"https://tok.cloudimg.io/https://[2001:db8::1]:8080/x.jpg",
		"[2001:db8::1]:8080/x.jpg",
	}},
	{"https://img.domain.com/a//b.jpg", []string{ // empty segments are kept, as in a browser
		"https://img.domain.com/a//b.jpg",
		`https://img.domain.com/a\\b.jpg`,
	}},
	{"https://my_bucket.s3.example.com/x.jpg", []string{
		"https://My_Bucket.S3.example.com/x.jpg",
	}},
}

// distinct inputs that must never share a key.
var distinct = []string{
	"https://img.domain.com/a/b.jpg",
	"https://img.domain.com/a%2Fb.jpg", // escaped slash
	"https://img.domain.com/a%5Cb.jpg", // escaped backslash
	"https://img.domain.com/A/b.jpg",   // path case
	"https://img.domain.com/a/B.jpg",
	"https://img.domain.com/a//b.jpg",
	"https://img.domain.com/a/*",
	"https://img.domain.com/a/%2A", // an escaped star is a file named *, not the wildcard
	"https://img.domain.com/a/b.jpg%3Fw=1",
	"https://img.domain.com/a/b.jpg%23x",
	"https://img.domain.com:8080/a/b.jpg",
	"https://img2.domain.com/a/b.jpg",
	"https://img.domain.com/a/b.jpg;v=1",
	"https://img.domain.com/a/%2e%2e%2Fb.jpg",
	"https://img.domain.com/a/b%20.jpg",
	"https://img.domain.com/a/b+.jpg",
}

func TestNormalizePlainAndLegacy(t *testing.T) {
	for _, cfg := range []string{"plain", "legacy"} {
		n := newTest(t, cfg)
		for _, c := range plainClasses {
			want := c.key
			if cfg == "legacy" {
				want = "/v7/" + c.key
			}
			checkClass(t, cfg, n, want, c.inputs)
		}
		checkDistinct(t, cfg, n, distinct)
	}
}

func TestNormalizePrefix(t *testing.T) {
	n := newTest(t, "prefix")
	classes := []class{
		{"images/image1.jpg", []string{
			"https://tok.cloudimg.io/images/image1.jpg",
			"https://tok.cloudimg.io/images/image1.jpg?w=600",
			"https://tok.cloudimg.io/v7/images/image1.jpg",
			"https://cname.example.com/images/image1.jpg",
			"tok.cloudimg.io/images/image1.jpg",
			"https://storage.example.com/media/images/image1.jpg",
			"http://storage.example.com/media/images/image1.jpg",
			"https://STORAGE.example.com:443/media/./images/image1.jpg",
			"https://storage.example.com/media/%69mages/image1.jpg",
			"storage.example.com/media/images/image1.jpg",
			"https://tok.cloudimg.io/https://storage.example.com/media/images/image1.jpg",
			"https://tok.cloudimg.io/storage.example.com/media/images/image1.jpg",
			"images/image1.jpg",
			"/images/image1.jpg",
			"/v7/images/image1.jpg",
			"images/x/../image1.jpg",
		}},
		// With a prefix, a host-looking first segment is a folder under it.
		{"img.domain.com/image2.jpg", []string{
			"https://tok.cloudimg.io/img.domain.com/image2.jpg?w=600",
			"img.domain.com/image2.jpg",
			"/img.domain.com/image2.jpg",
			"https://storage.example.com/media/img.domain.com/image2.jpg",
		}},
		// A full origin URL outside the prefix keeps its scheme-ful key.
		{"https://img.domain.com/image2.jpg", []string{
			"https://tok.cloudimg.io/https://img.domain.com/image2.jpg",
			"https://tok.cloudimg.io/v7/http://img.domain.com/image2.jpg",
			"https://img.domain.com/image2.jpg",
			"/https://img.domain.com/image2.jpg",
		}},
		{"https://storage.example.com/other/x.jpg", []string{
			"https://storage.example.com/other/x.jpg",
			"storage.example.com/other/x.jpg",
			"https://tok.cloudimg.io/storage.example.com/other/x.jpg",
		}},
		{"https://storage.example.com/mediax/x.jpg", []string{ // the prefix is a folder
			"https://storage.example.com/mediax/x.jpg",
		}},
		// Paths under the prefix that would not read back as relative keys.
		{"https://storage.example.com/media/v7/x.jpg", []string{
			"https://storage.example.com/media/v7/x.jpg",
			"https://tok.cloudimg.io/v7/v7/x.jpg",
		}},
		{"https://storage.example.com/media/a:b/x.jpg", []string{
			"https://storage.example.com/media/a:b/x.jpg",
			"https://tok.cloudimg.io/a:b/x.jpg",
		}},
		{"https://storage.example.com/media/https:/x.jpg", []string{
			"https://storage.example.com/media/https:/x.jpg",
		}},
		{"https://storage.example.com/media//x.jpg", []string{
			"https://storage.example.com/media//x.jpg",
		}},
		{"https://storage.example.com/media/storage.example.com/x.jpg", []string{
			"https://storage.example.com/media/storage.example.com/x.jpg",
		}},
		{"https://storage.example.com/media/tok.cloudimg.io/x.jpg", []string{
			"https://storage.example.com/media/tok.cloudimg.io/x.jpg",
		}},
		{"https://storage.example.com/media/localhost:8080/x.jpg", []string{
			"localhost:8080/x.jpg",
		}},
		// An unknown alias is a folder under the prefix.
		{"_unknown_/x.jpg", []string{"https://tok.cloudimg.io/_unknown_/x.jpg", "https://storage.example.com/media/_unknown_/x.jpg"}},
		{"images/*", []string{"https://tok.cloudimg.io/images/*", "https://storage.example.com/media/images/*"}},
		{"images", []string{"https://storage.example.com/media/images", "images"}},
		{"https://storage.example.com/media", []string{"https://storage.example.com/media"}}, // a file named media, beside the prefix
		{"v7x/a.jpg", []string{"v7x/a.jpg", "https://storage.example.com/media/v7x/a.jpg"}},
	}
	for _, c := range classes {
		checkClass(t, "prefix", n, c.key, c.inputs)
	}
}

func TestNormalizeAliases(t *testing.T) {
	n := newTest(t, "aliases")
	classes := []class{
		{"_media_/photos/p.jpg", []string{
			"https://tok.cloudimg.io/_media_/photos/p.jpg?w=600",
			"https://tok.cloudimg.io/v7/_media_/photos/p.jpg",
			"https://cname.example.com/_media_/photos/p.jpg",
			"_media_/photos/p.jpg",
			"/_media_/photos/p.jpg",
			"https://storage.example.com/media/photos/p.jpg",
			"http://storage.example.com:80/media/photos/./p.jpg",
			"storage.example.com/media/photos/p.jpg",
			"https://tok.cloudimg.io/https://storage.example.com/media/photos/p.jpg",
			"https://tok.cloudimg.io/storage.example.com/media/photos/p.jpg",
		}},
		// Longest base first: /media/images is under both _media_ and _img_.
		{"_img_/image1.jpg", []string{
			"https://storage.example.com/media/images/image1.jpg",
			"https://tok.cloudimg.io/_img_/image1.jpg",
			"_img_/image1.jpg",
		}},
		// A CDN URL keeps the alias it was served with.
		{"_media_/images/image1.jpg", []string{
			"https://tok.cloudimg.io/_media_/images/image1.jpg",
			"_media_/images/image1.jpg",
		}},
		// Aliases are whole path segments.
		{"_demo_one_/x.jpg", []string{
			"https://tok.cloudimg.io/_demo_one_/x.jpg",
			"https://one.example.com/base/x.jpg",
		}},
		{"_demo_/x.jpg", []string{
			"https://tok.cloudimg.io/_demo_/x.jpg",
			"https://demo.example.com/x.jpg",
			"demo.example.com/x.jpg",
		}},
		{"_demo_/_demo_one_/x.jpg", []string{
			"https://demo.example.com/_demo_one_/x.jpg",
			"_demo_/_demo_one_/x.jpg",
		}},
		{"https://storage.example.com/mediafoo/x.jpg", []string{"https://storage.example.com/mediafoo/x.jpg"}},
		{"https://one.example.com/x.jpg", []string{"https://one.example.com/x.jpg", "https://tok.cloudimg.io/one.example.com/x.jpg"}},
		{"https://img.domain.com/image2.jpg", []string{"https://tok.cloudimg.io/img.domain.com/image2.jpg?w=600"}},
		{"_media_//x.jpg", []string{"https://storage.example.com/media//x.jpg", "_media_//x.jpg"}},
		{"_media_/v7/x.jpg", []string{"https://storage.example.com/media/v7/x.jpg"}},
	}
	for _, c := range classes {
		checkClass(t, "aliases", n, c.key, c.inputs)
	}
	checkDistinct(t, "aliases", n, []string{
		"_media_/images/image1.jpg",
		"_img_/image1.jpg",
		"_demo_/x.jpg",
		"_demo_one_/x.jpg",
		"https://storage.example.com/mediafoo/x.jpg",
	})
}

func TestNormalizeAll(t *testing.T) {
	n := newTest(t, "all")
	classes := []class{
		{"/v7/images/image1.jpg", []string{
			"https://tok.cloudimg.io/v7/images/image1.jpg?w=600",
			"https://tok.cloudimg.io/images/image1.jpg",
			"https://storage.example.com/media/images/image1.jpg",
			"images/image1.jpg",
			"/v7/images/image1.jpg",
		}},
		{"/v7/v7/x.jpg", []string{ // with /v7/ kept, a folder named v7 is fine
			"https://storage.example.com/media/v7/x.jpg",
			"https://tok.cloudimg.io/v7/v7/x.jpg",
			"/v7/v7/x.jpg",
		}},
		{"/v7/_demo_one_/x.jpg", []string{
			"https://tok.cloudimg.io/v7/_demo_one_/x.jpg",
			"https://one.example.com/base/x.jpg",
		}},
		{"/v7/https://img.domain.com/image2.jpg", []string{
			"https://tok.cloudimg.io/v7/https://img.domain.com/image2.jpg?w=600",
			"https://img.domain.com/image2.jpg",
		}},
		{"/v7/https://storage.example.com/media/a:b.jpg", []string{
			"https://storage.example.com/media/a:b.jpg",
			"https://tok.cloudimg.io/v7/a:b.jpg",
		}},
	}
	for _, c := range classes {
		checkClass(t, "all", n, c.key, c.inputs)
	}
}

// TestDocTable tests every row of the table in docs/cloudimage-api.md and
// the examples of the seed page.
func TestDocTable(t *testing.T) {
	rows := []struct {
		setup string
		cfg   Config
		in    string
		want  string
	}{
		{"a token created after Nov 2021", Config{Token: "tok"},
			"https://tok.cloudimg.io/img.domain.com/image2.jpg?w=600", "https://img.domain.com/image2.jpg"},
		{"a token created before Nov 2021", Config{Token: "tok", LegacyV7: true},
			"https://tok.cloudimg.io/v7/https://img.domain.com/image2.jpg?w=600", "/v7/https://img.domain.com/image2.jpg"},
		{"an origin URL prefix", Config{Token: "tok", OriginPrefix: "https://storage.example.com/media/"},
			"https://tok.cloudimg.io/images/image1.jpg", "images/image1.jpg"},
		{"an alias", Config{Token: "tok", Aliases: map[string]string{"_media_": "https://storage.example.com/media"}},
			"https://tok.cloudimg.io/_media_/images/image1.jpg", "_media_/images/image1.jpg"},
		// seed page examples
		{"seed: body, after Nov 2021", Config{Token: "doc"}, "https://img.domain.com/image2.jpg?w=600", "https://img.domain.com/image2.jpg"},
		{"seed: body, before Nov 2021", Config{Token: "doc", LegacyV7: true}, "https://img.domain.com/image2.jpg?w=600", "/v7/https://img.domain.com/image2.jpg"},
		{"seed: origin prefix", Config{Token: "doc", OriginPrefix: "https://storage.example.com/media/"}, "images/image1.jpg", "images/image1.jpg"},
		{"seed: alias", Config{Token: "doc", Aliases: map[string]string{"_alias_": "https://storage.example.com/media"}}, "_alias_/images/image1.jpg", "_alias_/images/image1.jpg"},
		{"seed: JSON sample", Config{Token: "doc"}, "/sample.li/birds.jpg", "https://sample.li/birds.jpg"},
		{"seed: JSON sample", Config{Token: "doc"}, "/sample.li/boat.jpg", "https://sample.li/boat.jpg"},
		{"seed: doc token", Config{Token: "doc"}, "https://doc.cloudimg.io/sample.li/now.php?w=500&", "https://sample.li/now.php"},
		{"seed: doc token", Config{Token: "doc"}, "https://doc.cloudimg.io/sample.li/now.php?width=500", "https://sample.li/now.php"},
	}
	for _, r := range rows {
		n, err := New(r.cfg)
		if err != nil {
			t.Fatalf("%s: New: %v", r.setup, err)
		}
		for _, in := range []string{r.in, r.want} { // the key column is a key: it maps to itself
			got, err := n.Normalize(in)
			if err != nil || got != r.want {
				t.Errorf("%s: Normalize(%q) = %q, %v; want %q", r.setup, in, got, err, r.want)
			}
		}
	}
}

// TestReject: each input Normalize refuses, with the reason it gives.
// It runs over 80 lines on purpose: most of it is the table of cases.
func TestReject(t *testing.T) {
	long := "https://img.domain.com/" + strings.Repeat("a", MaxInputLen)
	grows := "https://img.domain.com/" + strings.Repeat("é", 2000) // 4 KiB in, 12 KiB once escaped
	tests := []struct {
		cfg  string
		in   string
		want string // in the reason
	}{
		{"plain", "", "empty or blank"},
		{"plain", "   ", "empty or blank"},
		{"plain", "\t\r\n", "empty or blank"},
		{"plain", "\uFEFF", "empty or blank"},
		{"plain", long, "over the 8192-byte limit"},
		{"plain", grows, "over the 8192-byte limit"},
		{"plain", "javascript:alert(1)", `scheme "javascript:"`},
		{"plain", "JavaScript:alert(document.cookie)//x.jpg", `scheme "JavaScript:"`},
		{"plain", "file:///etc/passwd", `scheme "file:"`},
		{"plain", "data:image/png;base64,iVBORw0KGgo=", `scheme "data:"`},
		{"plain", "ftp://img.domain.com/x.jpg", `scheme "ftp:"`},
		{"plain", "mailto:a@b.com", `scheme "mailto:"`},
		{"plain", `C:\images\x.jpg`, `scheme "C:"`},
		{"plain", "https://user:pass@img.domain.com/x.jpg", "user info"},
		{"plain", "https://user@img.domain.com/x.jpg", "user info"},
		{"plain", "https://img.domain.com@evil.example/x.jpg", "user info"},
		{"plain", "user@img.domain.com/x.jpg", "user info"},
		{"plain", "https://tok.cloudimg.io/https://u:p@img.domain.com/x.jpg", "user info"},
		{"plain", "https://", "no host"},
		{"plain", "https://:8080/x.jpg", "no host"},
		{"plain", "https://img..domain.com/x.jpg", "empty label"},
		{"plain", "https://.img.domain.com/x.jpg", "empty label"},
		{"plain", "https://-img.domain.com/x.jpg", "starts or ends with -"},
		{"plain", "https://img domain.com/x.jpg", "cannot contain"},
		{"plain", "https://img.domain.com:99999/x.jpg", "out of the range"},
		{"plain", "https://img.domain.com:8o8o/x.jpg", "not a number"},
		{"plain", "https://img.domain.com:0/x.jpg", "port 0"},
		{"plain", "https://localhost/x.jpg", "no dot"},
		{"plain", "https://" + strings.Repeat("a", 64) + ".com/x.jpg", "longer than 63"},
		{"plain", "https://" + strings.Repeat("a.", 130) + "com/x.jpg", "longer than the 253"},
		{"plain", "https://999.1.1.1/x.jpg", "IPv4"},
		{"plain", "https://01.2.3.4/x.jpg", "IPv4"},
		{"plain", "https://1.2.3/x.jpg", "IPv4"},
		{"plain", "https://0x7f.1/x.jpg", "IPv4"},
		{"plain", "https://bücher.de/x.jpg", "punycode"},
		{"plain", "bücher.de/x.jpg", "punycode"},
		{"plain", "https://img%2Edomain.com/x.jpg", "%-escape"},
		{"plain", "https://[::1/x.jpg", "no closing ]"},
		{"plain", "https://[zz::1]/x.jpg", "invalid IPv6"},
		{"plain", "https://[1.2.3.4]/x.jpg", "invalid IPv6"},
		{"plain", "https://[fe80::1%25eth0]/x.jpg", "invalid IPv6"},
		{"plain", "https://[::1]x/x.jpg", "only :port"},
		{"plain", "https://img.domain.com/a\x00.jpg", `control character '\x00' at byte 24`},
		{"plain", "https://img.domain.com/a\nb.jpg", `control character '\n'`},
		{"plain", "https://img.domain.com/a\tb.jpg", `control character '\t'`},
		{"plain", "https://img.domain.com/x.jpg\r\nhttps://img.domain.com/y.jpg", `control character '\r'`},
		{"plain", "https://img.domain.com/x\x7f.jpg", `control character '\x7f'`},
		{"plain", "https://img.domain.com/x.jpg?w=1\x1b", `control character '\x1b'`},
		{"plain", "https://img.domain.com/\xff\xfe.jpg", "not valid UTF-8"},
		{"plain", "https://img.domain.com/caf\xe9.jpg", "not valid UTF-8"},
		{"plain", "https://other.cloudimg.io/img.domain.com/x.jpg", `token "other", not of this token "tok"`},
		{"plain", "other.cloudimg.io/img.domain.com/x.jpg", `token "other"`},
		{"plain", "https://OTHER.cloudimg.io/v7/img.domain.com/x.jpg", `token "other"`},
		{"plain", "https://tok.cloudimg.io/https://other.cloudimg.io/x/y.jpg", `token "other"`},
		{"plain", "https://a.b.cloudimg.io/x/y.jpg", "does not serve this token"},
		{"plain", "https://cloudimg.io/x/y.jpg", "does not serve this token"},
		{"plain", "https://tok.cloudimg.io/", "no image path"},
		{"plain", "https://tok.cloudimg.io", "no image path"},
		{"plain", "https://tok.cloudimg.io/?w=600", "no image path"},
		{"plain", "https://tok.cloudimg.io/v7/", "no image path"},
		{"plain", "https://tok.cloudimg.io/v7", "no image path"},
		{"plain", "tok.cloudimg.io", "no image path"},
		{"plain", "https://cname.example.com/", "no image path"},
		{"plain", "https://img.domain.com", "no image path"},
		{"plain", "https://img.domain.com/", "no image path"},
		{"plain", "https://img.domain.com/..", "no image path"},
		{"plain", "img.domain.com", "no image path"},
		{"plain", "/", "no image path"},
		{"plain", "?w=600", "only a query string"},
		{"plain", "#top", "only a query string"},
		{"plain", "https://img.domain.com/folder/", "names a folder"},
		{"plain", "https://img.domain.com/folder/.", "names a folder"},
		{"plain", "https://img.domain.com/a/b/..", "names a folder"},
		{"plain", "https://tok.cloudimg.io/https://tok.cloudimg.io/img.domain.com/x.jpg", "inside another"},
		{"plain", "https://tok.cloudimg.io/https://cname.example.com/img.domain.com/x.jpg", "inside another"},
		{"plain", "https://tok.cloudimg.io/tok.cloudimg.io/img.domain.com/x.jpg", "inside a Cloudimage URL"},
		{"plain", "https://tok.cloudimg.io:8443/img.domain.com/x.jpg", "port on the Cloudimage host"},
		{"plain", "tok.cloudimg.io:8443/img.domain.com/x.jpg", "port on the Cloudimage host"},
		{"plain", "https://tok.cloudimg.io/images/image1.jpg", "origin prefix"},
		{"plain", "images/image1.jpg", "origin prefix"},
		{"plain", "https://tok.cloudimg.io/image1.jpg", "no image path after the host \"image1.jpg\""},
		{"plain", "_media_/x.jpg", "aliases"},
		{"plain", "localhost:8080/x.jpg", "not a host name"},
		{"plain", "https://tok.cloudimg.io/https%3A%2F%2Fimg.domain.com%2Fx.jpg", "percent-encoded origin URL"},
		{"legacy", "https://tok.cloudimg.io/v7/", "no image path"},
		{"legacy", "/v7/javascript:alert(1)", "not a host name"},
		{"prefix", "https://tok.cloudimg.io/", "no image path"},
		{"prefix", "https://tok.cloudimg.io/images/", "names a folder"},
		{"prefix", "https://storage.example.com/media/", "names a folder"},
		{"prefix", "tok.cloudimg.io/tok.cloudimg.io/x.jpg", "inside a Cloudimage URL"},
		{"prefix", "https://tok.cloudimg.io/other.cloudimg.io/x.jpg", `token "other"`},
		{"aliases", "_media_", "no image path after the alias _media_"},
		{"aliases", "https://tok.cloudimg.io/_media_/", "no image path after the alias _media_"},
		{"aliases", "_media_/photos/", "names a folder"},
		{"aliases", "https://storage.example.com/media/", "names a folder"},
		{"aliases", "_demo_x/a.jpg", "not a host name"},
		{"aliases", "_nope_/x.jpg", "not an alias of this token"},
	}
	for _, tt := range tests {
		n := newTest(t, tt.cfg)
		got, err := n.Normalize(tt.in)
		if err == nil {
			t.Errorf("%s: Normalize(%.60q) = %q, want an error with %q", tt.cfg, tt.in, got, tt.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: Normalize(%.60q) error %T, want *Error", tt.cfg, tt.in, err)
			continue
		}
		if !strings.Contains(e.Reason, tt.want) {
			t.Errorf("%s: Normalize(%.60q) reason %q, want it to mention %q", tt.cfg, tt.in, e.Reason, tt.want)
		}
		if got != "" {
			t.Errorf("%s: Normalize(%.60q) returned %q with its error", tt.cfg, tt.in, got)
		}
		// The message names the input (its start) and the reason.
		shown := tt.in
		if len(shown) > 20 {
			shown = shown[:20]
		}
		msg := err.Error()
		if q := fmt.Sprintf("%q", shown); !strings.Contains(msg, q[:len(q)-1]) || !strings.Contains(msg, e.Reason) {
			t.Errorf("%s: error %q does not name the input %q and the reason", tt.cfg, msg, shown)
		}
	}
}

func TestErrorInputTruncated(t *testing.T) {
	n := newTest(t, "plain")
	in := "ftp://" + strings.Repeat("é", 200)
	_, err := n.Normalize(in)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Normalize: %v, want *Error", err)
	}
	if len(e.Input) > maxErrInput+len("...") || !strings.HasSuffix(e.Input, "...") || !strings.HasPrefix(in, strings.TrimSuffix(e.Input, "...")) {
		t.Errorf("Input = %q, want the first %d bytes of the input and ...", e.Input, maxErrInput)
	}
	if s := strings.TrimSuffix(e.Input, "..."); !strings.HasSuffix(s, "é") {
		t.Errorf("Input = %q, cut inside a character", e.Input)
	}
	want := `url "ftp://` // %q-quoted
	if got := err.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("Error() = %q, want it to start with %q", got, want)
	}
	if got := (&Error{Input: "a\x00b", Reason: "r"}).Error(); got != `url "a\x00b": r` {
		t.Errorf("Error() = %q", got)
	}
}

// TestKeysAreFixedPoints checks the promise of the package doc on every
// key the tables produce: a key normalises to itself, and so does the CDN
// URL of the key, on the token host and on a CNAME, with a query string.
func TestKeysAreFixedPoints(t *testing.T) {
	for _, c := range testConfigs {
		n := newTest(t, c.name)
		for _, cl := range plainClasses {
			for _, in := range cl.inputs {
				key, err := n.Normalize(in)
				if err != nil {
					continue // e.g. a host-style path under the prefix that is rejected elsewhere
				}
				checkFixedPoint(t, n, in, key)
			}
		}
	}
}

func TestNormalizeConcurrent(t *testing.T) {
	n := newTest(t, "all")
	var inputs []string
	for _, c := range plainClasses {
		inputs = append(inputs, c.inputs...)
	}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		want[i], _ = n.Normalize(in)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, in := range inputs {
				if got, _ := n.Normalize(in); got != want[i] {
					t.Errorf("concurrent Normalize(%q) = %q, want %q", in, got, want[i])
				}
			}
		}()
	}
	wg.Wait()
}

func TestNormalizeAllocs(t *testing.T) {
	n := newTest(t, "plain")
	for _, in := range benchInputs["plain"] {
		allocs := testing.AllocsPerRun(100, func() { _, _ = n.Normalize(in) })
		if allocs > 1 {
			t.Errorf("Normalize(%q): %v allocations, want at most 1", in, allocs)
		}
	}
	key := "https://img.domain.com/image2.jpg"
	if allocs := testing.AllocsPerRun(100, func() { _, _ = n.Normalize(key) }); allocs != 0 {
		t.Errorf("Normalize(key): %v allocations, want 0 (the input is returned)", allocs)
	}
}

func checkClass(t *testing.T, cfg string, n *Normalizer, want string, inputs []string) {
	t.Helper()
	for _, in := range append([]string{want}, inputs...) {
		got, err := n.Normalize(in)
		if err != nil || got != want {
			t.Errorf("%s: Normalize(%q) = %q, %v; want %q", cfg, in, got, err, want)
			continue
		}
		checkFixedPoint(t, n, in, got)
	}
}

func checkDistinct(t *testing.T, cfg string, n *Normalizer, inputs []string) {
	t.Helper()
	seen := map[string]string{}
	for _, in := range inputs {
		key, err := n.Normalize(in)
		if err != nil {
			t.Errorf("%s: Normalize(%q): %v", cfg, in, err)
			continue
		}
		if prev, ok := seen[key]; ok {
			t.Errorf("%s: %q and %q share the key %q", cfg, prev, in, key)
		}
		seen[key] = in
	}
}

// checkFixedPoint checks that key (the key of in) normalises to itself,
// and that its CDN URLs do too.
func checkFixedPoint(t testing.TB, n *Normalizer, in, key string) {
	t.Helper()
	if again, err := n.Normalize(key); err != nil || again != key {
		t.Errorf("Normalize(%q) = %q; Normalize of that key = %q, %v (not a fixed point)", in, key, again, err)
	}
	path := strings.TrimPrefix(key, "/")
	for _, cdn := range []string{
		"https://tok.cloudimg.io/" + path,
		"https://tok.cloudimg.io/" + path + "?w=600&h=400",
		"https://cname.example.com/" + path + "#x",
	} {
		if len(cdn) > MaxInputLen {
			continue
		}
		if got, err := n.Normalize(cdn); err != nil || got != key {
			t.Errorf("Normalize(%q) = %q; its CDN URL %q gives %q, %v", in, key, cdn, got, err)
		}
	}
}

// TestLongInputs feeds inputs near MaxInputLen that stress the path and
// host code (many dot segments, slashes, escapes): no panic, and every key
// is a fixed point.
func TestLongInputs(t *testing.T) {
	ins := []string{
		strings.Repeat("../", MaxInputLen/3),
		"https://img.domain.com/" + strings.Repeat("a/", 4000) + "x.jpg",
		"https://img.domain.com/" + strings.Repeat("a/", 2000) + strings.Repeat("../", 1990) + "x.jpg",
		"https://img.domain.com/" + strings.Repeat("%2e%2e/", 1150) + "x.jpg",
		strings.Repeat("tok.cloudimg.io/", 500),
		strings.Repeat("/", MaxInputLen),
		strings.Repeat("v7/", 2700) + "x.jpg",
		"https://tok.cloudimg.io/" + strings.Repeat("https:", 1300),
		strings.Repeat("é", MaxInputLen/2),
		strings.Repeat("a", MaxInputLen),
		strings.Repeat("a.", MaxInputLen/2),
		strings.Repeat("[", MaxInputLen),
		"https://img.domain.com/" + strings.Repeat("%", 2700),
		"https://img.domain.com/" + strings.Repeat("x", MaxInputLen-len("https://img.domain.com/")),
	}
	for _, n := range fuzzNormalizers {
		for _, in := range ins {
			if key, err := n.Normalize(in); err == nil {
				checkFixedPoint(t, n, in, key)
			}
		}
	}
}
