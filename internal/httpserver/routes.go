package httpserver

import (
	"net/http"
	"slices"
	"strings"
)

// Router is a mounted handler that names the paths it serves, so that the worker's list of
// paths (Routes) includes them.
type Router interface {
	Routes() []string
}

// router is the worker's ServeMux that remembers what it was given.
type router struct {
	*http.ServeMux
	patterns []string
	mounted  []http.Handler
}

func newRouter() *router { return &router{ServeMux: http.NewServeMux()} }

func (r *router) Handle(pattern string, h http.Handler) {
	r.patterns = append(r.patterns, pattern)
	r.mounted = append(r.mounted, h)
	r.ServeMux.Handle(pattern, h)
}

func (r *router) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	r.Handle(pattern, http.HandlerFunc(h))
}

// Routes returns the paths the handler that New built serves, sorted, without methods: a
// subtree that a mounted Router serves is replaced by the Router's own paths. It returns nil
// for any other handler.
func Routes(h http.Handler) []string {
	r, ok := h.(*router)
	if !ok {
		return nil
	}
	var out []string
	for i, p := range r.patterns {
		if sub, ok := r.mounted[i].(Router); ok {
			for _, s := range sub.Routes() {
				out = append(out, PathOf(s))
			}
			continue
		}
		out = append(out, PathOf(p))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// PathOf turns a ServeMux pattern into the path it serves: "GET /status" is /status,
// "GET /{$}" is /, and a subtree "/monitoring/" is /monitoring.
func PathOf(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	pattern = strings.TrimSuffix(pattern, "{$}")
	if len(pattern) > 1 {
		pattern = strings.TrimSuffix(pattern, "/")
	}
	return pattern
}
