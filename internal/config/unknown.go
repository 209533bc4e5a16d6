package config

import (
	"regexp"
	"slices"
	"strings"
)

// notSettings are variables with a product prefix that other programs own: proxies for every
// HTTP client, and scripts/ensure-redis.sh's port.
var notSettings = []string{"HTTP_PROXY", "REDIS_PORT"}

// serviceLink matches the variables Kubernetes sets for each Service of the namespace: a Service
// named redis sets REDIS_PORT, and names that end in _SERVICE_HOST or hold _PORT_6379_TCP.
var serviceLink = regexp.MustCompile(`_SERVICE_HOST$|_SERVICE_PORT(_.*)?$|_PORT$|_PORT_[0-9]+_(TCP|UDP|SCTP)(_.*)?$`)

// Unknown returns one message for each variable of environ ("KEY=value") that has one of the
// product's prefixes (the first word of a known name: PURGE_, CLOUDIMAGE_, REDIS_ ...) but is not
// a setting, with the nearest known name: "PURGE_RATES is not a setting; did you mean
// PURGE_RATE?". The commands warn with it and go on (docs/configuration.md says why).
func Unknown(environ []string) []string {
	var known []string
	prefixes := map[string]bool{}
	for _, v := range Variables() {
		known = append(known, v.Name)
		if v.Secret {
			known = append(known, v.Name+FileSuffix)
		}
		p, _, _ := strings.Cut(v.Name, "_")
		prefixes[p+"_"] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		p, _, ok := strings.Cut(name, "_")
		if !ok || !prefixes[p+"_"] || slices.Contains(known, name) || OwnedElsewhere(name) {
			continue
		}
		out = append(out, name+" is not a setting; did you mean "+nearest(name, known)+"? It is ignored (every setting: --help)")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// OwnedElsewhere reports whether name, though it has a product prefix, belongs to another
// program: a proxy setting, scripts/ensure-redis.sh's port, a Kubernetes service link.
func OwnedElsewhere(name string) bool {
	return slices.Contains(notSettings, name) || serviceLink.MatchString(name)
}

// nearest is the name of known closest to name in edits (Levenshtein), the first on a tie.
func nearest(name string, known []string) string {
	best, bestD := "", -1
	for _, k := range known {
		if d := distance(name, k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the number of single-character insertions, deletions and substitutions that turn
// a into b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
