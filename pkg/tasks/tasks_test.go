package tasks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeURLsRejectsBadPayloads(t *testing.T) {
	for name, payload := range map[string]string{
		"not json":        `{not json`,
		"no urls":         `{"urls":[],"requested_at":"2026-11-27T10:00:00Z"}`,
		"empty url":       `{"urls":[""],"requested_at":"2026-11-27T10:00:00Z"}`,
		"no request time": `{"urls":["https://img.example.com/a.jpg"]}`,
		"wrong type":      `{"urls":"https://img.example.com/a.jpg","requested_at":"2026-11-27T10:00:00Z"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeURLs([]byte(payload))
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("DecodeURLs(%s) = %v, want ErrBadPayload", payload, err)
			}
		})
	}
}

func TestURLsRoundTripAndReadable(t *testing.T) {
	p := URLs{URLs: []string{"https://img.example.com/a.jpg"}, RequestedAt: time.UnixMilli(1795776338123).UTC(), Origin: OriginInteractive, Sources: []string{"cms"}}
	payload, err := EncodeURLs(p)
	if err != nil {
		t.Fatal(err)
	}
	// The payload is JSON a person reads in asynqmon.
	if !json.Valid(payload) || !strings.Contains(string(payload), `"urls":["https://img.example.com/a.jpg"]`) {
		t.Errorf("payload is not readable JSON: %s", payload)
	}
	got, err := DecodeURLs(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RequestedAt.Equal(p.RequestedAt) || got.URLs[0] != p.URLs[0] || got.Origin != p.Origin || got.Sources[0] != "cms" {
		t.Errorf("round trip: %+v, want %+v", got, p)
	}
}

func TestURLsTaskIDRules(t *testing.T) {
	at := time.UnixMilli(1795776338123)
	a := URLsTaskID(URLs{URLs: []string{"x", "y"}, RequestedAt: at, Origin: OriginInteractive})
	if a != URLsTaskID(URLs{URLs: []string{"x", "y"}, RequestedAt: at, Origin: OriginInteractive}) {
		t.Error("the same request got two task IDs: a batch formed twice would be enqueued twice")
	}
	for name, other := range map[string]URLs{
		"other urls":   {URLs: []string{"x", "z"}, RequestedAt: at, Origin: OriginInteractive},
		"other time":   {URLs: []string{"x", "y"}, RequestedAt: at.Add(time.Millisecond), Origin: OriginInteractive},
		"other origin": {URLs: []string{"x", "y"}, RequestedAt: at, Origin: OriginSplit},
		"joined urls":  {URLs: []string{"x\x00y"}, RequestedAt: at, Origin: OriginInteractive},
	} {
		if URLsTaskID(other) == a {
			t.Errorf("%s: same task ID as a different request", name)
		}
	}
	if strings.ContainsAny(a, "{}") {
		t.Errorf("task ID %q has a hash-tag brace", a)
	}
}

func TestSplit(t *testing.T) {
	keys := []string{"1", "2", "3", "4", "5", "6", "7"}
	for _, tc := range []struct {
		size int
		want string
	}{{3, "[[1 2 3] [4 5 6] [7]]"}, {15, "[[1 2 3 4 5 6 7]]"}, {0, "[[1] [2] [3] [4] [5] [6] [7]]"}, {99, "[[1 2 3 4 5 6 7]]"}} {
		got := Split(keys, tc.size)
		if s := strings.Join(strings.Fields(strings.ReplaceAll(fmtChunks(got), "\n", " ")), " "); s != tc.want {
			t.Errorf("Split(7 keys, %d) = %s, want %s", tc.size, s, tc.want)
		}
	}
	// Chunks must not share capacity: appending to one must not overwrite the next.
	got := Split(keys, 3)
	_ = append(got[0], "x")
	if got[1][0] != "4" {
		t.Error("appending to a chunk overwrote the next one")
	}
}

func fmtChunks(cs [][]string) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = "[" + strings.Join(c, " ") + "]"
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestDecodeAllNeedsConfirmation(t *testing.T) {
	if _, err := DecodeAll([]byte(`{"requested_at":"2026-11-27T10:00:00Z"}`)); !errors.Is(err, ErrBadPayload) {
		t.Errorf("a flush-all without confirmation decoded: %v", err)
	}
	if _, err := EncodeAll(All{RequestedAt: time.Now()}); !errors.Is(err, ErrBadPayload) {
		t.Errorf("a flush-all task without confirmation was built: %v", err)
	}
}
