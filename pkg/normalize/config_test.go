package normalize

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // all in the error
	}{
		{"empty token", Config{}, []string{"Token is empty: set it to your Cloudimage token, e.g. demo"}},
		{"blank token", Config{Token: "  "}, []string{"Token is empty"}},
		{"token is a host", Config{Token: "doc.cloudimg.io"}, []string{"Token", "set only the token"}},
		{"token is a URL", Config{Token: "https://doc"}, []string{"Token", "set only the token"}},
		{"token with space", Config{Token: "do c"}, []string{"Token", `" "`}},
		{"token too long", Config{Token: strings.Repeat("a", 64)}, []string{"Token", "63"}},
		{"host of another token", Config{Token: "doc", Hosts: []string{"other.cloudimg.io"}}, []string{"Hosts", `token "other"`}},
		{"host with path", Config{Token: "doc", Hosts: []string{"img.example.com/images"}}, []string{"Hosts", "host names only"}},
		{"host with port", Config{Token: "doc", Hosts: []string{"img.example.com:8080"}}, []string{"Hosts", "port"}},
		{"bad host", Config{Token: "doc", Hosts: []string{"img_example"}}, []string{"Hosts", "no dot"}},
		{"host with user", Config{Token: "doc", Hosts: []string{"u@img.example.com"}}, []string{"Hosts", "user info"}},
		{"prefix scheme", Config{Token: "doc", OriginPrefix: "ftp://storage.example.com/media/"}, []string{"OriginPrefix", `"ftp:"`}},
		{"prefix on cloudimg", Config{Token: "doc", OriginPrefix: "https://doc.cloudimg.io/media/"}, []string{"OriginPrefix", "not the CDN"}},
		{"prefix on cname", Config{Token: "doc", Hosts: []string{"img.example.com"}, OriginPrefix: "https://img.example.com/media/"}, []string{"OriginPrefix", "CNAME host"}},
		{"prefix query", Config{Token: "doc", OriginPrefix: "https://storage.example.com/media/?a=1"}, []string{"OriginPrefix", "query"}},
		{"prefix user", Config{Token: "doc", OriginPrefix: "https://u:p@storage.example.com/"}, []string{"OriginPrefix", "user info"}},
		{"prefix bad host", Config{Token: "doc", OriginPrefix: "https:///media/"}, []string{"OriginPrefix", "no dot"}},
		{"prefix space", Config{Token: "doc", OriginPrefix: "https://storage.example.com/my media/"}, []string{"OriginPrefix", "space"}},
		{"alias name", Config{Token: "doc", Aliases: map[string]string{"media": "https://s.example.com"}}, []string{"Aliases", "start and end with"}},
		{"alias name slash", Config{Token: "doc", Aliases: map[string]string{"_a/b_": "https://s.example.com"}}, []string{"Aliases", `"/"`}},
		{"alias base", Config{Token: "doc", Aliases: map[string]string{"_m_": "ftp://s.example.com"}}, []string{"Aliases", "_m_"}},
		{"alias on cloudimg", Config{Token: "doc", Aliases: map[string]string{"_m_": "https://doc.cloudimg.io/x"}}, []string{"Aliases", "not the CDN"}},
		{"alias on cname", Config{Token: "doc", Hosts: []string{"img.example.com"}, Aliases: map[string]string{"_m_": "https://img.example.com/x"}}, []string{"Aliases", "CNAME host"}},
		{"alias empty base", Config{Token: "doc", Aliases: map[string]string{"_m_": ""}}, []string{"Aliases", "empty"}},
	}
	for _, tt := range tests {
		n, err := New(tt.cfg)
		if err == nil {
			t.Errorf("%s: New(%+v) = %v, want an error", tt.name, tt.cfg, n)
			continue
		}
		// The error is typed, and its first word is the field at fault.
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.want[0] && !strings.HasPrefix(tt.want[0], ce.Field+" ") {
			t.Errorf("%s: New error %#v, want a *ConfigError of field %s", tt.name, err, tt.want[0])
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: New error %q, want it to mention %q", tt.name, err, w)
			}
		}
	}
}

func TestNewNormalisesConfig(t *testing.T) {
	n, err := New(Config{
		Token:        " DOC ",
		Hosts:        []string{" https://IMG.Example.com/ ", "", "doc.cloudimg.io", "img.example.com"},
		OriginPrefix: "storage.example.com/media", // no scheme, no trailing slash
		Aliases:      map[string]string{"_m_": "HTTPS://S.example.com/base/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.tokenHost != "doc.cloudimg.io" || !reflect.DeepEqual(n.cnames, []string{"img.example.com"}) {
		t.Errorf("tokenHost %q, cnames %q", n.tokenHost, n.cnames)
	}
	for in, want := range map[string]string{
		"https://img.example.com/images/a.jpg":                "images/a.jpg",
		"https://storage.example.com/media/images/a.jpg":      "images/a.jpg",
		"https://doc.cloudimg.io/_m_/a.jpg":                   "_m_/a.jpg",
		"https://s.example.com/base/a.jpg":                    "_m_/a.jpg",
		"https://doc.cloudimg.io/https://s.example.com/b.jpg": "https://s.example.com/b.jpg",
	} {
		if got, err := n.Normalize(in); err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if n.LegacyV7() {
		t.Error("LegacyV7() = true")
	}
}

// The Normalizer does not share the caller's slices or maps.
func TestNewCopiesConfig(t *testing.T) {
	cfg := Config{Token: "doc", Hosts: []string{"img.example.com"}, Aliases: map[string]string{"_m_": "https://s.example.com"}}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Hosts[0] = "evil.example.com"
	cfg.Aliases["_m_"] = "https://evil.example.com"
	if got, _ := n.Normalize("https://img.example.com/_m_/a.jpg"); got != "_m_/a.jpg" {
		t.Errorf("after changing cfg: %q", got)
	}
	if got, _ := n.Normalize("https://s.example.com/a.jpg"); got != "_m_/a.jpg" {
		t.Errorf("after changing cfg: %q", got)
	}
}

func TestAliasTieIsDeterministic(t *testing.T) {
	for i := 0; i < 20; i++ { // map order varies between runs of the loop
		n, err := New(Config{Token: "doc", Aliases: map[string]string{
			"_b_": "https://s.example.com/x", "_a_": "https://s.example.com/x/", "_c_": "https://s.example.com/x",
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := n.Normalize("https://s.example.com/x/y.jpg"); got != "_a_/y.jpg" {
			t.Fatalf("two aliases for one base: %q, want the first name, _a_/y.jpg", got)
		}
	}
}

func TestParseAliases(t *testing.T) {
	got, err := ParseAliases(" _media_=https://storage.example.com/media , _demo_ = https://demo.example.com,,")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"_media_": "https://storage.example.com/media", "_demo_": "https://demo.example.com"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAliases = %v, want %v", got, want)
	}
	if got, err := ParseAliases(""); err != nil || len(got) != 0 {
		t.Errorf("ParseAliases(\"\") = %v, %v; want empty", got, err)
	}
	for _, tt := range []struct{ in, want string }{
		{"_media_", `entry "_media_" has no "="`},
		{"_m_=https://a.example.com,media=https://b.example.com", `entry "media=https://b.example.com"`},
		{"_m_=https://a.example.com,_m_=https://b.example.com", "_m_ twice"},
		{"_m_=", "empty"},
		{"_m_=ftp://a.example.com", `"ftp:"`},
		{"_m_=https://a.example.com/x?y", "query"},
		{"_m_=https://a.cloudimg.io/x", "not the CDN"},
		{"_m n_=https://a.example.com", "letters, digits"},
		{"__=https://a.example.com", "something between"},
	} {
		_, err := ParseAliases(tt.in)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "Aliases" || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseAliases(%q) error %v, want a *ConfigError of Aliases that mentions %q", tt.in, err, tt.want)
		}
	}
}
