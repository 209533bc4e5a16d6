package enqueuecmd

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cipurge/cipurge/internal/figures"
)

// printer writes messages to stderr: rejections as they happen, and on a terminal a progress
// line that the messages do not garble.
// It prints the first rejectionsListed rejections and counts the rest, unless verbose.
type printer struct {
	mu      sync.Mutex
	w       *bufio.Writer
	bar     bool // a progress line is on screen
	barText string
	verbose bool  // print every rejection
	shown   int   // rejections printed
	hidden  int64 // rejections counted, not printed
}

func newPrinter(w io.Writer, verbose bool) *printer {
	return &printer{w: bufio.NewWriterSize(w, 32<<10), verbose: verbose}
}

func (p *printer) reject(r rejection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.verbose && p.shown >= rejectionsListed {
		p.hidden++
		if p.hidden > 1 {
			return
		}
	}
	if p.bar {
		p.w.WriteString("\r\033[K")
	}
	if p.hidden == 0 {
		p.shown++
		fmt.Fprintf(p.w, "line %d: %s\n", r.Line, r.Reason)
	} else {
		fmt.Fprintf(p.w, "enqueue: %s rejected so far: the rest are counted, not printed (--verbose prints every one)\n",
			plural(int64(p.shown), "line", "lines"))
	}
	if p.bar {
		p.w.WriteString(p.barText)
		p.w.Flush()
	}
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
	p.w.Flush()
}

// notShown returns how many rejections were counted and not printed.
func (p *printer) notShown() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hidden
}

func (p *printer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w.Flush()
}

// progress draws a progress line (lines read, rate, rejected so far) until the returned stop is
// called, which erases it.
func (p *printer) progress(c *counts, start time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	draw := func() {
		lines := c.Lines.Load()
		secs := time.Since(start).Seconds()
		rate := 0.0
		if secs > 0 {
			rate = float64(lines) / secs
		}
		p.mu.Lock()
		p.bar = true
		p.barText = fmt.Sprintf("%s lines  %s lines/s  enqueued %s  rejected %s  %s",
			group(lines), group(int64(rate)), group(c.Enqueued.Load()+c.AlreadyPending.Load()), group(c.Rejected.Load()),
			time.Since(start).Round(time.Second))
		p.w.WriteString("\r\033[K" + p.barText)
		p.w.Flush()
		p.mu.Unlock()
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		p.mu.Lock()
		if p.bar {
			p.w.WriteString("\r\033[K")
			p.bar = false
		}
		p.w.Flush()
		p.mu.Unlock()
	}
}

// group and plural write counts as everything else does (package figures).
var group, plural = figures.Count, figures.Plural
