package store

import (
	"regexp"
	"strings"
)

// A script carries only the part of luaPreamble it uses. The whole preamble defines about 80
// locals and 7 functions. Redis ran all of them on every call of every script: about 3.6 µs a
// call, measured by the confirm cost bench. The cut is made here, on the preamble's text, so the
// preamble stays one block that defines every constant (schema.go).

// preambleDef is one top-level definition of the preamble: a local or a local function, with the
// lines that follow it up to the next definition (ST_CODE's entries follow ST_CODE).
type preambleDef struct {
	names []string // the locals it defines
	text  string
}

var (
	luaIdent   = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	luaLocal   = regexp.MustCompile(`^local ([A-Za-z_][A-Za-z0-9_]*(?:, [A-Za-z_][A-Za-z0-9_]*)*) =`)
	luaLocalFn = regexp.MustCompile(`^local function ([A-Za-z_][A-Za-z0-9_]*)\(`)
)

// preambleDefs splits a preamble into its definitions, in order. A local function runs to the
// first line that is "end" alone, or ends on its first line.
func preambleDefs(pre string) []preambleDef {
	var defs []preambleDef
	var b strings.Builder
	flush := func() {
		if len(defs) > 0 {
			defs[len(defs)-1].text = b.String()
		}
		b.Reset()
	}
	inFn := false
	for _, line := range strings.SplitAfter(pre, "\n") {
		if line == "" {
			continue
		}
		if !inFn {
			if m := luaLocalFn.FindStringSubmatch(line); m != nil {
				flush()
				defs = append(defs, preambleDef{names: []string{m[1]}})
				inFn = !strings.HasSuffix(strings.TrimRight(line, "\n"), " end") // a one-line function ends on its line
			} else if m := luaLocal.FindStringSubmatch(line); m != nil {
				flush()
				defs = append(defs, preambleDef{names: strings.Split(m[1], ", ")})
			}
		} else if strings.TrimRight(line, "\n") == "end" {
			inFn = false
		}
		b.WriteString(line)
	}
	flush()
	return defs
}

// trimPreamble returns the definitions of pre that body uses, directly or through the ones it
// uses, in their order in pre.
func trimPreamble(pre, body string) string {
	defs := preambleDefs(pre)
	need := map[string]bool{}
	for _, id := range luaIdent.FindAllString(body, -1) {
		need[id] = true
	}
	keep := make([]bool, len(defs))
	for changed := true; changed; {
		changed = false
		for i := len(defs) - 1; i >= 0; i-- {
			if keep[i] {
				continue
			}
			for _, n := range defs[i].names {
				if need[n] {
					keep[i], changed = true, true
					for _, id := range luaIdent.FindAllString(defs[i].text, -1) {
						need[id] = true
					}
					break
				}
			}
		}
	}
	var b strings.Builder
	for i, d := range defs {
		if keep[i] {
			b.WriteString(d.text)
		}
	}
	return b.String()
}
