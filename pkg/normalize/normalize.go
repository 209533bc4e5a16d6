package normalize

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sizes of the on-stack scratch buffers. A host is at most 253 bytes plus
// a port; a longer path spills to the heap, which costs one allocation.
const (
	hostBufLen = 272
	pathBufLen = 512
)

// Normalize returns the canonical invalidation key for raw (see the
// package documentation for the forms), or an *Error that names the input
// and the reason. It never panics, whatever the bytes, and is safe for
// concurrent use. Normalising a key returns the key itself.
func (n *Normalizer) Normalize(raw string) (string, error) {
	key, reason := n.normalize(raw)
	if reason == "" && strings.HasSuffix(key, Wildcard) && n.rootKey(key) {
		reason = rootReason
	}
	if reason != "" {
		return "", newError(raw, reason)
	}
	return key, nil
}

// normalize returns the key, or "" and the reason for the rejection.
func (n *Normalizer) normalize(raw string) (string, string) {
	if len(raw) > MaxInputLen {
		return "", fmt.Sprintf("is %d bytes long, over the %d-byte limit for one URL (MaxInputLen)", len(raw), MaxInputLen)
	}
	s, lead := trimSpace(raw)
	if s == "" {
		return "", "is empty or blank: give one image URL per line"
	}
	end := len(s)
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return "", fmt.Sprintf("contains control character %q at byte %d: an image URL has none (two URLs on one line? one per line)", rune(c), lead+i)
		case c >= 0x80:
			ascii = false
		case c == '?' || c == '#':
			if i < end {
				end = i
			}
		}
	}
	if !ascii && !utf8.ValidString(s) {
		return "", "is not valid UTF-8: fix the encoding of the input, or percent-encode the bytes (e.g. %E9)"
	}
	s = s[:end] // a query string (Cloudimage operations) or a fragment is never part of a key
	if s == "" {
		return "", "has no image path, only a query string or fragment"
	}

	var hostArr [hostBufLen]byte
	var pathArr [pathBufLen]byte
	isHTTP, rest, reason := splitScheme(s)
	if reason != "" {
		return "", reason
	}
	if !isHTTP {
		// A key, a CDN path, or an origin URL without its scheme.
		return n.pathForm(raw, normPath(pathArr[:0], s), hostArr[:0], false)
	}
	auth, p := splitAuthority(rest)
	hp, hl, prob := appendHostPort(hostArr[:0], auth)
	if prob != hostOK {
		return "", prob.explain(auth)
	}
	if n.isCDN(hp[:hl]) {
		if hl != len(hp) {
			return "", fmt.Sprintf("has a port on the Cloudimage host %q: CDN URLs use the default port", string(hp[:hl]))
		}
		return n.pathForm(raw, normPath(pathArr[:0], p), hostArr[:0], true)
	}
	if reason := n.otherCloudimg(hp[:hl]); reason != "" {
		return "", reason
	}
	return n.originKey(raw, hp, normPath(pathArr[:0], p))
}

// segKind is what the first segment of a CDN path (or of a key) is.
type segKind uint8

const (
	segOther      segKind = iota // not a host: a folder or file name
	segHost                      // a host name (or IP) that is none of the below
	segURL                       // "http:..." or "https:...": an embedded origin URL
	segAlias                     // a configured alias
	segCDN                       // this token's Cloudimage host or a CNAME
	segCloudimg                  // another *.cloudimg.io host
	segPrefixHost                // the host of the origin prefix
)

// classify says what seg is. For segHost, segCDN, segCloudimg and
// segPrefixHost, hp is the canonical host[:port] appended to hb and hl the
// length of its host part; for segOther, prob says why seg is not a host.
func (n *Normalizer) classify(hb, seg []byte) (k segKind, hp []byte, hl int, prob hostProblem) {
	if hasPrefixFold(seg, "http:") || hasPrefixFold(seg, "https:") {
		return segURL, nil, 0, hostOK
	}
	if n.findAlias(seg) != nil {
		return segAlias, nil, 0, hostOK
	}
	hp, hl, prob = appendHostPort(hb, seg)
	if prob != hostOK {
		return segOther, nil, 0, prob
	}
	switch h := hp[:hl]; {
	case n.isCDN(h):
		return segCDN, hp, hl, hostOK
	case isCloudimg(h):
		return segCloudimg, hp, hl, hostOK
	case n.prefix != nil && string(hp) == n.prefix.hostport:
		return segPrefixHost, hp, hl, hostOK
	}
	return segHost, hp, hl, hostOK
}

// pathForm reads a normalised path pb as the path of a CDN URL: an
// optional /v7/, then an embedded origin URL, an alias, an origin URL
// without its scheme, or (with an origin prefix) a path under the prefix.
// fromCDN is true when pb came from a URL on a CDN host.
func (n *Normalizer) pathForm(raw string, pb, hb []byte, fromCDN bool) (string, string) {
	q := trimSlashes(pb)
	if len(q) >= 2 && q[0] == 'v' && q[1] == '7' && (len(q) == 2 || q[2] == '/') {
		q = trimSlashes(q[2:])
	}
	if len(q) == 0 {
		return "", n.noPath(fromCDN)
	}
	seg := q
	for i, c := range q {
		if c == '/' {
			seg = q[:i]
			break
		}
	}
	rest := q[len(seg):] // "" or "/..."
	k, hp, hl, prob := n.classify(hb, seg)
	switch k {
	case segURL:
		return n.embeddedURL(raw, q, seg, hb)
	case segAlias:
		a := n.findAlias(seg)
		if len(rest) <= 1 {
			return "", fmt.Sprintf("has no image path after the alias %s", a.name)
		}
		tail := rest[1:]
		if tail[len(tail)-1] == '/' {
			return "", folderReason
		}
		return n.finish(raw, a.nameSlash, nil, tail)
	case segCDN:
		if fromCDN {
			return "", fmt.Sprintf("has the Cloudimage host %q inside a Cloudimage URL: give the image URL once", string(hp[:hl]))
		}
		if hl != len(hp) {
			return "", fmt.Sprintf("has a port on the Cloudimage host %q: CDN URLs use the default port", string(hp[:hl]))
		}
		return n.pathForm(raw, rest, hb[:0], true)
	case segCloudimg:
		return "", n.otherCloudimg(hp[:hl])
	case segPrefixHost:
		return n.originKey(raw, hp, rest)
	case segHost:
		if n.prefix == nil {
			return n.originKey(raw, hp, rest)
		}
	case segOther:
		if n.prefix == nil {
			return "", n.notAHost(seg, prob)
		}
	}
	// A path under the origin prefix, e.g. "images/image1.jpg".
	if q[len(q)-1] == '/' {
		return "", folderReason
	}
	if !n.relativeOK(seg, k) {
		// Written as a relative key it would read back as something else
		// (an embedded URL, an alias, a /v7/...): key the origin URL.
		p := make([]byte, 0, len(n.prefix.path)+len(q))
		p = append(append(p, n.prefix.path...), q...)
		return n.originKey(raw, []byte(n.prefix.hostport), p)
	}
	return n.finish(raw, "", nil, q)
}

// embeddedURL reads q, whose first segment seg starts with a scheme, as an
// embedded origin URL.
func (n *Normalizer) embeddedURL(raw string, q, seg, hb []byte) (string, string) {
	colon := 0
	for seg[colon] != ':' {
		colon++
	}
	auth, p := splitAuthority(q[colon+1:])
	hp, hl, prob := appendHostPort(hb, auth)
	if prob != hostOK {
		return "", "embeds an origin URL that " + prob.explain(string(auth))
	}
	if n.isCDN(hp[:hl]) {
		return "", fmt.Sprintf("embeds a URL on the Cloudimage host %q: give the image URL once, not a Cloudimage URL inside another", string(hp[:hl]))
	}
	if reason := n.otherCloudimg(hp[:hl]); reason != "" {
		return "", "embeds a URL that " + reason
	}
	return n.originKey(raw, hp, p)
}

// notAHost says why a first path segment seg that is not a host, for
// reason prob, cannot start a CDN path when no origin prefix is set.
func (n *Normalizer) notAHost(seg []byte, prob hostProblem) string {
	if len(seg) >= 2 && seg[0] == '_' && seg[len(seg)-1] == '_' {
		return fmt.Sprintf("starts with %q, which is not an alias of this token: add it to the token's aliases, e.g. %s=https://origin/base, or give the origin URL", string(seg), string(seg))
	}
	if hasPrefixFold(seg, "http%3a") || hasPrefixFold(seg, "https%3a") {
		return "embeds a percent-encoded origin URL: decode it, e.g. https://" + n.tokenHost + "/https://img.domain.com/image.jpg"
	}
	switch prob {
	case hostNoDot, hostBadChar, hostEmptyLabel, hostHyphen:
		return fmt.Sprintf("starts with %q, which is not a host name, and no origin prefix is set: give the full origin URL (https://img.domain.com/image.jpg), or set the token's origin prefix if this path is under it", string(seg))
	}
	return prob.explain(string(seg))
}

const folderReason = "ends with \"/\", so it names a folder, not an image: give the image's URL"

func (n *Normalizer) noPath(fromCDN bool) string {
	if fromCDN {
		return "has no image path after the Cloudimage host: give the image URL, e.g. https://" + n.tokenHost + "/img.domain.com/image.jpg"
	}
	return "has no image path"
}

// relativeOK reports whether a path under the origin prefix whose first
// segment is seg (of kind k) can be written as a relative key: it must
// read back as the same path, so it may not start like an embedded URL,
// an alias, a host that is read as such, an empty segment, anything with
// a colon (read as a scheme or a port), or "v7" when /v7/ is stripped.
func (n *Normalizer) relativeOK(seg []byte, k segKind) bool {
	if k != segHost && k != segOther || len(seg) == 0 {
		return false
	}
	if !n.legacy && len(seg) == 2 && seg[0] == 'v' && seg[1] == '7' {
		return false
	}
	for _, c := range seg {
		if c == ':' {
			return false
		}
	}
	return true
}

// originKey returns the key for the origin URL https://{hp}{p}, where p is
// a normalised path: the longest alias whose base holds it, else the path
// under the origin prefix, else the origin URL itself.
func (n *Normalizer) originKey(raw string, hp, p []byte) (string, string) {
	if len(p) <= 1 {
		return "", fmt.Sprintf("has no image path after the host %q", string(hp))
	}
	if p[len(p)-1] == '/' {
		return "", folderReason
	}
	for i := range n.aliases {
		a := &n.aliases[i]
		if string(hp) == a.base.hostport && hasPrefix(p, a.base.path) {
			return n.finish(raw, a.nameSlash, nil, p[len(a.base.path):])
		}
	}
	if pre := n.prefix; pre != nil && string(hp) == pre.hostport && hasPrefix(p, pre.path) {
		r := p[len(pre.path):]
		seg := r
		for i, c := range r {
			if c == '/' {
				seg = r[:i]
				break
			}
		}
		var tmp [hostBufLen]byte
		if k, _, _, _ := n.classify(tmp[:0], seg); n.relativeOK(seg, k) {
			return n.finish(raw, "", nil, r)
		}
	}
	return n.finish(raw, "https://", hp, p)
}

// finish returns the key /v7/? + head + host + tail, reusing raw when it
// already is that key (no allocation), else building it in one allocation.
func (n *Normalizer) finish(raw, head string, host, tail []byte) (string, string) {
	v7 := ""
	if n.legacy {
		v7 = "/v7/"
	}
	total := len(v7) + len(head) + len(host) + len(tail)
	if total > MaxInputLen {
		return "", fmt.Sprintf("has a key of %d bytes once percent-encoded, over the %d-byte limit (MaxInputLen)", total, MaxInputLen)
	}
	if len(raw) == total {
		i := 0
		same := raw[i:i+len(v7)] == v7
		i += len(v7)
		same = same && raw[i:i+len(head)] == head
		i += len(head)
		same = same && raw[i:i+len(host)] == string(host)
		i += len(host)
		if same && raw[i:] == string(tail) {
			return raw, ""
		}
	}
	var b strings.Builder
	b.Grow(total)
	b.WriteString(v7)
	b.WriteString(head)
	b.Write(host)
	b.Write(tail)
	return b.String(), ""
}

// otherCloudimg returns the rejection for a canonical host h on
// cloudimg.io that is not this token's, or "" when h is not on cloudimg.io.
func (n *Normalizer) otherCloudimg(h []byte) string {
	tok, ok := isCloudimgHost(h)
	switch {
	case !ok:
		return ""
	case tok != "":
		return fmt.Sprintf("is a CDN URL of token %q, not of this token %q: purge it with that token's configuration", tok, n.token)
	}
	return fmt.Sprintf("is on the Cloudimage host %q, which does not serve this token: its host is %s", string(h), n.tokenHost)
}

// splitScheme finds the scheme of s. For http and https it returns
// isHTTP and what follows the colon. Without a scheme (a key, a CDN path,
// "host/path" or "host:port/path") it returns s. Any other scheme is a
// rejection.
func splitScheme(s string) (isHTTP bool, rest, reason string) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '/', '\\':
			return false, s, ""
		case ':':
			name := s[:i]
			if !isSchemeName(name) {
				return false, s, ""
			}
			if strings.EqualFold(name, "http") || strings.EqualFold(name, "https") {
				return true, s[i+1:], ""
			}
			// "img.domain.com:8080/x.jpg" is a host and a port, not a scheme.
			j := i + 1
			for j < len(s) && '0' <= s[j] && s[j] <= '9' {
				j++
			}
			if j > i+1 && (j == len(s) || isSlash(s[j])) {
				return false, s, ""
			}
			return false, "", fmt.Sprintf("has the scheme %q: only http and https URLs can be Cloudimage images", name+":")
		}
	}
	return false, s, ""
}

func isSchemeName(s string) bool {
	if len(s) == 0 || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// trimSpace removes leading and trailing ASCII white space (and a leading
// byte order mark) and returns how many bytes were removed at the front.
func trimSpace(s string) (string, int) {
	lead := 0
	if strings.HasPrefix(s, "\uFEFF") {
		lead = 3
	}
	for lead < len(s) && isSpace(s[lead]) {
		lead++
	}
	end := len(s)
	for end > lead && isSpace(s[end-1]) {
		end--
	}
	return s[lead:end], lead
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func trimSlashes(b []byte) []byte {
	for len(b) > 0 && b[0] == '/' {
		b = b[1:]
	}
	return b
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// hasPrefixFold is hasPrefix ignoring ASCII case; prefix is lower case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func isCloudimg(h []byte) bool {
	const suffix = "." + cloudimgDomain
	return string(h) == cloudimgDomain || len(h) > len(suffix) && string(h[len(h)-len(suffix):]) == suffix
}
