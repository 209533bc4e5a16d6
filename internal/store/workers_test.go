package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// TestWorkersAlive: the one rule of a worker alive. A record counts for three publishing periods
// (one or two missed writes are no death), is left out past them, and is deleted after an hour.
func TestWorkersAlive(t *testing.T) {
	s, ctx := newStore(t)
	if err := s.PublishWorker(ctx, store.WorkerState{ID: "w1", Rate: 10}); err != nil {
		t.Fatal(err)
	}
	at, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	period := store.WorkerPublishEvery.Milliseconds()
	for _, c := range []struct {
		name  string
		after int64 // ms after it published
		alive bool
	}{
		{"just published", 0, true},
		{"two writes missed", 3*period - 1000, true},
		{"three periods without a write", 3*period + 100, false},
		{"59 minutes without a write", (59 * time.Minute).Milliseconds(), false},
	} {
		ws, err := s.Workers(ctx, at+c.after)
		if err != nil {
			t.Fatal(err)
		}
		if alive := len(ws) == 1 && ws[0].ID == "w1" && ws[0].Rate == 10; alive != c.alive {
			t.Errorf("%s: workers %+v, want alive=%v", c.name, ws, c.alive)
		}
	}
	// Past an hour the record is forgotten: gone even for a reader at the time it was written.
	if _, err := s.Workers(ctx, at+(61*time.Minute).Milliseconds()); err != nil {
		t.Fatal(err)
	}
	if ws, err := s.Workers(ctx, at); err != nil || len(ws) != 0 {
		t.Errorf("an hour later the record is still there: %+v, %v", ws, err)
	}
}

// TestWorkersOfALane: a worker of several lanes publishes one record. Each account's store reads
// it with that account's rate and stop. Another account's store leaves it out: it does not send
// for that account. A record of one lane is a worker of the account default only.
func TestWorkersOfALane(t *testing.T) {
	s, ctx := newStore(t)
	w := store.WorkerState{ID: "w1", Rate: 10, Burst: 5, Stopped: "shop-b: since T: key rejected", Lanes: []store.LaneState{
		{Account: "shop-a", Rate: 10, Burst: 5}, {Account: "shop-b", Rate: 3, Burst: 1, ConfirmRate: 2, BusySince: 7, Stopped: "since T: key rejected"}}}
	if err := s.PublishWorker(ctx, w); err != nil {
		t.Fatal(err)
	}
	at, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for account, want := range map[string]store.WorkerState{
		"shop-a": {Rate: 10, Burst: 5},
		"shop-b": {Rate: 3, Burst: 1, ConfirmRate: 2, BusySince: 7, Stopped: "since T: key rejected"},
	} {
		ws, err := s.For(account).Workers(ctx, at)
		if err != nil || len(ws) != 1 {
			t.Fatalf("%s: %v, %v", account, ws, err)
		}
		g := ws[0]
		if g.Rate != want.Rate || g.Burst != want.Burst || g.ConfirmRate != want.ConfirmRate || g.BusySince != want.BusySince || g.Stopped != want.Stopped {
			t.Errorf("%s reads %+v, want %+v", account, g, want)
		}
	}
	// A worker of one lane publishes no lanes: it sends for the account default only.
	if err := s.PublishWorker(ctx, store.WorkerState{ID: "w2", Rate: 4}); err != nil {
		t.Fatal(err)
	}
	for account, want := range map[string]string{"default": "w2", "shop-a": "w1", "shop-c": ""} {
		ws, err := s.For(account).Workers(ctx, at)
		var ids []string
		for _, w := range ws {
			ids = append(ids, w.ID)
		}
		if got := strings.Join(ids, ","); err != nil || got != want {
			t.Errorf("%s reads the workers %q, %v; want %q", account, got, err, want)
		}
	}
}
