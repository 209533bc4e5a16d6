//go:build linux

package enqueuecmd_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/cipurge/cipurge/internal/testkit"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/testredis"
)

// openPTY returns a new pseudo-terminal: the master (what a terminal emulator reads) and the slave
// (what a program sees as its terminal). Both are closed when the test ends.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx (needed to test the progress line on a terminal): %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// `enqueue -f` draws a progress line (lines, rate, rejected so far) when stderr is a terminal and
// never when it is not. Both runs read the same input, fed in two parts; the second part is sent
// only once the terminal run has drawn its line, so the other run has been running at least as
// long: had it drawn a line, it would show.
// It runs over 80 lines on purpose: two runs of one input, in lock step, compared.
func TestProgressLineOnlyOnATerminal(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	env := []string{"REDIS_URL=" + r.URL(), "CLOUDIMAGE_TOKEN=demo"}

	master, slave := openPTY(t)
	if !term.IsTerminal(int(slave.Fd())) {
		t.Fatal("the pty slave is not a terminal")
	}
	screen := &testkit.SyncBuffer{}
	go func() { _, _ = io.Copy(screen, master) }() // ends when master is closed

	plainErr, err := os.Create(t.TempDir() + "/stderr.txt") // stderr redirected to a file
	if err != nil {
		t.Fatal(err)
	}
	defer plainErr.Close()

	type result struct {
		err    error
		stdout string
	}
	run := func(stdin io.Reader, stderr *os.File, done chan<- result) {
		var out bytes.Buffer
		err := enqueuecmd.Run(context.Background(), []string{"-f", "-"}, env, stdin, &out, stderr)
		done <- result{err, out.String()}
	}
	ttyIn, ttyFeed := io.Pipe()
	plainIn, plainFeed := io.Pipe()
	ttyDone, plainDone := make(chan result, 1), make(chan result, 1)
	go run(ttyIn, slave, ttyDone)
	go run(plainIn, plainErr, plainDone)

	feed := func(from, to int) {
		t.Helper()
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "https://img.example.com/progress/%d.jpg\n", i)
		}
		if from == 0 {
			b.WriteString("ftp://not-an-image-url\n") // one rejected line
		}
		for _, w := range []*io.PipeWriter{ttyFeed, plainFeed} {
			if _, err := io.WriteString(w, b.String()); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed(0, 100)
	testkit.WaitFor(t, 20*time.Second, "the progress line on the terminal", func() bool {
		s := screen.String()
		return strings.Contains(s, "\r\033[K") && strings.Contains(s, "101 lines") && strings.Contains(s, "rejected 1")
	})
	feed(100, 150)
	ttyFeed.Close()
	plainFeed.Close()

	wait := func(name string, ch <-chan result) result {
		t.Helper()
		select {
		case res := <-ch:
			if code := enqueuecmd.ExitCode(res.err); code != 1 {
				t.Errorf("%s: exit status %d (%v), want 1 (one line rejected)", name, code, res.err)
			}
			return res
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: enqueue did not finish within 30s", name)
			return result{}
		}
	}
	wait("terminal", ttyDone)
	wait("file", plainDone)

	testkit.WaitFor(t, 10*time.Second, "the summary on the terminal", func() bool { return strings.Contains(screen.String(), "151 lines:") })
	tty := screen.String()
	for _, want := range []string{"lines/s", "rejected 1", "line 101: ", "151 lines:"} {
		if !strings.Contains(tty, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, tty)
		}
	}
	// The line is erased before the summary: the summary starts on a clean line.
	if i, j := strings.LastIndex(tty, "\r\033[K"), strings.LastIndex(tty, "151 lines:"); i > j {
		t.Errorf("a progress line was drawn after the summary:\n%q", tty)
	}

	b, err := os.ReadFile(plainErr.Name())
	if err != nil {
		t.Fatal(err)
	}
	plain := string(b)
	if !strings.Contains(plain, "151 lines:") || !strings.Contains(plain, "line 101: ") {
		t.Errorf("stderr in a file lacks the summary or the rejection:\n%q", plain)
	}
	for _, bad := range []string{"\r", "\033[", "lines/s"} {
		if strings.Contains(plain, bad) {
			t.Errorf("stderr in a file contains %q (a progress line off a terminal):\n%q", bad, plain)
		}
	}
}
