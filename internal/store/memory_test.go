package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/testredis"
)

// TestGuard: allkeys-* is refused with the policy and the fix; volatile-* is said once and
// allowed; noeviction is allowed silently; the policy is read again after the interval.
func TestGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client()
	var notes []string
	g := NewGuard(New(rdb), 1, func(s string) { notes = append(notes, s) }) // 1 ns: read every time
	set := func(p string) {
		t.Helper()
		if err := rdb.ConfigSet(ctx, "maxmemory-policy", p).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Check(ctx); err != nil || len(notes) != 0 {
		t.Fatalf("noeviction: %v, notes %q", err, notes)
	}
	set("allkeys-lru")
	err := g.Check(ctx)
	var ev *EvictionError
	if !errors.As(err, &ev) || ev.Policy != "allkeys-lru" || !strings.Contains(err.Error(), "CONFIG SET maxmemory-policy noeviction") {
		t.Fatalf("allkeys-lru: %v", err)
	}
	set("volatile-lru")
	for range 3 {
		if err := g.Check(ctx); err != nil {
			t.Fatalf("volatile-lru: %v", err)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "volatile-lru") || !strings.Contains(notes[0], "sent twice") {
		t.Errorf("volatile-lru notes %q, want one that says what it costs", notes)
	}
	// CONFIG GET refused (as on managed Redis): said once, allowed.
	if err := rdb.Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	app := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, Username: "app", Password: "pw"})
	t.Cleanup(func() { app.Close() })
	notes = nil
	g2 := NewGuard(New(app), 1, func(s string) { notes = append(notes, s) })
	for range 2 {
		if err := g2.Check(ctx); err != nil {
			t.Errorf("CONFIG GET refused: %v", err)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "CONFIG GET") {
		t.Errorf("CONFIG GET refused: notes %q, want one", notes)
	}
}
