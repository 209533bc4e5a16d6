package accounts

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cipurge/cipurge/pkg/normalize"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// cloudimgDomain is the domain of every token's CDN host.
const cloudimgDomain = "cloudimg.io"

// plain reads an origin URL into its plain key, "https://host/path", the form origins are
// compared in. Its token is never routed with: CDN hosts are matched before it reads a URL.
var plain = func() *normalize.Normalizer {
	n, err := normalize.New(normalize.Config{Token: "cipurge-origins"})
	if err != nil {
		panic(err) // a constant configuration
	}
	return n
}()

// Single returns the set of one account a, the account of a deployment without a file.
// It checks a as a file's account is checked; errors are *normalize.ConfigError,
// *SendingError or an origin's error, for the caller to word with its settings.
func Single(a Account) (*Set, error) {
	if a.Name == "" {
		a.Name = DefaultName
	}
	if p := tasks.CheckAccountName(a.Name); p != "" {
		return nil, fmt.Errorf("account name %s", p)
	}
	if errs := a.build(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return newSet([]*Account{&a})
}

// newSet indexes built accounts and refuses what two of them share: a name, a token or a host.
func newSet(list []*Account) (*Set, error) {
	s := &Set{list: list, byName: map[string]*Account{}, hosts: map[string]*Account{}, tokens: map[string]*Account{}, bucket: map[string]*Account{}, plain: plain}
	var errs []error
	for _, a := range list {
		if _, dup := s.byName[a.Name]; dup && tasks.CheckAccountName(a.Name) == "" {
			errs = append(errs, &FieldError{Account: a.Name, Field: "name", Problem: "names two accounts: give each account its own name"})
		}
		s.byName[a.Name] = a
		tok := a.Token()
		if o, dup := s.tokens[tok]; dup && o != a {
			errs = append(errs, &FieldError{Account: a.Name, Field: "token", Problem: fmt.Sprintf(
				"%q is also the token of account %q: a token belongs to one account; merge the two or remove one", tok, o.Name)})
		}
		s.tokens[tok] = a
		s.hosts[tok+"."+cloudimgDomain] = a
		for _, h := range a.URL.Hosts {
			h = canonHost(h)
			if h == "" || h == tok+"."+cloudimgDomain {
				continue
			}
			if o, dup := s.hosts[h]; dup && o != a {
				errs = append(errs, &FieldError{Account: a.Name, Field: "hosts", Problem: fmt.Sprintf(
					"%q is also a host of account %q: a CDN host serves one token; list it under one account", h, o.Name)})
			}
			s.hosts[h] = a
		}
		for _, b := range a.Buckets {
			if o, dup := s.bucket[b]; dup && o != a {
				errs = append(errs, &FieldError{Account: a.Name, Field: "buckets", Problem: fmt.Sprintf(
					"%q is also a bucket of account %q: give it to one account, or split it by key prefix (bucket/prefix/)", b, o.Name)})
			}
			s.bucket[b] = a
		}
		a.bases = append([]string(nil), a.Origins...)
		extra := []string{a.URL.OriginPrefix}
		for _, v := range a.URL.Aliases {
			extra = append(extra, v)
		}
		for _, v := range extra {
			if strings.TrimSpace(v) == "" {
				continue
			}
			if schemeLen(v) == 0 {
				v = "https://" + strings.TrimLeft(v, "/") // normalize reads a base without a scheme as https
			}
			if b, err := canonicalBase(v); err == nil {
				a.bases = append(a.bases, b)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// canonHost is a host as written in a setting, lower case, without scheme, slash or final dot.
func canonHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	for _, scheme := range []string{"https://", "http://"} {
		h = strings.TrimPrefix(h, scheme)
	}
	h = strings.TrimSuffix(h, "/")
	return strings.TrimSuffix(h, ".")
}

// canonicalBase is an origin base in the plain key form, "https://host/path/".
// A base that is not an origin URL is a *normalize.Error.
func canonicalBase(o string) (string, error) {
	s := strings.TrimSpace(o)
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	host, _, _ := strings.Cut(strings.TrimLeft(s[schemeLen(s):], "/\\"), "/")
	if isCloudimg(canonHost(host)) {
		return "", normalize.Reject(o, "is a Cloudimage host: give the origin URL (your image storage), not the CDN one")
	}
	p, err := plain.NormalizePrefix(s + normalize.Wildcard)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(p.Key, "https://") {
		return "", normalize.Reject(o, "is not an origin URL: give one with its host, such as https://storage.example.com/media/")
	}
	return strings.TrimSuffix(p.Key, normalize.Wildcard), nil
}

// schemeLen is the length of an http:// or https:// scheme at the start of s, any case, or 0.
func schemeLen(s string) int {
	for _, scheme := range []string{"https:", "http:"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return len(scheme)
		}
	}
	return 0
}

// isCloudimg reports whether the canonical host h is cloudimg.io or under it.
func isCloudimg(h string) bool {
	return h == cloudimgDomain || strings.HasSuffix(h, "."+cloudimgDomain)
}
