package httpapi

import "net/http"

// Routes finds a request's route by ServeMux patterns, such as "POST /v1/invalidations".
// The mux only matches. The endpoint answers, so that its own order of checks holds: 401
// comes before 404 and 405.
type Routes[R any] struct {
	mux *http.ServeMux
	by  map[string]R // by pattern
}

// NewRoutes returns the routes of the patterns in by.
func NewRoutes[R any](by map[string]R) Routes[R] {
	rs := Routes[R]{mux: http.NewServeMux(), by: by}
	for pattern := range by {
		rs.mux.Handle(pattern, http.NotFoundHandler())
	}
	return rs
}

// Find returns r's route, and false when no pattern matches r.
func (rs Routes[R]) Find(r *http.Request) (R, bool) {
	_, pattern := rs.mux.Handler(r)
	rt, ok := rs.by[pattern]
	return rt, ok
}
