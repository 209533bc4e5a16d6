package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// rowEnqueueMemory streams distinct URLs through a pipe into `enqueue --dry-run -f -` and reads
// the command's peak resident memory (VmHWM) once the whole input is written, before the pipe is
// closed: the fingerprint set then holds what it holds at its largest. The child's rusage is no
// use here: a child started by Go counts the parent's memory, shared before exec.
func (b *bench) rowEnqueueMemory() error {
	n := b.sz.memoryLines
	b.logf("enqueue memory: enqueue --dry-run -f - over %s distinct lines", group(int64(n)))
	cmd := exec.CommandContext(b.ctx, filepath.Join(b.bin, "enqueue"), "--dry-run", "--json", "--no-progress", "-f", "-")
	cmd.Env = b.cliEnv()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out := &tailBuffer{max: 4 << 10}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &limitedBuffer{max: 64 << 10, b: &errb}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(in, 1<<20)
	for i := range n {
		w.WriteString(form("memory", i, i))
		w.WriteByte('\n')
	}
	werr := w.Flush()
	rss, rerr := peakRSS(cmd.Process.Pid)
	in.Close()
	err = cmd.Wait()
	took := time.Since(start)
	switch {
	case werr != nil:
		return fmt.Errorf("enqueue memory: write the input: %v\n%s", werr, errb.String())
	case err != nil:
		return fmt.Errorf("enqueue --dry-run -f -: %v\n%s", err, errb.String())
	case rerr != nil:
		return rerr
	}
	// The summary is the last JSON object on stdout, after the keys.
	var s cliSummary
	tail := out.Bytes()
	if i := bytes.LastIndex(tail, []byte("\n{")); i >= 0 {
		tail = tail[i+1:]
	}
	if err := json.Unmarshal(tail, &s); err != nil {
		return fmt.Errorf("enqueue memory: summary: %v\n%s", err, tail)
	}
	if s.Lines != int64(n) || s.Accepted != int64(n) || s.Duplicates != 0 {
		return fmt.Errorf("%w: enqueue --dry-run read %d lines, accepted %d, %d duplicates; want %d distinct", errBroken, s.Lines, s.Accepted, s.Duplicates, n)
	}
	b.add(result{row: "memory, enqueue", workload: fmt.Sprintf("`enqueue --dry-run -f -` peak RSS (VmHWM) over %s distinct lines (%s)", group(int64(n)), secs(took)),
		product: mib(rss), target: "<= 128 MiB, whatever the input", verdict: verdict(rss <= enqueueMemoryTarget)})
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte { return t.b }
