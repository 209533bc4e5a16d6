package store

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestLuaUsesTheSchema fails when Go and Lua could disagree: a script that spells a field, a state,
// a key or a code by hand instead of using the constants generated from schema.go, a script that
// uses a constant the schema does not define, or a script without its KEYS/ARGV/returns header.
func TestLuaUsesTheSchema(t *testing.T) {
	defined := map[string]bool{}
	for _, c := range luaConsts {
		if defined[c.name] {
			t.Errorf("Lua constant %s is defined twice", c.name)
		}
		defined[c.name] = true
	}
	// Values a script must never spell: every field, state and key prefix of the schema.
	owned := map[string]string{}
	for _, c := range luaConsts {
		if s, ok := c.value.(string); ok {
			owned[s] = c.name
		}
	}
	for _, s := range []string{FieldAllRequested, StateConfirmed, StateFailed, StateUnconfirmed, StateDead} {
		owned[s] = "a schema constant"
	}
	constRef := regexp.MustCompile(`\b[FSVPNAE]_[A-Z_]+\b`)
	literal := regexp.MustCompile(`'([^']*)'|"([^"]*)"`)
	files, err := fs.Glob(luaFiles, "lua/*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded scripts (%v)", err)
	}
	used := map[string]bool{}
	for _, f := range files {
		b, _ := fs.ReadFile(luaFiles, f)
		src := string(b)
		for _, want := range []string{"-- KEYS[1]", "-- returns"} {
			if !strings.Contains(src, want) && !(want == "-- KEYS[1]" && strings.Contains(src, "-- KEYS[1..]")) {
				t.Errorf("%s: the header has no %q line", f, want)
			}
		}
		for _, ref := range constRef.FindAllString(src, -1) {
			used[ref] = true
			if !defined[ref] {
				t.Errorf("%s uses %s, which schema.go does not define", f, ref)
			}
		}
		for i, line := range strings.Split(src, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "--") {
				continue
			}
			if strings.Contains(line, Prefix) {
				t.Errorf("%s:%d spells a key; pass it in KEYS", f, i+1)
			}
			for _, m := range literal.FindAllStringSubmatch(line, -1) {
				v := m[1] + m[2]
				if name, ok := owned[v]; ok {
					t.Errorf("%s:%d spells %q; use %s", f, i+1, v, name)
				}
			}
		}
	}
	for _, ref := range constRef.FindAllString(luaPreamble[strings.Index(luaPreamble, "local function"):], -1) {
		used[ref] = true // used by a helper every script gets
	}
	for name := range defined {
		if !used[name] {
			t.Errorf("schema.go defines the Lua constant %s but no script uses it", name)
		}
	}
}

// TestSchemaIsTheContract: the names are a contract with data already in Redis. This table is
// what the code before the schema file wrote, spelled out; a rename fails here.
func TestSchemaIsTheContract(t *testing.T) {
	for got, want := range map[string]string{
		KeyPending: "cipurge:{cipurge}:pending", KeySources: "cipurge:{cipurge}:src", KeyRate: "cipurge:{cipurge}:rate",
		KeyPause: "cipurge:{cipurge}:pause", KeyPauseRuns: "cipurge:{cipurge}:pause:n", KeyHot: "cipurge:{cipurge}:hot",
		KeyProbe: "cipurge:{cipurge}:probe", KeyAll: "cipurge:{cipurge}:all", KeyBatcher: "cipurge:{cipurge}:batcher",
		KeyStats: "cipurge:{cipurge}:stats", HistoryKey("k"): "cipurge:{cipurge}:h:k", SentSecondKey(7): "cipurge:{cipurge}:sent:7",
		CallsSecondKey(7): "cipurge:{cipurge}:calls:7", DeadLetterKey("t"): "cipurge:{cipurge}:dead:t",
		FieldRequested + FieldSent + FieldUUID + FieldState + FieldWhy + FieldQueued + FieldTask: "reqsentuuidstwhyqtask",
		FieldAllRequested + "," + FieldAllSent + "," + FieldAllUUID:                              "requested_at,sent_at,uuid",
		FieldStatURLsSent + "," + FieldStatCalls + "," + FieldStatDropped:                        "urls_sent,calls,dropped",
		StateSent + StateConfirmed + StateFailed + StateUnconfirmed + StateDead:                  "sentconfirmedfailedunconfirmeddead",
	} {
		if got != want {
			t.Errorf("schema name %q, was %q: existing data would no longer be read", got, want)
		}
	}
	// The dead-letter record's keys and marks (asynq's key names are pinned in internal/taskq).
	for got, want := range map[string]string{
		KeyDeadLetters: "cipurge:{cipurge}:dlq", KeyDeadIndex: "cipurge:{cipurge}:dlq:at", KeyDeadMarks: "cipurge:{cipurge}:dlq:mark",
		KeyDeadTrim: "cipurge:{cipurge}:dlq:trim", KeyDeadSweep: "cipurge:{cipurge}:dlq:sweep",
		DeadMarkTrimmed + "," + DeadMarkRerun: "trimmed,rerun",
	} {
		if got != want {
			t.Errorf("schema name %q, was %q", got, want)
		}
	}
	if Go != 0 || Paused != 1 || Throttled != 2 || Yield != 3 || Satisfied != 4 || Interactive != 0 || Background != 1 {
		t.Error("a verdict or priority code changed")
	}
	for _, want := range []string{`local F_SENT = "sent"`, "local V_SATISFIED = 4", "local P_BACKGROUND = 1"} {
		if !strings.Contains(luaPreamble, want) {
			t.Errorf("the Lua preamble lacks %q:\n%s", want, luaPreamble)
		}
	}
}
