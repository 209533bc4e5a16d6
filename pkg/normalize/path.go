package normalize

// Byte classes of a path, decided once.
const (
	clsEscape     = iota // must be percent-encoded in a key
	clsLiteral           // kept as is (RFC 3986 sub-delims, ":", "@", "[", "]")
	clsUnreserved        // ALPHA / DIGIT / "-" / "." / "_" / "~": kept, and %-escapes of them are decoded
)

var pathClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = clsUnreserved
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = clsUnreserved
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = clsUnreserved
	}
	for _, c := range "-._~" {
		t[c] = clsUnreserved
	}
	// Sub-delims, ":" and "@" are allowed in a path and are not equivalent
	// to their escapes (an application may read them as delimiters), so
	// both forms are kept as they come. "[" and "]" are kept literally, as
	// browsers do, because an origin URL embedded in a CDN path may carry
	// an IPv6 host.
	for _, c := range "!$&'()*+,;=:@[]" {
		t[c] = clsLiteral
	}
	// Everything else (space, `"`, "<", ">", "^", "`", "{", "|", "}",
	// and every byte >= 0x80) is escaped. "%" is handled on its own;
	// "/" and "\" are separators; "?" and "#" never reach a path;
	// control characters are rejected before.
	return t
}()

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isSlash reports whether c separates path segments. A backslash does, as
// in a browser for http and https URLs.
func isSlash(c byte) bool { return c == '/' || c == '\\' }

// normPath appends the normalised form of the URL path p to dst.
// It returns the extended buffer.
// A "/" or a "\" separates the segments of p.
// The leading slash is optional. "a/b" is read as "/a/b".
// An empty p gives an empty result. Any other result starts with "/".
//
// Each segment is percent-normalised first:
//   - escapes of unreserved characters are decoded;
//   - other escapes are kept, with upper-case hex;
//   - a "%" that starts no escape is written "%25";
//   - bytes that may not appear in a path are escaped.
//
// Then dot segments are removed as the WHATWG URL standard does.
// They are "." and "..", in any escaped spelling.
// ".." drops the segment before it. It never climbs above the root.
// A final "." or ".." leaves a trailing slash.
// Empty segments, as in "a//b", are kept, as in a browser.
//
// normPath is idempotent: normPath(normPath(p)) == normPath(p).
func normPath[T string | []byte](dst []byte, p T) []byte {
	if len(p) == 0 {
		return dst
	}
	base := len(dst)
	i := 0
	if isSlash(p[0]) {
		i = 1
	}
	for {
		j := i
		for j < len(p) && !isSlash(p[j]) {
			j++
		}
		segStart := len(dst)
		dst = append(dst, '/')
		dst = appendSegment(dst, p[i:j])
		last := j >= len(p)
		switch seg := dst[segStart+1:]; {
		case len(seg) == 1 && seg[0] == '.':
			dst = dst[:segStart]
			if last {
				dst = append(dst, '/')
			}
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			dst = dst[:segStart]
			for k := len(dst) - 1; k >= base; k-- {
				if dst[k] == '/' {
					dst = dst[:k]
					break
				}
			}
			if last {
				dst = append(dst, '/')
			}
		}
		if last {
			return dst
		}
		i = j + 1
	}
}

// appendSegment appends the percent-normalised segment seg to dst.
func appendSegment[T string | []byte](dst []byte, seg T) []byte {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c == '%' {
			if i+2 < len(seg) {
				hi, ok1 := unhex(seg[i+1])
				lo, ok2 := unhex(seg[i+2])
				if ok1 && ok2 {
					v := hi<<4 | lo
					if pathClass[v] == clsUnreserved {
						dst = append(dst, v)
					} else {
						dst = append(dst, '%', upperHex[v>>4], upperHex[v&15])
					}
					i += 2
					continue
				}
			}
			dst = append(dst, '%', '2', '5')
			continue
		}
		if pathClass[c] != clsEscape {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}
