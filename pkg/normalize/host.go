package normalize

import (
	"fmt"
	"net/netip"
	"strconv"
)

const cloudimgDomain = "cloudimg.io"

// splitAuthority skips the slashes (or backslashes) that follow "http:" or
// "https:", as a browser does, and splits what follows into the authority
// and the path (which is empty or starts with a slash).
func splitAuthority[T string | []byte](s T) (auth, path T) {
	i := 0
	for i < len(s) && isSlash(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSlash(s[j]) {
		j++
	}
	return s[i:j], s[j:]
}

// hostProblem says why an authority is not a valid host; 0 means it is.
// The message is built only when a rejection needs it (see explain), so
// that trying a path segment as a host costs no allocation.
type hostProblem uint8

const (
	hostOK hostProblem = iota
	hostEmpty
	hostUserInfo
	hostIPv6Unclosed
	hostIPv6Invalid
	hostIPv6Trailing
	hostPortNaN
	hostPortRange
	hostPortZero
	hostTooLong
	hostEmptyLabel
	hostLongLabel
	hostHyphen
	hostNonASCII
	hostPercent
	hostBadChar
	hostNoDot
	hostBadIPv4
)

// explain returns the reason sentence for problem p with authority auth.
func (p hostProblem) explain(auth string) string {
	switch p {
	case hostEmpty:
		return "has no host"
	case hostUserInfo:
		return "has user info (user@ or user:password@) before its host: remove it, image URLs never carry credentials"
	case hostIPv6Unclosed:
		return fmt.Sprintf("has IPv6 host %q with no closing ]", auth)
	case hostIPv6Invalid:
		return fmt.Sprintf("has an invalid IPv6 host in %q", auth)
	case hostIPv6Trailing:
		return fmt.Sprintf("has %q, where only :port may follow an IPv6 host", auth)
	case hostPortNaN:
		return fmt.Sprintf("has host %q whose port is not a number", auth)
	case hostPortRange:
		return fmt.Sprintf("has host %q whose port is out of the range 1-65535", auth)
	case hostPortZero:
		return fmt.Sprintf("has host %q with port 0, which no server listens on", auth)
	case hostTooLong:
		return fmt.Sprintf("has a host of %d characters, longer than the 253 a domain name may have", len(auth))
	case hostEmptyLabel:
		return fmt.Sprintf("has host %q with an empty label (two dots in a row, or a leading dot)", auth)
	case hostLongLabel:
		return fmt.Sprintf("has host %q with a label longer than 63 characters", auth)
	case hostHyphen:
		return fmt.Sprintf("has host %q with a label that starts or ends with -", auth)
	case hostNonASCII:
		return fmt.Sprintf("has host %q, which is not ASCII: write an internationalised domain name in its punycode form (xn--...)", auth)
	case hostPercent:
		return fmt.Sprintf("has host %q with a %%-escape: write the host name plainly (non-ASCII names in punycode, xn--...)", auth)
	case hostBadChar:
		return fmt.Sprintf("has host %q with a character a host name cannot contain (only letters, digits, \"-\", \"_\" and dots)", auth)
	case hostNoDot:
		return fmt.Sprintf("has host %q, which is not a domain name (it has no dot)", auth)
	case hostBadIPv4:
		return fmt.Sprintf("has host %q, which is neither a domain name nor a dotted-decimal IPv4 address", auth)
	}
	return fmt.Sprintf("has an invalid host %q", auth)
}

// appendHostPort appends the canonical "host[:port]" of the authority auth
// to dst: lower-case host, no trailing dot, IPv6 in its RFC 5952 form, no
// port when it is empty, 80 or 443. hostLen is the length of the host part
// of the appended bytes. On a problem, dst is returned unchanged.
func appendHostPort[T string | []byte](dst []byte, auth T) (out []byte, hostLen int, p hostProblem) {
	if len(auth) == 0 {
		return dst, 0, hostEmpty
	}
	for i := 0; i < len(auth); i++ {
		if auth[i] == '@' {
			return dst, 0, hostUserInfo
		}
	}
	start := len(dst)
	var port T
	hasPort := false
	if auth[0] == '[' {
		end := -1
		for i := 1; i < len(auth); i++ {
			if auth[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 {
			return dst, 0, hostIPv6Unclosed
		}
		addr, err := netip.ParseAddr(string(auth[1:end]))
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return dst, 0, hostIPv6Invalid
		}
		dst = append(dst, '[')
		dst = addr.AppendTo(dst)
		dst = append(dst, ']')
		if rest := auth[end+1:]; len(rest) > 0 {
			if rest[0] != ':' {
				return dst[:start], 0, hostIPv6Trailing
			}
			port, hasPort = rest[1:], true
		}
	} else {
		host := auth
		for i := len(auth) - 1; i >= 0; i-- {
			if auth[i] == ':' {
				host, port, hasPort = auth[:i], auth[i+1:], true
				break
			}
		}
		dst, p = appendHost(dst, host)
		if p != hostOK {
			return dst[:start], 0, p
		}
	}
	hostLen = len(dst) - start
	if hasPort && len(port) > 0 {
		v := 0
		for i := 0; i < len(port); i++ {
			c := port[i]
			if c < '0' || c > '9' {
				return dst[:start], 0, hostPortNaN
			}
			v = v*10 + int(c-'0')
			if v > 65535 {
				return dst[:start], 0, hostPortRange
			}
		}
		if v == 0 {
			return dst[:start], 0, hostPortZero
		}
		if v != 80 && v != 443 {
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, int64(v), 10)
		}
	}
	return dst, hostLen, hostOK
}

// appendHost appends the lower-cased host name or IPv4 address h to dst.
func appendHost[T string | []byte](dst []byte, h T) ([]byte, hostProblem) {
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1] // "example.com." is "example.com"
	}
	if len(h) == 0 {
		return dst, hostEmpty
	}
	if len(h) > 253 {
		return dst, hostTooLong
	}
	start := len(dst)
	labelStart := 0
	dots := 0
	for i := 0; i <= len(h); i++ {
		if i == len(h) || h[i] == '.' {
			label := h[labelStart:i]
			switch {
			case len(label) == 0:
				return dst[:start], hostEmptyLabel
			case len(label) > 63:
				return dst[:start], hostLongLabel
			case label[0] == '-' || label[len(label)-1] == '-':
				return dst[:start], hostHyphen
			}
			if i < len(h) {
				dst = append(dst, '.')
				dots++
			}
			labelStart = i + 1
			continue
		}
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c >= 0x80:
			return dst[:start], hostNonASCII
		case c == '%':
			return dst[:start], hostPercent
		default:
			return dst[:start], hostBadChar
		}
		dst = append(dst, c)
	}
	if dots == 0 {
		return dst[:start], hostNoDot
	}
	// A host whose last label starts with a digit is an IPv4 address or
	// nothing: no top-level domain starts with a digit, and browsers read
	// numeric hosts as (possibly octal or hex) IPv4 addresses. Only the
	// plain dotted-decimal form is accepted, so that one address has one key.
	name := dst[start:]
	last := 0
	for k := len(name) - 1; k >= 0; k-- {
		if name[k] == '.' {
			last = k + 1
			break
		}
	}
	if c := name[last]; '0' <= c && c <= '9' && !isDottedQuad(name) {
		return dst[:start], hostBadIPv4
	}
	return dst, hostOK
}

// isDottedQuad reports whether h is an IPv4 address in the form a.b.c.d,
// each part 0-255 in decimal without leading zeros.
func isDottedQuad(h []byte) bool {
	parts, v, digits := 0, 0, 0
	for i := 0; i <= len(h); i++ {
		if i == len(h) || h[i] == '.' {
			if digits == 0 || v > 255 {
				return false
			}
			parts++
			v, digits = 0, 0
			continue
		}
		c := h[i]
		if c < '0' || c > '9' || (digits == 1 && v == 0) {
			return false
		}
		v = v*10 + int(c-'0')
		digits++
		if digits > 3 {
			return false
		}
	}
	return parts == 4
}

// isCloudimgHost reports whether the canonical host h is cloudimg.io or
// one of its subdomains, and returns the token that host serves, if any.
func isCloudimgHost(h []byte) (token string, ok bool) {
	const suffix = "." + cloudimgDomain
	if string(h) == cloudimgDomain {
		return "", true
	}
	if len(h) <= len(suffix) || string(h[len(h)-len(suffix):]) != suffix {
		return "", false
	}
	tok := h[:len(h)-len(suffix)]
	for _, c := range tok {
		if c == '.' {
			return "", true
		}
	}
	return string(tok), true
}
