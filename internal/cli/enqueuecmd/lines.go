package enqueuecmd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader reads one URL a line in constant memory, whatever the input: a line longer than max
// is reported as too long and skipped without being held, a UTF-8 byte-order mark at the start and
// the CR of CRLF endings are removed.
type lineReader struct {
	r    *bufio.Reader
	max  int
	n    int // line number of the last line returned
	buf  []byte
	bom  bool
	done bool
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line (without its end), its number, and whether it was longer than max
// (then line is empty). ok is false at the end of the input; err is a read error.
func (l *lineReader) next() (line []byte, num int, tooLong bool, ok bool, err error) {
	if l.done {
		return nil, l.n, false, false, nil
	}
	l.buf = l.buf[:0]
	for {
		chunk, rerr := l.r.ReadSlice('\n')
		if !tooLong {
			if len(l.buf)+len(chunk) > l.max+2 { // +2: the line end itself
				tooLong = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		if errors.Is(rerr, bufio.ErrBufferFull) {
			continue
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, l.n, false, false, rerr
		}
		if errors.Is(rerr, io.EOF) {
			l.done = true
			if len(chunk) == 0 && len(l.buf) == 0 && !tooLong {
				return nil, l.n, false, false, nil
			}
		}
		break
	}
	l.n++
	line = bytes.TrimSuffix(l.buf, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if l.n == 1 && !l.bom {
		l.bom = true
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	return line, l.n, tooLong, true, nil
}
