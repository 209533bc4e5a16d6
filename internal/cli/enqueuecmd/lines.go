package enqueuecmd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader reads one URL a line in constant memory, whatever the input: a line longer than max
// is reported as too long and skipped without being held, a UTF-8 byte-order mark at the start and
// the CR of CRLF endings are removed. An input in UTF-16 is refused as a whole (sniff).
type lineReader struct {
	r        *bufio.Reader
	max      int
	n        int // line number of the last line returned
	buf      []byte
	sniffed  bool
	bomNote  string
	sniffErr error
	done     bool
}

// utf8BOM is the UTF-8 byte-order mark.
const utf8BOM = "\xef\xbb\xbf"

// sniff looks at the start of the input once, before the first line.
// A UTF-8 byte-order mark is skipped, and note names it.
// An input in UTF-16, with a byte-order mark or plain ASCII in two bytes a character, is an
// *encodingError: read as UTF-8 it would be one rejection a line for the same cause.
func (l *lineReader) sniff() (note string, err error) {
	if l.sniffed {
		return l.bomNote, l.sniffErr
	}
	l.sniffed = true
	b, _ := l.r.Peek(4) // a shorter input is read as it is
	switch {
	case bytes.HasPrefix(b, []byte(utf8BOM)):
		_, _ = l.r.Discard(len(utf8BOM))
		l.bomNote = "the input starts with a UTF-8 byte-order mark: it was skipped"
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		l.sniffErr = &encodingError{"UTF-16 little-endian (with a byte-order mark)"}
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		l.sniffErr = &encodingError{"UTF-16 big-endian (with a byte-order mark)"}
	case len(b) == 4 && b[0] != 0 && b[1] == 0 && b[2] != 0 && b[3] == 0:
		l.sniffErr = &encodingError{"UTF-16 little-endian"}
	case len(b) == 4 && b[0] == 0 && b[1] != 0 && b[2] == 0 && b[3] != 0:
		l.sniffErr = &encodingError{"UTF-16 big-endian"}
	}
	return l.bomNote, l.sniffErr
}

// encodingError refuses an input that is not UTF-8, naming its encoding.
type encodingError struct{ encoding string }

func (e *encodingError) Error() string {
	return "the input is " + e.encoding + ", not UTF-8: convert it (iconv -f UTF-16 -t UTF-8 FILE > FILE.txt) and run again; nothing was enqueued"
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line (without its end), its number, and whether it was longer than max
// (then line is empty). ok is false at the end of the input; err is a read error.
func (l *lineReader) next() (line []byte, num int, tooLong bool, ok bool, err error) {
	if _, err := l.sniff(); err != nil {
		return nil, l.n, false, false, err
	}
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
	return line, l.n, tooLong, true, nil
}
