package intake

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/httpapi"
)

// A scoped token of the accounts file reaches some accounts only, and may do some things only.
// The unscoped tokens (Options.Token, Options.FlushBearer) reach every account, as they always did.
// A request with a scoped token is checked before anything is queued or read:
// what it may do, then the account of each of its URLs, or of the request it reads.
// A refusal is a 403 that names the account at fault, never the token's value.

// scopedToken is a scoped token with its value kept as a Secret to compare with.
type scopedToken struct {
	tok    *accounts.Token
	secret httpapi.Secret
}

// scopedTokens returns the scoped tokens of set, ready to compare. A nil set has none.
func scopedTokens(set *accounts.Set) []scopedToken {
	if set == nil {
		return nil
	}
	var out []scopedToken
	for _, t := range set.Tokens() {
		out = append(out, scopedToken{tok: t, secret: httpapi.NewSecret(t.Value.Reveal())})
	}
	return out
}

// scoped returns the scoped token that presented matches, or nil.
// Every token is compared, in constant time each: the time does not say which one matched.
func (h *handler) scoped(presented string) *accounts.Token {
	var hit *accounts.Token
	for _, s := range h.scopedToks {
		if s.secret.Matches(presented) && hit == nil {
			hit = s.tok
		}
	}
	return hit
}

// forbidden is the 403 of a scoped token that may not do what it asks. Nothing was queued.
func forbidden(msg string) *httpapi.Problem {
	return &httpapi.Problem{Status: http.StatusForbidden, Body: Error{Code: "forbidden", Message: msg}}
}

// may refuses a scoped token that may not do what (an accounts.May* value).
// The unscoped tokens may do everything their path allows.
func may(tok *accounts.Token, what, doing string) *httpapi.Problem {
	if tok == nil || tok.Can(what) {
		return nil
	}
	return forbidden(fmt.Sprintf("this token may not %s (it may %s): use a token whose may lists %s. Nothing was done",
		doing, strings.Join(tok.May, ", "), what))
}

// reach refuses a scoped token that does not reach account. what says what is the account's.
func reach(tok *accounts.Token, account, what string) *httpapi.Problem {
	if tok == nil || tok.Reaches(account) {
		return nil
	}
	return forbidden(fmt.Sprintf("%s is of the account %q, which this token does not reach: use a token of %q. Nothing was done",
		what, account, account))
}

// requestAccount checks every URL and prefix of req against the scoped token tok, and returns the
// account the request is for: the field account, else the one account its URLs route to, else the
// token's only account. It routes each URL first: one URL of an account the token does not reach
// refuses the whole request. A URL that routes to no account, or to two, is left to the account's
// normaliser, which rejects it or not, as it would for an explicit account.
// URLs of several accounts, all reached, return "": the Client routes each URL (spanning), when
// it writes for several accounts. A Client of one account cannot: 400 several_accounts.
func (h *handler) requestAccount(tok *accounts.Token, req *invalidationsRequest) (string, *httpapi.Problem) {
	set := h.o.Accounts
	if req.Account != "" {
		a, err := set.Lookup(req.Account)
		if err != nil {
			return "", &httpapi.Problem{Status: http.StatusBadRequest, Body: Error{Code: "bad_option",
				Message: `"account": ` + err.Error() + ": nothing was enqueued"}}
		}
		return a.Name, reach(tok, a.Name, "the field account")
	}
	var found []string
	for _, u := range append(req.URLs[:len(req.URLs):len(req.URLs)], req.Prefixes...) {
		a, err := set.Route(u, "")
		if err != nil {
			continue
		}
		if bad := reach(tok, a.Name, fmt.Sprintf("url %q", u)); bad != nil {
			return "", bad
		}
		if !slices.Contains(found, a.Name) {
			found = append(found, a.Name)
		}
	}
	switch {
	case len(found) > 1 && len(h.o.Client.Accounts()) > 1:
		return "", nil
	case len(found) > 1:
		return "", &httpapi.Problem{Status: http.StatusBadRequest, Body: Error{Code: "several_accounts",
			Message: fmt.Sprintf("the URLs are of two accounts, %q and %q: send one request per account (or name it in the field account). Nothing was enqueued",
				found[0], found[1])}}
	case len(found) == 1:
		return found[0], nil
	}
	if only := tok.Only(); only != "" {
		return only, nil
	}
	return "", &httpapi.Problem{Status: http.StatusBadRequest, Body: Error{Code: "no_account",
		Message: fmt.Sprintf("no URL says its account, and this token reaches several (%s): name one in the field account. Nothing was enqueued",
			strings.Join(tok.Accounts, ", "))}}
}

// clientFor returns the Client of the account named account: Options.Clients's, else Options.Client.
func (h *handler) clientFor(account string) *cipurge.Client {
	if c, ok := h.o.Clients[account]; ok {
		return c
	}
	return h.o.Client
}

// reachRequest refuses a scoped token that does not reach the account of the request st: every
// account, for a request whose URLs span several.
func (h *handler) reachRequest(tok *accounts.Token, st *cipurge.RequestStatus) *httpapi.Problem {
	for _, a := range st.Accounts {
		if bad := h.reachAccount(tok, a, "request "+st.ID); bad != nil {
			return bad
		}
	}
	return h.reachAccount(tok, st.Account, "request "+st.ID)
}

// reachAccount refuses a scoped token that does not reach the account named account, as data
// names it: default is the one account of a file of one, whatever its name.
func (h *handler) reachAccount(tok *accounts.Token, account, what string) *httpapi.Problem {
	if tok == nil {
		return nil
	}
	if a, err := h.o.Accounts.Lookup(account); err == nil {
		account = a.Name
	}
	return reach(tok, account, what)
}

// flushClient returns the Client that requests the flush-all of the account named account (the
// body's field), and that account's name. "" is the scoped token's only account, or the
// deployment's account for an unscoped token. A scoped token must reach the account.
func (h *handler) flushClient(tok *accounts.Token, account string) (*cipurge.Client, string, *httpapi.Problem) {
	if account == "" && tok != nil {
		if account = tok.Only(); account == "" {
			return nil, "", &httpapi.Problem{Status: http.StatusBadRequest, Body: Error{Code: "no_account",
				Message: fmt.Sprintf(`this token reaches several accounts (%s): name the one to flush in the field "account". Nothing was requested`,
					strings.Join(tok.Accounts, ", "))}}
		}
	}
	if account == "" {
		return h.o.Client, "", nil
	}
	name := account
	if h.o.Accounts != nil {
		a, err := h.o.Accounts.Lookup(account)
		if err != nil {
			return nil, "", &httpapi.Problem{Status: http.StatusBadRequest, Body: Error{Code: "bad_option",
				Message: `"account": ` + err.Error() + ". Nothing was requested"}}
		}
		name = a.Name
	} else if account != cipurge.DefaultAccount {
		return nil, "", &httpapi.Problem{Status: http.StatusBadRequest, Body: Error{Code: "bad_option",
			Message: fmt.Sprintf(`"account": no account is named %q: this worker has one account, %q. Nothing was requested`, account, cipurge.DefaultAccount)}}
	}
	if bad := reach(tok, name, "the flush-all's account"); bad != nil {
		return nil, "", bad
	}
	return h.clientFor(name), name, nil
}

// readable checks a read: GET, by a token that may lookup. doing words the read for a refusal.
func (h *handler) readable(w http.ResponseWriter, r *http.Request, e *entry, doing string) bool {
	if r.Method != http.MethodGet {
		h.refused(w, e, httpapi.MethodNotAllowed(w, r, http.MethodGet))
		return false
	}
	return !h.refused(w, e, may(e.token, accounts.MayLookup, doing))
}

// history answers GET /v1/history?url=U: what is known of U (a cipurge.History), 400 for a URL
// the normaliser rejects. A scoped token must may lookup and reach U's account.
func (h *handler) history(w http.ResponseWriter, r *http.Request, e *entry) {
	if !h.readable(w, r, e, "look URLs up") {
		return
	}
	raw := r.URL.Query().Get("url")
	if raw == "" {
		h.fail(w, e, http.StatusBadRequest, Error{Code: "no_url", Message: "the query parameter url is missing: ask " + PathHistory + "?url=https://img.example.com/a.jpg"})
		return
	}
	if h.o.Inspector == nil {
		h.fail(w, e, http.StatusNotFound, Error{Code: "not_found", Message: "this worker does not serve URL histories"})
		return
	}
	// A URL that routes is checked by its account before the read; one that does not, by the
	// account whose history the read found.
	routed := false
	if e.token != nil {
		a, err := h.o.Accounts.Route(raw, "")
		if routed = err == nil; routed && h.refused(w, e, reach(e.token, a.Name, fmt.Sprintf("url %q", raw))) {
			return
		}
	}
	hist, err := h.o.Inspector.Lookup(r.Context(), raw)
	var bad *cipurge.InvalidURLError
	switch {
	case errors.As(err, &bad):
		h.fail(w, e, http.StatusBadRequest, Error{Code: "invalid_url", Message: bad.Error()})
	case err != nil:
		e.err = err
		h.unavailable(w, e, "the queue (Redis) cannot be read: ask again later")
	case e.token != nil && !routed && h.refused(w, e, h.reachAccount(e.token, hist.Account, fmt.Sprintf("url %q", raw))):
	default:
		httpapi.WriteJSON(w, http.StatusOK, hist)
	}
}
