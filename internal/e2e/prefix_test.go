package e2e

import (
	"slices"
	"strings"
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

// TestPrefixCoversPendingURLs (issue 24): URLs and a prefix under a prefix, requested before its
// send, are not sent: the prefix's send covers them, and enqueue status says so. Outside URLs
// are sent, and so is a URL under the prefix requested after its send.
func TestPrefixCoversPendingURLs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_PREFIX_RATE=0")
	const prefix = "https://img.example.com/cov/*"
	under := []string{"https://img.example.com/cov/a.jpg", "https://img.example.com/cov/deep/b.jpg", "https://img.example.com/cov/deep/*"}
	outside := "https://img.example.com/covx/a.jpg"
	h.mustEnqueue(t, append(append([]string{}, under...), outside, prefix)...)
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "the prefix and the outside URL sent", func() bool { return invalidatedAll(h.SB, []string{prefix, outside}) })
	h.waitIdle(t)
	for _, u := range under {
		if n := h.SB.URLCount(u); n != 0 {
			t.Errorf("%s was sent %d times; the prefix covered it", u, n)
		}
	}
	if n := h.SB.URLCount(prefix); n != 1 {
		t.Errorf("the prefix was sent %d times, want 1", n)
	}
	_, out, _ := h.enqueue("", "status", under[1], under[2])
	if c := strings.Count(out, "covered by prefix "+prefix+", sent at "); c != 2 {
		t.Errorf("enqueue status says %d times that the prefix covered them:\n%s", c, out)
	}
	if !strings.Contains(out, "kind           prefix") {
		t.Errorf("enqueue status does not say the folder is a prefix:\n%s", out)
	}

	// Requested after the prefix was sent: sent as usual.
	h.mustEnqueue(t, under[0])
	testkit.WaitFor(t, 20*time.Second, "a URL requested after the prefix sent", func() bool { return h.SB.URLCount(under[0]) == 1 })
}

// TestRootPrefixIsConfirmedAsAFlushAll (issue 24): a prefix over a whole host is refused, with
// or without --prefix, unless confirmed as a flush-all is; confirmed, it is sent once, in scope
// original, and a flush-all within PURGE_ALL_COOLDOWN of it is refused.
func TestRootPrefixIsConfirmedAsAFlushAll(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PURGE_PREFIX_RATE=0", "PURGE_ALL_COOLDOWN=1h")
	const root = "https://img.example.com/*"
	for _, args := range [][]string{{root}, {"--prefix", "https://img.example.com/"}, {"--prefix", "https://demo.cloudimg.io/v7/"}} {
		if code, _, stderr := h.enqueue("", args...); code != 1 || !strings.Contains(stderr, "--confirm=") {
			t.Errorf("enqueue %q: exit %d, %q; want rejected, naming --confirm", args, code, stderr)
		}
	}
	if code, _, stderr := h.enqueue("", "--confirm=wrong", root); code != 2 || !strings.Contains(stderr, "does not match") {
		t.Errorf("a wrong confirmation: exit %d, %q", code, stderr)
	}
	if code, out, stderr := h.enqueue("", "--confirm=demo", "--reason", "test", root); code != 0 || !strings.Contains(out, "root prefix "+root+" requested") {
		t.Fatalf("a confirmed root prefix: exit %d, %q %q", code, out, stderr)
	}
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "the root prefix sent", func() bool { return h.SB.URLCount(root) > 0 })
	h.waitIdle(t)
	if n := h.SB.URLCount(root); n != 1 {
		t.Errorf("the root prefix was sent %d times, want once", n)
	}
	for _, r := range h.SB.Accepted() {
		if r.Scope != "original" {
			t.Errorf("a call in scope %q; a root prefix goes in scope original", r.Scope)
		}
	}
	code, _, stderr := h.enqueue("", "--all", "--confirm=demo")
	if code != 2 || !strings.Contains(stderr, "root prefix "+root) || !strings.Contains(stderr, "PURGE_ALL_COOLDOWN") {
		t.Errorf("a flush-all right after the root prefix: exit %d, %q; want refused by the cooldown", code, stderr)
	}
}
