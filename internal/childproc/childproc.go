// Package childproc runs the child processes of the benchmark and the tests: each in its own
// process group (a Ctrl-C at the terminal reaches only the parent, which stops its children by
// their pid). Start runs a long-lived one, its standard output and error appended to a log file,
// its end observable without blocking; Run runs a command to its end and collects its output and
// exit status.
package childproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is one started process.
type Proc struct {
	Name string
	Log  string // the file its standard output and error go to

	cmd  *exec.Cmd
	done chan struct{} // closed when it ended
	err  error         // Wait's result, once done is closed
}

// Start runs bin with args and env (exec.Cmd's Env: nil inherits this process's), its standard
// output and error appended to logPath.
func Start(name, bin string, args, env []string, logPath string) (*Proc, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is Wait's result (nil for exit status 0), once the process has ended.
func (p *Proc) Err() error { return p.err }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process (by its pid) and waits up to grace for it to end; then it
// sends SIGKILL and waits. It reports whether the process ended within grace (or had already).
func (p *Proc) Stop(grace time.Duration) bool {
	if p.Exited() {
		return true
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// Kill sends SIGKILL to the process (by its pid) and waits for it to end.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Result is the outcome of Run.
type Result struct {
	Code           int    // the exit status (0 when the command could not be run)
	Stdout, Stderr string // what it wrote
	Took           time.Duration
	TimedOut       bool // ctx ended it
}

// Run runs bin with args and env (exec.Cmd's Env: nil inherits this process's) and stdin (nil
// for none) until it exits, or until ctx ends: then it is killed, and its output is collected for
// at most 5 s more. The error is set only when it could not be run or waited for; an exit status
// other than 0 is no error.
func Run(ctx context.Context, bin string, args, env []string, stdin io.Reader) (Result, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String(), Took: time.Since(start), TimedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		return r, err
	}
	return r, nil
}
