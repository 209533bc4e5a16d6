package normalize

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cipurge/cipurge/internal/kvlist"
)

// Config is the token configuration. Only Token is required.
// The zero value of every other field means "not used by this token".
type Config struct {
	// Token is the Cloudimage token, e.g. "demo".
	// Its CDN host is then https://demo.cloudimg.io. Required.
	Token string
	// Hosts are custom CNAME hosts that serve the same token, e.g.
	// "img.example.com". A URL on one of them is read like a
	// URL on {Token}.cloudimg.io. Blank entries are ignored; an entry may
	// carry an http(s):// scheme and a trailing slash, nothing else.
	Hosts []string
	// LegacyV7 is true for tokens created before November 2021.
	// Their keys carry the /v7/ form. Otherwise keys never do.
	LegacyV7 bool
	// OriginPrefix is the origin URL prefix set up for the token, e.g.
	// "https://storage.example.com/media/". Keys never
	// include it. Empty means no prefix. It names a folder: a missing
	// trailing slash is added.
	OriginPrefix string
	// Aliases maps an alias name to the origin base it stands for, as
	// ParseAliases returns it, e.g. "_media_" ->
	// "https://storage.example.com/media". Keys use the alias, never what
	// it expands to. Nil or empty means no aliases.
	Aliases map[string]string
}

// Normalizer turns URLs into invalidation keys for one token
// configuration. Build it with New; it is immutable and safe for
// concurrent use.
type Normalizer struct {
	legacy    bool
	token     string   // "demo"
	tokenHost string   // "demo.cloudimg.io"
	cnames    []string // canonical CNAME hosts
	prefix    *base    // nil without an origin prefix
	aliases   []alias  // longest base path first
}

// base is a parsed origin base: an origin prefix or an alias target.
type base struct {
	hostport string // canonical "host[:port]"
	host     string // hostport without the port
	path     string // normalised path, always ending with "/" (an alias "_a_" = "https://h/p" has path "/p/")
}

type alias struct {
	name      string // "_media_"
	nameSlash string // "_media_/"
	base      base   // base.path ends with "/"
}

// ParseAliases parses the aliases syntax
// "_name_=https://base,_other_=https://b2" into a map of alias name to
// origin base. Spaces around entries, names and values are ignored, and so
// are empty entries (a trailing comma). Each name is "_" + letters, digits,
// "-", "." or "~" (and inner "_") + "_"; each value is an http(s) URL with
// a host (a missing scheme means https). Errors are *ConfigError for
// field Aliases; they name the bad entry and the fix.
func ParseAliases(s string) (map[string]string, error) {
	m := make(map[string]string)
	err := kvlist.Each(s, "_name_=https://origin/base", func(en kvlist.Entry) error {
		e, name, val := en.Text, en.Name, en.Value
		if reason := checkAliasName(name); reason != "" {
			return fmt.Errorf("entry %q: %s", e, reason)
		}
		if _, dup := m[name]; dup {
			return fmt.Errorf("names %s twice (entry %q): keep one entry per alias", name, e)
		}
		if _, reason := parseBase(val); reason != "" {
			return fmt.Errorf("entry %q: the base %s", e, reason)
		}
		m[name] = val
		return nil
	})
	if err != nil {
		return nil, &ConfigError{Field: "Aliases", Reason: err.Error()}
	}
	return m, nil
}

// checkAliasName returns why name cannot be a Cloudimage alias, or "".
func checkAliasName(name string) string {
	if len(name) < 3 || name[0] != '_' || name[len(name)-1] != '_' {
		return fmt.Sprintf("alias name %q must start and end with \"_\" and have something between, e.g. _media_", name)
	}
	for i := 1; i < len(name)-1; i++ {
		if pathClass[name[i]] != clsUnreserved {
			return fmt.Sprintf("alias name %q contains %q: use only letters, digits, \"_\", \"-\", \".\" and \"~\"", name, string(rune(name[i])))
		}
	}
	return ""
}

// parseBase parses an origin base URL (an origin prefix or an alias
// target). A missing scheme means https. The path is normalised like any
// key path and always ends with "/".
func parseBase(v string) (base, string) {
	if v == "" {
		return base{}, "is empty: set an origin URL such as https://storage.example.com/media/"
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c <= ' ' || c == 0x7f:
			return base{}, fmt.Sprintf("%q contains a space or control character: remove it", v)
		case c == '?' || c == '#':
			return base{}, fmt.Sprintf("%q has a query or fragment: give the origin URL up to the folder only", v)
		case c == '*':
			return base{}, fmt.Sprintf("%q contains \"*\": give a plain origin URL", v)
		}
	}
	_, rest, reason := splitScheme(v) // with or without a scheme, the host comes first
	if reason != "" {
		return base{}, fmt.Sprintf("%q %s", v, reason)
	}
	auth, p := splitAuthority(rest)
	hp, hl, prob := appendHostPort(nil, auth)
	if prob != hostOK {
		return base{}, fmt.Sprintf("%q %s", v, prob.explain(auth))
	}
	if _, ok := isCloudimgHost(hp[:hl]); ok {
		return base{}, fmt.Sprintf("%q is a Cloudimage host: %s", v, notCDN)
	}
	path := normPath(nil, p)
	if len(path) == 0 || path[len(path)-1] != '/' {
		path = append(path, '/')
	}
	return base{hostport: string(hp), host: string(hp[:hl]), path: string(path)}, ""
}

// New validates cfg and returns a ready Normalizer.
// Errors are *ConfigError: they name the field at fault and the fix.
func New(cfg Config) (*Normalizer, error) {
	tok, err := checkToken(cfg.Token)
	if err != nil {
		return nil, err
	}
	n := &Normalizer{legacy: cfg.LegacyV7, token: tok, tokenHost: tok + "." + cloudimgDomain}
	if err := n.addHosts(cfg.Hosts); err != nil {
		return nil, err
	}
	if err := n.setPrefix(cfg.OriginPrefix); err != nil {
		return nil, err
	}
	if err := n.addAliases(cfg.Aliases); err != nil {
		return nil, err
	}
	return n, nil
}

// checkToken returns the token raw in its canonical form, lower case.
func checkToken(raw string) (string, error) {
	tok := strings.ToLower(strings.TrimSpace(raw))
	if tok == "" {
		return "", &ConfigError{Field: "Token", Reason: "is empty: set it to your Cloudimage token, e.g. demo"}
	}
	if strings.ContainsAny(tok, "./:") {
		return "", badToken(raw, "is a host or URL, not a token: set only the token, e.g. demo for https://demo.cloudimg.io")
	}
	if len(tok) > 63 {
		return "", badToken(raw, "is longer than 63 characters, so it cannot be a host label: check the token in the Cloudimage admin console")
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "", badToken(raw, fmt.Sprintf("contains %q: a token has only letters, digits and -, e.g. demo", string(rune(c))))
		}
	}
	return tok, nil
}

// addHosts adds the CNAME hosts of the token, in Config.Hosts form.
func (n *Normalizer) addHosts(hosts []string) error {
	for _, raw := range hosts {
		h := strings.TrimSpace(raw)
		if h == "" {
			continue
		}
		for _, scheme := range []string{"https://", "http://"} {
			if len(h) >= len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) {
				h = h[len(scheme):]
				break
			}
		}
		h = strings.TrimSuffix(h, "/")
		if strings.ContainsAny(h, "/\\?#") {
			return badHost(raw, "has a path: list host names only, e.g. img.example.com,cdn.example.com")
		}
		hp, hl, prob := appendHostPort(nil, h)
		if prob != hostOK {
			return badHost(raw, prob.explain(h))
		}
		if hl != len(hp) {
			return badHost(raw, "has a port: Cloudimage serves CNAMEs on the default ports, list the host name only")
		}
		if tok, ok := isCloudimgHost(hp); ok {
			if string(hp) == n.tokenHost {
				continue // the token host itself: nothing to add
			}
			return badHost(raw, fmt.Sprintf("is the Cloudimage host of token %q, not of this token %q: list only your own CNAME hosts", tok, n.token))
		}
		if !n.isCDN(hp) {
			n.cnames = append(n.cnames, string(hp))
		}
	}
	return nil
}

// setPrefix sets the origin prefix, in Config.OriginPrefix form.
// It runs after addHosts: the prefix may not be on a CNAME host.
func (n *Normalizer) setPrefix(raw string) error {
	v := strings.TrimSpace(raw)
	if v == "" {
		return nil
	}
	b, reason := parseBase(v)
	if reason != "" {
		return &ConfigError{Field: "OriginPrefix", Reason: reason}
	}
	if n.isCDN([]byte(b.host)) {
		return &ConfigError{Field: "OriginPrefix", Reason: fmt.Sprintf("%q is on a CNAME host of the token: %s", v, notCDN)}
	}
	n.prefix = &b
	return nil
}

// addAliases adds the aliases, in Config.Aliases form.
// It runs after addHosts: no alias base may be on a CNAME host.
func (n *Normalizer) addAliases(aliases map[string]string) error {
	for name, val := range aliases {
		if reason := checkAliasName(name); reason != "" {
			return &ConfigError{Field: "Aliases", Reason: reason}
		}
		b, reason := parseBase(strings.TrimSpace(val))
		if reason != "" {
			return &ConfigError{Field: "Aliases", Reason: fmt.Sprintf("entry %s=%s: the base %s", name, val, reason)}
		}
		if n.isCDN([]byte(b.host)) {
			return &ConfigError{Field: "Aliases", Reason: fmt.Sprintf("entry %s=%s is on a CNAME host of the token: %s", name, val, notCDN)}
		}
		n.aliases = append(n.aliases, alias{name: name, nameSlash: name + "/", base: b})
	}
	// Longest base first, so that an origin URL under two alias bases gets
	// the most specific alias. Ties (two aliases for one base) go to the
	// first name in byte order, so the choice never depends on map order.
	sort.Slice(n.aliases, func(i, j int) bool {
		a, b := n.aliases[i], n.aliases[j]
		if len(a.base.path) != len(b.base.path) {
			return len(a.base.path) > len(b.base.path)
		}
		return a.name < b.name
	})
	return nil
}

// notCDN is the fix for an origin URL on a CDN host.
const notCDN = "give the origin URL (your image storage), not the CDN one"

// ConfigError says which field of Config is wrong, and how to fix it.
// A program that fills Config from settings of its own names the setting with Named.
type ConfigError struct {
	Field  string // the Config field at fault: "Token", "Hosts", "OriginPrefix" or "Aliases"
	Reason string // what is wrong and the fix, worded to follow the field's name
}

// Error returns the field's name and the reason.
func (e *ConfigError) Error() string { return e.Named(e.Field) }

// Named returns the message with name in the place of the field's name.
func (e *ConfigError) Named(name string) string { return name + " " + e.Reason }

// badToken is the *ConfigError of a token, quoting it.
func badToken(tok, reason string) *ConfigError {
	return &ConfigError{Field: "Token", Reason: fmt.Sprintf("%q %s", tok, reason)}
}

// badHost is the *ConfigError of an entry of Hosts.
func badHost(entry, reason string) *ConfigError {
	return &ConfigError{Field: "Hosts", Reason: fmt.Sprintf("entry %q %s", entry, reason)}
}

// isCDN reports whether the canonical host h serves this token.
func (n *Normalizer) isCDN(h []byte) bool {
	if string(h) == n.tokenHost {
		return true
	}
	for _, c := range n.cnames {
		if string(h) == c {
			return true
		}
	}
	return false
}

// findAlias returns the configured alias named seg, or nil.
func (n *Normalizer) findAlias(seg []byte) *alias {
	if len(seg) < 3 || seg[0] != '_' {
		return nil
	}
	for i := range n.aliases {
		if string(seg) == n.aliases[i].name {
			return &n.aliases[i]
		}
	}
	return nil
}

// LegacyV7 reports whether keys carry the /v7/ form (Config.LegacyV7).
func (n *Normalizer) LegacyV7() bool { return n.legacy }
