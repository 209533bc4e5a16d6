package enqueuecmd_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
)

// dryRun runs enqueue --dry-run --no-progress -f - with args over stdin (no Redis is needed).
func dryRun(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	args = append([]string{"--dry-run", "--no-progress", "-f", "-"}, args...)
	err := enqueuecmd.Run(context.Background(), args, []string{"CLOUDIMAGE_TOKEN=demo"}, strings.NewReader(stdin), &out, &errb)
	if err != nil && err.Error() != "" {
		errb.WriteString("enqueue: " + err.Error() + "\n")
	}
	return enqueuecmd.ExitCode(err), out.String(), errb.String()
}

var rejectionLine = regexp.MustCompile(`(?m)^line \d+: `)

// TestManyRejectionsAreCounted: past 1,000 rejected lines the command prints one line that says
// the rest are counted, and the summary says how many were not printed; every good line is still
// accepted. With --verbose every rejected line is printed and nothing is said about a count.
func TestManyRejectionsAreCounted(t *testing.T) {
	const bad, good = 2500, 300
	var in strings.Builder
	for i := range bad {
		fmt.Fprintf(&in, "ftp://bad.example.com/%d.jpg\n", i)
		if i < good {
			fmt.Fprintf(&in, "https://img.example.com/count/%d.jpg\n", i)
		}
	}
	code, stdout, stderr := dryRun(in.String())
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if n := len(rejectionLine.FindAllString(stderr, -1)); n != 1000 {
		t.Errorf("%d rejections printed, want the first 1000", n)
	}
	if n := strings.Count(stderr, "the rest are counted, not printed (--verbose prints every one)"); n != 1 {
		t.Errorf("the note on the count is printed %d times, want once:\n%s", n, tail(stderr))
	}
	if want := fmt.Sprintf("%d accepted", good); !strings.Contains(stderr, want) {
		t.Errorf("the summary does not say %q:\n%s", want, tail(stderr))
	}
	if !strings.Contains(stderr, "2,500 rejected (1,500 not printed: --verbose prints every one)") {
		t.Errorf("the summary does not count the rejections not printed:\n%s", tail(stderr))
	}
	if n := strings.Count(stdout, "\n"); n != good {
		t.Errorf("%d keys on stdout, want %d", n, good)
	}

	code, _, stderr = dryRun(in.String(), "--verbose")
	if code != 1 {
		t.Errorf("--verbose: exit %d, want 1", code)
	}
	if n := len(rejectionLine.FindAllString(stderr, -1)); n != bad {
		t.Errorf("--verbose: %d rejections printed, want all %d", n, bad)
	}
	if strings.Contains(stderr, "not printed") {
		t.Errorf("--verbose speaks of rejections not printed:\n%s", tail(stderr))
	}
}

// TestInputEncodingNamedOnce: a file in UTF-16 (either endianness, with or without a byte-order
// mark) is refused in one line that names the encoding, before anything is read or enqueued; a
// UTF-8 byte-order mark is named once in a note and the file is read.
func TestInputEncodingNamedOnce(t *testing.T) {
	text := "https://img.example.com/enc/1.jpg\nhttps://img.example.com/enc/2.jpg\n"
	units := utf16.Encode([]rune(text))
	le, be := make([]byte, 0, 2*len(units)), make([]byte, 0, 2*len(units))
	for _, u := range units {
		le = append(le, byte(u), byte(u>>8))
		be = append(be, byte(u>>8), byte(u))
	}
	for _, c := range []struct {
		name, input, encoding string
	}{
		{"UTF-16LE with BOM", "\xff\xfe" + string(le), "UTF-16 little-endian (with a byte-order mark)"},
		{"UTF-16BE with BOM", "\xfe\xff" + string(be), "UTF-16 big-endian (with a byte-order mark)"},
		{"UTF-16LE", string(le), "UTF-16 little-endian"},
		{"UTF-16BE", string(be), "UTF-16 big-endian"},
	} {
		code, stdout, stderr := dryRun(c.input)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2", c.name, code)
		}
		want := "enqueue: the input is " + c.encoding + ", not UTF-8: convert it"
		if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: stderr is not the one line %q...:\n%s", c.name, want, stderr)
		}
		if stdout != "" {
			t.Errorf("%s: keys were printed: %q", c.name, stdout)
		}
	}

	code, stdout, stderr := dryRun("\xef\xbb\xbf" + text)
	if code != 0 {
		t.Errorf("UTF-8 with BOM: exit %d, want 0:\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "byte-order mark"); n != 1 {
		t.Errorf("UTF-8 with BOM: the mark is named %d times, want once:\n%s", n, stderr)
	}
	if want := "https://img.example.com/enc/1.jpg\nhttps://img.example.com/enc/2.jpg\n"; stdout != want {
		t.Errorf("UTF-8 with BOM: keys %q, want %q", stdout, want)
	}
	if _, _, stderr := dryRun(text); strings.Contains(stderr, "byte-order") || strings.Contains(stderr, "UTF-16") {
		t.Errorf("plain UTF-8 is named as another encoding:\n%s", stderr)
	}
}

func tail(s string) string {
	if len(s) > 600 {
		return "..." + s[len(s)-600:]
	}
	return s
}
