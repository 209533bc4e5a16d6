package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// garbageLine is one line of a generated input file and what must become of it.
type garbageLine struct {
	raw    string
	key    string // the canonical key, for a good line
	reason string // a word the rejection must contain, for a bad line ("" accepts any reason)
	bad    bool
}

// garbageFile returns the lines of an input file that mixes good URLs (with a BOM, CRLF endings,
// blanks around them, query strings, CDN and punycode forms, a non-ASCII path) with garbage:
// binary bytes, NUL, invalid UTF-8, a 1 MB line, a line just over the limit, javascript: and
// data: URLs, IDN hosts, plus blank and comment lines that are skipped.
func garbageFile(rounds int) []garbageLine {
	rng := rand.New(rand.NewPCG(7, 7))
	binary := func(n int) string {
		b := []byte{0x00, 0xff}
		for len(b) < n {
			if c := byte(rng.UintN(256)); c != '\n' {
				b = append(b, c)
			}
		}
		return string(b)
	}
	base := "https://img.example.com/badinput/"
	var out []garbageLine
	good := func(raw, key string) { out = append(out, garbageLine{raw: raw, key: key}) }
	bad := func(raw, reason string) { out = append(out, garbageLine{raw: raw, reason: reason, bad: true}) }
	skip := func(raw string) { out = append(out, garbageLine{raw: raw}) }
	good("\xef\xbb\xbf"+base+"bom.jpg\r", base+"bom.jpg") // a byte-order mark, and CRLF
	for r := range rounds {
		p := base + "r" + strconv.Itoa(r) + "/"
		good(p+"plain.jpg", p+"plain.jpg")
		good(p+"crlf.jpg\r", p+"crlf.jpg")
		good(" \t "+p+"blanks.jpg \t", p+"blanks.jpg")
		bad(binary(200), "")
		good("http://img.example.com/badinput/r"+strconv.Itoa(r)+"/query.jpg?w=600#top", p+"query.jpg")
		bad(p+"nul\x00inside.jpg", "control character")
		good("https://demo.cloudimg.io/img.example.com/badinput/r"+strconv.Itoa(r)+"/cdn.jpg?w=300", p+"cdn.jpg")
		bad(p+"\xff\xfe-latin1-\xe9.jpg", "UTF-8")
		bad("javascript:alert("+strconv.Itoa(r)+")", "javascript:")
		bad("JaVaScRiPt:alert(document.cookie)", "scheme")
		good("https://xn--bcher-kva.example/r"+strconv.Itoa(r)+".jpg", "https://xn--bcher-kva.example/r"+strconv.Itoa(r)+".jpg")
		bad("https://bücher.example/r"+strconv.Itoa(r)+".jpg", "punycode")
		bad("https://例え.jp/r"+strconv.Itoa(r)+".jpg", "punycode")
		good(p+"café.jpg", p+"caf%C3%A9.jpg")
		bad("data:image/png;base64,iVBORw0KGgo=", "scheme")
		skip("")
		skip("   \t")
		skip("# a comment " + strconv.Itoa(r))
		skip("\r")
		bad(p+strings.Repeat("x", normalize.MaxInputLen+10)+".jpg", "longer than")
		if r%3 == 0 {
			bad(p+strings.Repeat("a", 1<<20)+".jpg", "longer than")
		}
	}
	good(base+"last-line-without-newline.jpg", base+"last-line-without-newline.jpg")
	return out
}

// TestBadInputFile: enqueue -f over a file of garbage rejects every bad line on stderr with its line
// number and reason, enqueues every good line, sends exactly the good keys, and exits 1.
// It runs over 80 lines on purpose: one run of enqueue over one file, checked from several sides.
func TestBadInputFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lines := garbageFile(12)
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l.raw)
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	path := filepath.Join(t.TempDir(), "garbage.txt")
	must(t, os.WriteFile(path, []byte(b.String()), 0o600))

	code, _, stderr := h.enqueue("", "--no-progress", "-f", path)
	if code != 1 {
		t.Errorf("exit %d, want 1 (some lines rejected)", code)
	}
	reported := map[int]string{}
	lineRe := regexp.MustCompile(`^line (\d+): (.*)$`)
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if m := lineRe.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[1])
			reported[n] = m[2]
		}
	}
	wantKeys := map[string]bool{}
	nBad, nSkip := 0, 0
	for i, l := range lines {
		num := i + 1
		msg, got := reported[num]
		switch {
		case l.bad:
			nBad++
			if !got {
				t.Errorf("line %d (%.40q) was not reported as rejected", num, l.raw)
			} else if !strings.Contains(msg, l.reason) {
				t.Errorf("line %d: reason %q does not say %q", num, msg, l.reason)
			}
			if len(l.raw) > 1024 && len(msg) > 1024 {
				t.Errorf("line %d: the rejection of a %d-byte line is %d bytes long; it must not echo the input", num, len(l.raw), len(msg))
			}
		case got:
			t.Errorf("good or blank line %d (%.60q) was rejected: %s", num, l.raw, msg)
		case l.key != "":
			wantKeys[l.key] = true
		default:
			nSkip++
		}
	}
	summary := fmt.Sprintf("%d lines: %d enqueued, 0 already pending, 0 duplicates in the input, %d rejected, %d skipped",
		len(lines), len(wantKeys), nBad, nSkip)
	if !strings.Contains(stderr, summary) {
		t.Errorf("the summary does not say %q:\n%s", summary, testkit.Tail(stderr, 3))
	}
	ctx := context.Background()
	for k := range wantKeys {
		if _, err := h.RDB.ZScore(ctx, store.KeyPending, k).Result(); err != nil {
			t.Errorf("good key %s is not pending: %v", k, err)
		}
	}
	if n, err := h.RDB.ZCard(ctx, store.KeyPending).Result(); err != nil || int(n) != len(wantKeys) {
		t.Errorf("%d keys pending (%v), want exactly the %d good ones", n, err, len(wantKeys))
	}

	h.startWorker()
	want := make([]string, 0, len(wantKeys))
	for k := range wantKeys {
		want = append(want, k)
	}
	testkit.WaitFor(t, 30*time.Second, "every good key invalidated", func() bool { return invalidatedAll(h.SB, want) })
	var extra []string
	for u := range h.SB.URLCounts() {
		if !wantKeys[u] {
			extra = append(extra, u)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("the API was sent %d URLs that are not good keys of the file: %.200q", len(extra), extra)
	}
	t.Logf("%d lines: %d good keys enqueued and sent, %d bad lines rejected with their numbers, %d skipped", len(lines), len(wantKeys), nBad, nSkip)
}

// TestBadInputMemoryBounded streams 200 MB of long garbage lines (1 MB lines, lines just over the
// 8 KiB limit, binary bytes) with a few good ones through a pipe into the enqueue binary
// (enqueue -f -), and reads the process's peak resident memory (VmHWM in /proc/PID/status) once
// the whole input is written, before closing the pipe. The program runs alone in its own process,
// so the figure covers everything it allocates and nothing of the tests running beside it, which
// runtime.ReadMemStats in this process could not separate. (The rusage of a child started by Go
// is no use here: its ru_maxrss includes the parent's memory, shared before exec.)
// It runs over 80 lines on purpose: one run of the binary, fed and measured step by step.
func TestBadInputMemoryBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	bins := buildCommands(t)
	const size = 200 << 20
	pr, pw, err := os.Pipe()
	must(t, err)
	t.Cleanup(func() { pr.Close(); pw.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.enqueue, "--no-progress", "--verbose", "-f", "-")
	cmd.Env = h.Env.List()
	cmd.Stdin = pr
	var out testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	must(t, cmd.Start())
	pr.Close() // the child has its own copy

	w := bufio.NewWriterSize(pw, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	junk := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(' ' + 1 + rng.UintN(94)) // printable, no space
		}
		return b
	}
	mb, long := junk(1<<20), junk(normalize.MaxInputLen+100)
	var written, lines, good, tooLong int
	for written < size {
		for _, chunk := range [][]byte{mb, long, long, long, []byte("\x00\xff\xfe binary \x01\x02"), junk(4000)} {
			n, err := w.Write(chunk)
			must(t, err)
			must(t, w.WriteByte('\n'))
			written += n + 1
			lines++
			if len(chunk) > normalize.MaxInputLen {
				tooLong++
			}
		}
		n, err := fmt.Fprintf(w, "https://img.example.com/memory/%d.jpg\n", good)
		must(t, err)
		written += n
		lines++
		good++
	}
	must(t, w.Flush())
	status, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
	must(t, err)
	pw.Close()
	err = cmd.Wait()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("enqueue over %d MB did not finish within 3 minutes", size>>20)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d (%v), want 1:\n%s", code, err, testkit.Tail(out.String(), 5))
	}
	summary := fmt.Sprintf("%s lines: %s enqueued", thousands(lines), thousands(good))
	if !strings.Contains(out.String(), summary) {
		t.Errorf("the summary does not say %q:\n%s", summary, testkit.Tail(out.String(), 3))
	}
	if n := strings.Count(out.String(), "is longer than"); n != tooLong {
		t.Errorf("%d lines reported too long, want %d", n, tooLong)
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/PID/status:\n%s", status)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	peak := kb << 10
	t.Logf("RESULT enqueue -f - over %d MB (%d lines, %d of them longer than %d bytes, %d good): peak RSS %.1f MB, %.1fs",
		written>>20, lines, tooLong, normalize.MaxInputLen, good, float64(peak)/(1<<20), took.Seconds())
	// A reader that held the input, or even a tenth of it, would exceed this; a streaming one
	// holds a 64 KiB buffer and one line of at most 8 KiB besides the runtime and Redis client.
	if limit := int64(size / 10); peak > limit {
		t.Errorf("peak RSS %d MB over %d MB of input; want under %d MB", peak>>20, size>>20, limit>>20)
	}
}

// thousands writes n with thousands separators, as the enqueue summary does.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
