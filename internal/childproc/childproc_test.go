package childproc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartLogAndStop(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := Start("sh", "/bin/sh", []string{"-c", "echo out; echo err >&2; exec sleep 30"}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b, _ := os.ReadFile(log); !strings.Contains(string(b), "err"); b, _ = os.ReadFile(log) {
		if time.Now().After(deadline) {
			t.Fatalf("the log holds %q, want both lines", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Exited() {
		t.Fatal("exited before Stop")
	}
	if !p.Stop(10 * time.Second) {
		t.Error("sleep did not end on SIGTERM")
	}
	if !p.Exited() || p.Err() == nil {
		t.Errorf("after Stop: exited %v, err %v (want the signal)", p.Exited(), p.Err())
	}
	b, _ := os.ReadFile(log)
	if string(b) != "out\nerr\n" {
		t.Errorf("log %q", b)
	}
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	p, err := Start("stubborn", "/bin/sh", []string{"-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"}, nil, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b, _ := os.ReadFile(p.Log); !strings.Contains(string(b), "ready"); b, _ = os.ReadFile(p.Log) {
		if time.Now().After(deadline) {
			t.Fatal("the shell did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Stop(200 * time.Millisecond) {
		t.Error("Stop reports an end within grace for a process that ignores SIGTERM")
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done is not closed after Stop")
	}
	p.Kill() // ended already: returns at once
}

func TestStartFails(t *testing.T) {
	if _, err := Start("none", filepath.Join(t.TempDir(), "missing"), nil, nil, filepath.Join(t.TempDir(), "log")); err == nil || !strings.Contains(err.Error(), "start none") {
		t.Errorf("err %v", err)
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	r, err := Run(ctx, "/bin/sh", []string{"-c", "cat; echo oops >&2; exit 3"}, nil, strings.NewReader("in\n"))
	if err != nil || r.Code != 3 || r.Stdout != "in\n" || r.Stderr != "oops\n" || r.TimedOut {
		t.Errorf("%+v, %v", r, err)
	}
	r, err = Run(ctx, "/bin/sh", []string{"-c", "echo $X"}, []string{"X=only this"}, nil)
	if err != nil || r.Code != 0 || r.Stdout != "only this\n" {
		t.Errorf("env: %+v, %v", r, err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	r, err = Run(short, "/bin/sh", []string{"-c", "exec sleep 30"}, nil, nil)
	if err != nil || !r.TimedOut || r.Code != -1 || r.Took > 10*time.Second {
		t.Errorf("timeout: %+v, %v", r, err)
	}
	if _, err := Run(ctx, filepath.Join(t.TempDir(), "missing"), nil, nil, nil); err == nil {
		t.Error("a missing binary: no error")
	}
}
