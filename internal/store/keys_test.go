package store

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// keyNames returns every key of k by its field name: the fixed keys, and one of each family of
// keys (history, counters, requests) built for a sample argument.
func keyNames(k Keys) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(k)
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if f.Type.Kind() == reflect.String && f.IsExported() && f.Name != "Account" && f.Name != "Prefix" {
			out[f.Name] = v.Field(i).String()
		}
	}
	out["History"] = k.History("k")
	out["HistoryEpoch"] = k.HistoryEpoch(7200000, 3600000, 3)
	out["HistoryBucket"] = k.HistoryBucket(7200000, 3)
	out["HistoryCalls"] = k.HistoryCalls(7200000, 3600000)
	out["SentSecond"], out["CallsSecond"] = k.SentSecond(7), k.CallsSecond(7)
	out["DeadLetter"], out["Request"], out["RequestIdem"] = k.DeadLetter("t"), k.Request("r"), k.RequestIdem("i")
	return out
}

// TestKeysOfTheDefaultAccountAreTodays: the account default keeps every name of today, so what an
// earlier version wrote is still read. The constants are the default's names.
func TestKeysOfTheDefaultAccountAreTodays(t *testing.T) {
	want := map[string]string{
		"Pending": KeyPending, "Sources": KeySources, "Queued": KeyQueued, "Rate": KeyRate, "RateStatus": KeyRateStatus, "RatePrefix": KeyRatePrefix,
		"Pause": KeyPause, "PauseRuns": KeyPauseRuns, "PauseLog": KeyPauseLog, "Hot": KeyHot, "Probe": KeyProbe,
		"All": KeyAll, "Batcher": KeyBatcher, "Stats": KeyStats,
		"DeadLetters": KeyDeadLetters, "DeadIndex": KeyDeadIndex, "DeadMarks": KeyDeadMarks, "DeadTrim": KeyDeadTrim, "DeadSweep": KeyDeadSweep,
		"HistoryLayout": KeyHistoryLayout, "PrefixSent": KeyPrefixSent, "PrefixWaiting": KeyPrefixWaiting, "HotPrefix": KeyHotPrefix,
		"Starts": KeyStarts, "StartsPrefix": KeyStartsPrefix, "Checks": "cipurge:{cipurge}:checks", "Requests": KeyRequests, "RequestLinks": KeyRequestLinks,
		"Outbox": KeyOutbox, "OutboxTaken": KeyOutboxTaken, "OutboxEvents": KeyOutboxEvents,
		"History": "cipurge:{cipurge}:h:k", "HistoryEpoch": "cipurge:{cipurge}:hb:1:2:3", "HistoryBucket": "cipurge:{cipurge}:hh:7200:3",
		"HistoryCalls": "cipurge:{cipurge}:hc:1:2",
		"SentSecond":   "cipurge:{cipurge}:sent:7", "CallsSecond": "cipurge:{cipurge}:calls:7", "DeadLetter": "cipurge:{cipurge}:dead:t",
		"Request": "cipurge:{cipurge}:rq:r", "RequestIdem": "cipurge:{cipurge}:rq:idem:i",
	}
	for _, name := range []string{"", tasks.DefaultAccount} {
		got := keyNames(KeysFor(name))
		if len(got) != len(want) {
			t.Errorf("KeysFor(%q) has %d keys, the table %d: add the new key to both", name, len(got), len(want))
		}
		for f, w := range want {
			if got[f] != w {
				t.Errorf("KeysFor(%q).%s = %q, today's name is %q", name, f, got[f], w)
			}
		}
	}
	if k := New(nil).Keys(); k != defaultKeys || k.Account != tasks.DefaultAccount {
		t.Errorf("New binds %q, want the default account", k.Account)
	}
}

// TestKeysOfAnAccountShareItsSlot: every key of another account carries its own hash tag, so one
// account lives on one Cluster node and two accounts never share a key. Redis says the slot.
func TestKeysOfAnAccountShareItsSlot(t *testing.T) {
	srv := testredis.Start(t, testredis.WithArgs("--cluster-enabled", "yes"))
	rdb := srv.Client()
	ctx := context.Background()
	slots := map[string]int64{}
	for _, account := range []string{tasks.DefaultAccount, "shop-a", "shop-b"} {
		k := New(rdb).For(account).Keys()
		if k.Account != account {
			t.Errorf("For(%q) binds %q", account, k.Account)
		}
		tag := "{cipurge:" + account + "}"
		if account == tasks.DefaultAccount {
			tag = "{cipurge}"
		}
		var first int64 = -1
		for f, key := range keyNames(k) {
			if !strings.Contains(key, tag) || strings.Count(key, "{") != 1 {
				t.Errorf("account %s: %s = %q does not carry the one hash tag %s", account, f, key, tag)
			}
			slot, err := rdb.ClusterKeySlot(ctx, key).Result()
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
			}
			if first < 0 {
				first = slot
			}
			if slot != first {
				t.Errorf("account %s: %s = %q is in slot %d, its other keys in %d", account, f, key, slot, first)
			}
		}
		slots[account] = first
	}
	if slots["shop-a"] == slots["shop-b"] {
		t.Logf("shop-a and shop-b share slot %d (allowed: their keys still differ)", slots["shop-a"])
	}
}

// TestIsHistoryKeyOfEveryAccount: the bench tells history from other keys for every account.
func TestIsHistoryKeyOfEveryAccount(t *testing.T) {
	for _, account := range []string{tasks.DefaultAccount, "shop-a"} {
		k := KeysFor(account)
		for _, key := range []string{k.History("x"), k.HistoryEpoch(0, 3600000, 1), k.HistoryBucket(0, 1), k.HistoryCalls(0, 3600000)} {
			if !IsHistoryKey(key) {
				t.Errorf("IsHistoryKey(%q) = false", key)
			}
		}
		for _, key := range []string{k.Pending, k.Requests, k.Request("h:x")} {
			if IsHistoryKey(key) {
				t.Errorf("IsHistoryKey(%q) = true", key)
			}
		}
	}
}
