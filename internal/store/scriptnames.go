package store

// scriptNames maps each script's SHA1 (as EVALSHA names it) to its file name in lua/.
var scriptNames = map[string]string{}

// ScriptNames returns the SHA1 of every script of this package, as EVALSHA sends it, mapped to
// its name (lua/<name>.lua). A benchmark uses it to split Redis time per script.
func ScriptNames() map[string]string {
	out := make(map[string]string, len(scriptNames))
	for h, n := range scriptNames {
		out[h] = n
	}
	return out
}
