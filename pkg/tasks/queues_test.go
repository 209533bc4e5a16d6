package tasks

import (
	"maps"
	"slices"
	"testing"
)

// TestQueuesOfAnAccount: the default account keeps today's queue names; another's carry its name.
// AccountOfQueue reads both back.
func TestQueuesOfAnAccount(t *testing.T) {
	def := QueuesOf(DefaultAccount)
	if def != QueuesOf("") || !slices.Equal(def.Names(), QueueNames()) || !maps.Equal(def.Priorities(), Queues()) {
		t.Errorf("the default account's queues %+v are not today's %v", def, QueueNames())
	}
	if got := QueuesOf("shop-a").Names(); !slices.Equal(got, []string{"flush-all:shop-a", "purge:shop-a", "confirm:shop-a", "bulk:shop-a"}) {
		t.Errorf("shop-a's queues: %v", got)
	}
	for q, want := range map[string][2]string{
		"purge": {DefaultAccount, QueueInteractive}, "bulk:shop-a": {"shop-a", QueueBulk}, "flush-all:x_1": {"x_1", QueueAll},
	} {
		if a, b, ok := AccountOfQueue(q); !ok || a != want[0] || b != want[1] {
			t.Errorf("AccountOfQueue(%q) = %q %q %v, want %v", q, a, b, ok, want)
		}
	}
	for _, q := range []string{"webhook", "purge:Shop", "other:shop-a", "purge:"} {
		if a, b, ok := AccountOfQueue(q); ok {
			t.Errorf("AccountOfQueue(%q) = %q %q, want none", q, a, b)
		}
	}
}
