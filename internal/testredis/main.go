package testredis

import (
	"fmt"
	"os"
	"testing"
)

// StartMain starts a redis-server for a TestMain, where there is no *testing.T.
// Examples share it.
// stop stops the server and removes its directory.
func StartMain(opts ...Option) (s *Server, stop func(), err error) {
	dir, err := os.MkdirTemp("", "cipurge-redis-")
	if err != nil {
		return nil, nil, err
	}
	tb := &mainTB{dir: dir}
	stop = func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
		os.RemoveAll(dir)
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(mainFatal); !ok {
				panic(r)
			}
			stop()
			s, stop, err = nil, nil, fmt.Errorf("testredis: %s", r)
		}
	}()
	return Start(tb, opts...), stop, nil
}

// mainFatal is the panic of mainTB.Fatal, recovered by StartMain.
type mainFatal string

// mainTB is the part of testing.TB that Start uses, outside a test.
type mainTB struct {
	testing.TB // nil: only the methods below are called
	dir        string
	cleanups   []func()
}

func (m *mainTB) Helper()                        {}
func (m *mainTB) TempDir() string                { return m.dir }
func (m *mainTB) Cleanup(f func())               { m.cleanups = append(m.cleanups, f) }
func (m *mainTB) Logf(format string, a ...any)   { fmt.Fprintf(os.Stderr, format+"\n", a...) }
func (m *mainTB) Fatal(a ...any)                 { panic(mainFatal(fmt.Sprint(a...))) }
func (m *mainTB) Fatalf(format string, a ...any) { panic(mainFatal(fmt.Sprintf(format, a...))) }
