package store

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/testredis"
)

// TestHistoryRecordRoundTrip writes records with the preamble's hrec_enc and reads them back with
// hrec_read in Lua and parseHistoryRecord in Go: a short and a long request delay (ms, then whole
// seconds, rounded so the request is never later than it was), a send late in a long epoch (a
// 5-byte offset), and a URL's own state.
func TestHistoryRecordRoundTrip(t *testing.T) {
	rdb := testredis.Start(t).Client()
	ctx := context.Background()
	rt := redis.NewScript(luaPreamble + `
local v = hrec_enc(KEYS[1], ARGV[3], tonumber(ARGV[1]), tonumber(ARGV[2]), 77)
local sent, req, call, st = hrec_read(KEYS[1], v)
return {v, sent, req, call, st or ''}`)
	year := HistoryEpoch(365 * 24 * time.Hour)
	start := int64(1_790_000_000_000) / year * year
	for _, c := range []struct {
		name           string
		sent, req      int64
		epoch          int64
		state, wantReq int64
	}{
		{"a delay of 250 ms", start + 1000, start + 750, HistoryEpoch(time.Hour), 0, start + 750},
		{"a delay of 5 h, in seconds", start + 6*historyHour + 1, start + historyHour - 1, year, 0, start + historyHour - 999},
		{"60 days into the epoch", start + 60*24*historyHour + 5, start + 60*24*historyHour, year, 2, start + 60*24*historyHour},
	} {
		key := HistoryEpochKey(c.sent, c.epoch, 7)
		st := ""
		if c.state > 0 {
			st = stateCodes[historyStates[c.state-1]]
		}
		res, err := rt.Run(ctx, rdb, []string{key}, c.sent, c.req, st).Slice()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		v := res[0].(string)
		if res[1].(int64) != c.sent || res[2].(int64) != c.wantReq || res[3].(int64) != 77 || res[4].(string) != st {
			t.Errorf("%s: Lua reads %v; want sent %d, req %d, call 77, state %q", c.name, res[1:], c.sent, c.wantReq, st)
		}
		h, ok := parseHistoryRecord(key, v)
		wantState := ""
		if c.state > 0 {
			wantState = historyStates[c.state-1]
		}
		if !ok || h.sent != c.sent || h.req != c.wantReq || h.call != 77 || h.state != wantState {
			t.Errorf("%s: Go reads %+v, %v; want sent %d, req %d, call 77, state %q", c.name, h, ok, c.sent, c.wantReq, wantState)
		}
		if len(v) > 13 {
			t.Errorf("%s: a record of %d bytes", c.name, len(v))
		}
	}
}
