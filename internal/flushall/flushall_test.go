package flushall

import (
	"strings"
	"testing"
	"time"
)

func TestConfirm(t *testing.T) {
	for _, c := range []struct {
		token, confirm string
		want           error
	}{
		{"demo", "demo", nil},
		{"", "", ErrNoToken},
		{"", "demo", ErrNoToken},
		{"demo", "", ErrNotConfirmed},
		{"demo", "dem", ErrMismatch},
		{"demo", "DEMO", ErrMismatch},
	} {
		if got := Confirm(c.token, c.confirm); got != c.want {
			t.Errorf("Confirm(%q, %q) = %v, want %v", c.token, c.confirm, got, c.want)
		}
	}
}

func TestMaySend(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h := time.Hour
	for _, c := range []struct {
		name        string
		requestedAt time.Time
		last        Last
		now         time.Time
		want        Send
	}{
		{"never sent", t0, Last{}, t0.Add(time.Second), SendIt},
		{"a later flush-all covered it", t0, Last{SentAt: t0.Add(time.Second), UUID: "u"}, t0.Add(2 * time.Second), Satisfied},
		{"within the cooldown", t0, Last{SentAt: t0.Add(-time.Minute), UUID: "u"}, t0.Add(time.Second), Refuse},
		{"within the cooldown of an unknown outcome", t0, Last{AttemptAt: t0.Add(-time.Minute)}, t0.Add(time.Second), Refuse},
		{"an unknown outcome is not a send that covers it", t0, Last{AttemptAt: t0.Add(time.Second)}, t0.Add(2 * h), SendIt},
		{"the cooldown has passed", t0, Last{SentAt: t0.Add(-2 * h), UUID: "u"}, t0.Add(time.Second), SendIt},
		{"exactly at the end of the cooldown", t0, Last{SentAt: t0.Add(-h)}, t0, SendIt},
		{"within the cooldown of an attempt whose answer was not recorded", t0, Last{InFlightAt: t0.Add(-time.Minute)}, t0.Add(time.Second), Refuse},
		{"an attempt in flight is not a send that covers it", t0, Last{InFlightAt: t0.Add(time.Second)}, t0.Add(2 * h), SendIt},
		{"the latest of the three counts", t0, Last{SentAt: t0.Add(-3 * h), AttemptAt: t0.Add(-2 * h), InFlightAt: t0.Add(-time.Minute)}, t0, Refuse},
	} {
		got, reason := MaySend(c.requestedAt, c.last, c.now, h)
		if got != c.want {
			t.Errorf("%s: MaySend = %v (%s), want %v", c.name, got, reason, c.want)
		}
		if got == Refuse && reason == "" {
			t.Errorf("%s: refused without a reason", c.name)
		}
	}
	_, reason, wait := CoolingDown(Last{SentAt: t0, UUID: "u-1"}, t0.Add(time.Minute), h)
	if !wait || !strings.Contains(reason, "cooldown of 1h0m0s") || !strings.Contains(reason, "u-1") {
		t.Errorf("CoolingDown reason %q (wait %v)", reason, wait)
	}
	_, reason, _ = CoolingDown(Last{SentAt: t0, AttemptAt: t0.Add(time.Second)}, t0.Add(time.Minute), h)
	if !strings.Contains(reason, "outcome is unknown") {
		t.Errorf("CoolingDown after an unknown outcome: %q", reason)
	}
	next, reason, wait := CoolingDown(Last{SentAt: t0, InFlightAt: t0.Add(time.Second)}, t0.Add(time.Minute), h)
	if !wait || !next.Equal(t0.Add(time.Second+h)) || !strings.Contains(reason, "not recorded") {
		t.Errorf("CoolingDown after an attempt left in flight: next %v, %q (wait %v)", next, reason, wait)
	}
	if _, reason, _ := CoolingDown(Last{AttemptAt: t0}, t0, h); strings.Contains(reason, "enqueue") {
		t.Errorf("the reason %q names a command: it reaches HTTP clients too", reason)
	}
}
