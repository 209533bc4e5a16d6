package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/testkit"
)

// TestPrefixGoesAloneAndRootIsRefused (issue 24): a folder ending with /* enqueued with URLs goes
// out in an API call of its own (its own budget, PURGE_PREFIX_RATE), in the canonical form; the
// URLs go together in another call. A prefix over a whole host is refused by the producer.
func TestPrefixGoesAloneAndRootIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_PREFIX_RATE=0")
	urls := []string{"https://img.example.com/prefixalone/a.jpg", "https://img.example.com/prefixalone/b.jpg"}
	prefix := "https://img.example.com/prefixalone/folder/*"
	h.mustEnqueue(t, append(urls, "https://demo.cloudimg.io/img.example.com/prefixalone/folder/*?w=10")...)
	if code, _, stderr := h.enqueue("", "https://img.example.com/*"); code == 0 {
		t.Errorf("a prefix over a whole host was accepted: %s", stderr)
	}
	h.startWorker()
	all := append(slices.Clone(urls), prefix)
	testkit.WaitFor(t, 20*time.Second, "the URLs and the prefix sent", func() bool { return invalidatedAll(h.SB, all) })
	for _, r := range h.SB.Accepted() {
		if slices.Contains(r.URLs, prefix) && len(r.URLs) != 1 {
			t.Errorf("the prefix shared a call: %v", r.URLs)
		}
	}
	if n := h.SB.URLCount("https://img.example.com/*"); n != 0 {
		t.Errorf("the host's root prefix was sent %d times", n)
	}
}
