package events

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cipurge/cipurge/internal/httpapi"
)

// Scope is a token limited to some accounts: a token of the accounts file that may post events.
// The receivers take it where they take the unscoped token, which reaches every account.
type Scope struct {
	Name     string   // the token's name, for the log; never its value
	Token    string   // its value
	Accounts []string // the accounts it reaches, by name
}

// only returns the scope's account when it reaches exactly one, else "".
func (s *Scope) only() string {
	if len(s.Accounts) == 1 {
		return s.Accounts[0]
	}
	return ""
}

// scopeSecret is a Scope with its value ready to compare.
type scopeSecret struct {
	scope  *Scope
	secret httpapi.Secret
}

// scopeSecrets returns the scopes ready to compare.
func scopeSecrets(in []Scope) []scopeSecret {
	out := make([]scopeSecret, len(in))
	for i := range in {
		out[i] = scopeSecret{scope: &in[i], secret: httpapi.NewSecret(in[i].Token)}
	}
	return out
}

// scopeOf returns the scope whose token presented is, or nil.
// Every scope is compared, in constant time each.
func (h *handler) scopeOf(presented string) *Scope {
	var hit *Scope
	for _, s := range h.scoped {
		if s.secret.Matches(presented) && hit == nil {
			hit = s.scope
		}
	}
	return hit
}

// accountOf is the account an event's URL u is enqueued for: the bucket mapping's, else, for a
// scoped token, the account u routes to by its form, else the scope's only account.
// "" lets the URL's form decide, as it always did for the unscoped token.
func (h *handler) accountOf(scope *Scope, ev event, u string) string {
	if h.o.Account != nil {
		if a := h.o.Account(ev.bucket, ev.key); a != "" {
			return a
		}
	}
	if scope == nil {
		return ""
	}
	if h.o.Route != nil {
		if a, err := h.o.Route(u); err == nil {
			return a
		}
	}
	return scope.only()
}

// checkScope refuses a delivery with a scoped token when one of its events is of an account the
// token does not reach: 403, naming that account, and nothing of the delivery is enqueued.
func (h *handler) checkScope(scope *Scope, evs []event) *httpapi.Problem {
	if scope == nil {
		return nil
	}
	for _, ev := range evs {
		u, ok := h.urlOf(ev)
		if !ok {
			continue
		}
		if a := h.accountOf(scope, ev, u); a != "" && !slices.Contains(scope.Accounts, a) {
			return &httpapi.Problem{Status: http.StatusForbidden, Body: httpapi.Error{Code: "forbidden", Message: fmt.Sprintf(
				"the object %s/%s is of the account %q, which this token does not reach: use a token of %q. Nothing of this delivery was enqueued",
				ev.bucket, ev.key, a, a)}}
		}
	}
	return nil
}

// urlOf is the URL an event enqueues, and false for an event that enqueues nothing (one says why).
func (h *handler) urlOf(ev event) (string, bool) {
	if !ev.change || ev.badKey != "" || ev.key == "" || strings.HasSuffix(ev.key, "/") {
		return "", false
	}
	u, m := h.o.Buckets.URL(ev.bucket, ev.key)
	return u, m != unmapped && m != filtered
}
