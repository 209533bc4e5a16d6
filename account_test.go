package cipurge_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/testredis"
)

// TestWithAccount: a request may name the client's account, by its name or as the default one.
// Another name refuses the whole call, and nothing is queued.
func TestWithAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testredis.Start(t)
	c := newClient(t, r.Client(), cipurge.WithAccountName("shop"))
	for i, name := range []string{"", "shop", cipurge.DefaultAccount} {
		url := "https://img.example.com/" + string(rune('a'+i)) + ".jpg"
		rep, err := c.Enqueue(ctx, []string{url}, cipurge.WithAccount(name))
		if err != nil || rep.Enqueued != 1 {
			t.Errorf("WithAccount(%q): %+v, %v", name, rep, err)
		}
	}
	before, err := r.Client().Keys(ctx, "*").Result()
	must(t, err)
	_, err = c.Enqueue(ctx, []string{"https://img.example.com/z.jpg"}, cipurge.WithAccount("other"))
	var oe *cipurge.OptionError
	if !errors.As(err, &oe) || oe.Option != "WithAccount" || !strings.Contains(err.Error(), `this client writes for the account "shop" only`) {
		t.Fatalf("another account: %v", err)
	}
	_, err = c.EnqueueBulk(ctx, slices.Values([]string{"https://img.example.com/z.jpg"}), cipurge.WithAccount("other"))
	if !errors.As(err, &oe) {
		t.Fatalf("another account, bulk: %v", err)
	}
	after, err := r.Client().Keys(ctx, "*").Result()
	must(t, err)
	slices.Sort(before)
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Errorf("a refused call wrote to Redis: keys %v, then %v", before, after)
	}
}
