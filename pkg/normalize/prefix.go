package normalize

import (
	"fmt"
	"strings"
)

// Wildcard ends a prefix: Cloudimage's docs show {"scope":"original","urls":["/sample.li/avatars/*"]},
// which invalidates every image whose URL starts with /sample.li/avatars/.
const Wildcard = "*"

// Prefix is a normalised folder request.
type Prefix struct {
	// Key is the canonical key of the folder followed by "/*": the form of an image key, so that
	// every image key under the folder starts with Key without its "*".
	Key string
	// Root says that the prefix covers a whole host, alias, origin prefix or token ("/*",
	// "https://host/*", "_alias_/*"): it asks as much of the origin as a flush-all.
	Root bool
}

// IsPrefix reports whether raw asks for a folder: its path, before any query string or
// fragment, ends with "/*".
func IsPrefix(raw string) bool {
	s, _ := trimSpace(raw)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	return strings.HasSuffix(s, "/"+Wildcard) || s == Wildcard
}

// NormalizePrefix returns the canonical prefix for raw, a folder in any form Normalize takes
// (an origin URL, a CDN URL, an alias path, a key) ending with "/*". A folder given without the
// star (ending with "/", from an explicit flag or field) gets it. A "*" anywhere else is rejected:
// Cloudimage reads a star as a wildcard only at the end. The result is an *Error on rejection.
// NormalizePrefix is idempotent on Key.
func (n *Normalizer) NormalizePrefix(raw string) (Prefix, error) {
	p, reason := n.folderPrefix(raw)
	if reason != "" {
		return Prefix{}, newError(raw, reason)
	}
	return p, nil
}

// RootError is the rejection of raw, a root prefix (Prefix.Root) sent as a folder request: it
// asks as much of the origin as a flush-all, so it goes only with a flush-all's confirmation.
func RootError(raw string) *Error { return newError(raw, rootReason) }

// rootReason refuses a prefix that covers a whole host, alias, origin prefix or token, sent as a URL.
const rootReason = "ends with /* right after a host, an alias or the token: it would invalidate everything under it, " +
	"which makes Cloudimage fetch all of it from the origin again, as a flush-all does. " +
	"Give a folder below it (https://img.domain.com/avatars/*), or request a flush-all with its confirmation"

// placeholder stands for the star while the folder is normalised as an image URL.
const placeholder = "x"

func (n *Normalizer) folderPrefix(raw string) (Prefix, string) {
	if len(raw) > MaxInputLen {
		return Prefix{}, fmt.Sprintf("is %d bytes long, over the %d-byte limit for one URL (MaxInputLen)", len(raw), MaxInputLen)
	}
	s, _ := trimSpace(raw)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] // Cloudimage operations: a prefix covers every resize anyway
	}
	switch {
	case s == "":
		return Prefix{}, "is empty or blank: give a folder URL ending with /*"
	case s == Wildcard:
		s = "/" + Wildcard
	case strings.HasSuffix(s, "/"):
		s += Wildcard
	}
	if !strings.HasSuffix(s, "/"+Wildcard) {
		return Prefix{}, "does not end with /*: a prefix names a folder, e.g. https://img.domain.com/avatars/*"
	}
	folder := s[:len(s)-len(Wildcard)]
	if i := strings.Index(folder, Wildcard); i >= 0 {
		return Prefix{}, fmt.Sprintf("has * at byte %d: Cloudimage reads * only as the last character of a prefix (a folder followed by /*); "+
			"write a star that is part of a name as %%2A", i)
	}
	if n.tokenRoot(folder) {
		v7 := ""
		if n.legacy {
			v7 = "/v7"
		}
		return Prefix{Key: v7 + "/" + Wildcard, Root: true}, ""
	}
	key, reason := n.normalize(folder + placeholder)
	if reason != "" {
		return Prefix{}, strings.ReplaceAll(reason, " image", " folder")
	}
	key = key[:len(key)-len(placeholder)] + Wildcard
	return Prefix{Key: key, Root: n.rootKey(key)}, ""
}

// tokenRoot reports whether folder (ending with "/") is the root of the token: "/", "/v7/", the
// token's CDN host or a CNAME, with or without a scheme.
func (n *Normalizer) tokenRoot(folder string) bool {
	p, host := folder, true
	if isHTTP, rest, reason := splitScheme(folder); reason == "" && isHTTP {
		host = false
		auth, path := splitAuthority(rest)
		if !n.cdnHost(auth) {
			return false
		}
		p = path
	}
	q := strings.Trim(p, "/")
	if seg, rest, _ := strings.Cut(q, "/"); host && n.cdnHost(seg) {
		q = strings.Trim(rest, "/") // a CDN URL without its scheme
	}
	if q == "v7" || strings.HasPrefix(q, "v7/") {
		q = strings.Trim(q[2:], "/")
	}
	return q == ""
}

// cdnHost reports whether auth is the token's host or a CNAME, on the default port.
func (n *Normalizer) cdnHost(auth string) bool {
	var hb [hostBufLen]byte
	hp, hl, prob := appendHostPort(hb[:0], auth)
	return prob == hostOK && hl == len(hp) && n.isCDN(hp[:hl])
}

// rootKey reports whether a prefix key covers a whole origin host, alias or origin prefix: its
// folder is "https://host/", "_alias_/" or, under an origin prefix, empty.
func (n *Normalizer) rootKey(key string) bool {
	if key == "/"+Wildcard || key == "/v7/"+Wildcard {
		return true
	}
	k := strings.TrimPrefix(key, "/v7/")
	folder := strings.TrimSuffix(k, Wildcard)
	if folder == "" {
		return true
	}
	if h, ok := strings.CutPrefix(folder, "https://"); ok {
		return strings.Count(h, "/") == 1
	}
	return strings.Count(folder, "/") == 1 && n.findAlias([]byte(strings.TrimSuffix(folder, "/"))) != nil
}
