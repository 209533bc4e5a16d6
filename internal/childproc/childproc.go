// Package childproc runs the child processes of the benchmark and the fault tests: each in its
// own process group (a Ctrl-C at the terminal reaches only the parent, which stops its children by
// their pid), its standard output and error appended to a log file, its end observable without
// blocking.
package childproc

import (
	"fmt"
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
