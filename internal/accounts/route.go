package accounts

import (
	"fmt"
	"strings"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// explicitFix is the fix of a URL that its form cannot route.
const explicitFix = "name the account explicitly (WithAccount, enqueue --account, the intake's account field, or the bucket's account)"

// Route returns the account of raw.
// A non-empty explicit names it and overrides the URL's form; an unknown name is refused.
// Otherwise the form decides, in this order.
// A CDN host (the token's host or a CNAME) names its account.
// So does a *.cloudimg.io host of a declared token.
// An alias names the accounts that declare it.
// An origin URL belongs to the accounts that list an origin holding it.
// Its origin prefix and its alias bases count as an account's origins.
// A key relative to an origin prefix belongs to the accounts with an origin prefix.
// A set of one account routes every URL to it, as a deployment with one token does.
// A URL that matches no account, or two, is refused.
// The refusal is a *normalize.Error that names the candidates or the fix.
func (s *Set) Route(raw, explicit string) (*Account, error) {
	if explicit != "" {
		a, err := s.Lookup(explicit)
		if err != nil {
			return nil, normalize.Reject(raw, "names an account explicitly, but "+err.Error())
		}
		return a, nil
	}
	if len(s.list) == 1 {
		return s.list[0], nil
	}
	return s.byForm(raw, strings.TrimSpace(strings.TrimPrefix(raw, "\uFEFF")))
}

// byForm routes raw by its form. s is raw trimmed.
func (s *Set) byForm(raw, u string) (*Account, error) {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	n := schemeLen(u)
	rest := strings.TrimLeft(u[n:], "/\\")
	if n == 0 && (rest == "v7" || strings.HasPrefix(rest, "v7/")) {
		rest = strings.TrimLeft(rest[2:], "/\\") // a legacy key
	}
	seg, _, _ := strings.Cut(strings.ReplaceAll(rest, "\\", "/"), "/")
	if n == 0 && schemeLen(seg) > 0 {
		return s.byForm(raw, rest) // a key that embeds an origin URL
	}
	if n == 0 && len(seg) >= 3 && seg[0] == '_' && seg[len(seg)-1] == '_' {
		return s.byAlias(raw, seg)
	}
	host := hostOf(seg)
	if a, ok := s.hosts[host]; ok {
		return a, nil
	}
	if isCloudimg(host) {
		tok, _ := strings.CutSuffix(host, "."+cloudimgDomain)
		if a, ok := s.tokens[tok]; ok && !strings.Contains(tok, ".") {
			return a, nil
		}
		return nil, normalize.Reject(raw, fmt.Sprintf("is on the Cloudimage host %q, which serves no declared account (%s): "+
			"declare an account with that token, or give the image's origin URL", host, strings.Join(s.Names(), ", ")))
	}
	if n == 0 && !strings.Contains(seg, ".") {
		return s.byPrefix(raw, nil)
	}
	origin := u
	if n == 0 {
		origin = "https://" + rest
	}
	return s.byOrigin(raw, origin, n == 0)
}

// hostOf is the canonical host of an authority: no user, no port, lower case, no final dot.
func hostOf(auth string) string {
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		auth = auth[i+1:]
	}
	if i := strings.LastIndexByte(auth, ':'); i >= 0 && !strings.Contains(auth[i:], "]") {
		auth = auth[:i]
	}
	return strings.TrimSuffix(strings.ToLower(auth), ".")
}

// byAlias routes a key that starts with the alias name.
func (s *Set) byAlias(raw, name string) (*Account, error) {
	var hits []*Account
	for _, a := range s.list {
		if _, ok := a.URL.Aliases[name]; ok {
			hits = append(hits, a)
		}
	}
	if len(hits) == 0 {
		return nil, normalize.Reject(raw, fmt.Sprintf("starts with the alias %s, which no account declares: "+
			"add it to the aliases of its account, or give the image's origin URL", name))
	}
	return pick(raw, hits, "alias "+name)
}

// byPrefix routes a key relative to an origin prefix: the accounts that have one.
// why is the rejection of a URL that no account's origins hold, or nil.
func (s *Set) byPrefix(raw string, why error) (*Account, error) {
	var hits []*Account
	for _, a := range s.list {
		if strings.TrimSpace(a.URL.OriginPrefix) != "" {
			hits = append(hits, a)
		}
	}
	if len(hits) == 0 {
		if why != nil {
			return nil, why
		}
		return nil, normalize.Reject(raw, "is a path without a host, and no account has an origin prefix it could be under: "+
			"give the image's full URL, or "+explicitFix)
	}
	return pick(raw, hits, "origin prefix")
}

// byOrigin routes the origin URL origin.
// hostless is true when raw had no scheme: "host/path" then may also be a path under an origin prefix.
func (s *Set) byOrigin(raw, origin string, hostless bool) (*Account, error) {
	var key string
	var err error
	if normalize.IsPrefix(origin) || strings.HasSuffix(origin, "/") {
		var p normalize.Prefix
		p, err = s.plain.NormalizePrefix(origin)
		key = p.Key
	} else {
		key, err = s.plain.Normalize(origin)
	}
	if err != nil {
		return nil, normalize.Reject(raw, err.(*normalize.Error).Reason)
	}
	var hits []*Account
	var bases []string
	for _, a := range s.list {
		for _, b := range a.bases {
			if strings.HasPrefix(key, b) {
				hits, bases = append(hits, a), append(bases, b)
				break
			}
		}
	}
	if len(hits) == 0 {
		host, _, _ := strings.Cut(strings.TrimPrefix(key, "https://"), "/")
		why := normalize.Reject(raw, fmt.Sprintf("is on the origin https://%s/, which no account lists: "+
			"add the origin (or a folder of it) to the origins of its account, or %s", host, explicitFix))
		if hostless {
			return s.byPrefix(raw, why)
		}
		return nil, why
	}
	if len(hits) > 1 {
		return nil, normalize.Reject(raw, fmt.Sprintf("matches two accounts, %q (origin %s) and %q (origin %s): "+
			"%s, or give each account origins that do not hold each other", hits[0].Name, bases[0], hits[1].Name, bases[1], explicitFix))
	}
	return hits[0], nil
}

// pick returns the one account of hits, or refuses raw naming the first two. what says what matched.
func pick(raw string, hits []*Account, what string) (*Account, error) {
	if len(hits) == 1 {
		return hits[0], nil
	}
	return nil, normalize.Reject(raw, fmt.Sprintf("matches two accounts by its %s, %q and %q: %s",
		what, hits[0].Name, hits[1].Name, explicitFix))
}

// RouteURL is Route for a producer: the account's name and normaliser (producer.Router).
func (s *Set) RouteURL(raw, explicit string) (string, *normalize.Normalizer, error) {
	a, err := s.Route(raw, explicit)
	if err != nil {
		return "", nil, err
	}
	return a.Name, a.norm, nil
}

// BucketAccount returns the name of the account whose buckets hold the object key of bucket, or
// "" when none does. The entry with the longest key prefix wins. A set of one account maps only
// what its file lists: a deployment without a file maps nothing, and the URL's form decides.
func (s *Set) BucketAccount(bucket, key string) string {
	best, name := -1, ""
	for entry, a := range s.bucket {
		b, prefix, _ := strings.Cut(entry, "/")
		if prefix != "" {
			prefix = entry[len(b)+1:]
		}
		if b == bucket && strings.HasPrefix(key, prefix) && len(prefix) > best {
			best, name = len(prefix), a.Name
		}
	}
	return name
}
