package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/flushall"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// TestExplainNamesTheVariable: the library's typed errors name Go fields.
// Explain words them with the variable an operator sets, and keeps them matchable.
func TestExplainNamesTheVariable(t *testing.T) {
	cooling := &flushall.RefusedError{Reason: "a flush-all was sent; the cooldown of 1h0m0s allows the next at noon",
		Cause: flushall.ErrCoolingDown, Next: time.Now()}
	for _, c := range []struct {
		name string
		cfg  Cloudimage
		err  error // when cfg is not used
		want string
		is   error
	}{
		{name: "no token", want: "CLOUDIMAGE_TOKEN is empty"},
		{name: "token host", cfg: Cloudimage{Token: "doc.cloudimg.io"}, want: `CLOUDIMAGE_TOKEN "doc.cloudimg.io" is a host`},
		{name: "host path", cfg: Cloudimage{Token: "doc", Hosts: []string{"img.example.com/x"}}, want: `CLOUDIMAGE_HOSTS entry "img.example.com/x" has a path`},
		{name: "prefix", cfg: Cloudimage{Token: "doc", OriginPrefix: "ftp://s.example.com/"}, want: "CLOUDIMAGE_ORIGIN_PREFIX "},
		{name: "aliases", cfg: Cloudimage{Token: "doc", Aliases: "media"}, want: `CLOUDIMAGE_ALIASES entry "media" has no "="`},
		{name: "cooldown", err: cooling, want: "allows the next at noon (PURGE_ALL_COOLDOWN)", is: flushall.ErrCoolingDown},
		{name: "mismatch", err: flushall.ErrMismatch, want: "(CLOUDIMAGE_TOKEN)", is: flushall.ErrMismatch},
	} {
		err := c.err
		if err == nil {
			_, err = (&Config{Cloudimage: c.cfg}).Normalizer()
		} else {
			err = Explain(err)
		}
		var ce *normalize.ConfigError
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.want)
		}
		if c.is != nil && !errors.Is(err, c.is) || c.is == nil && !errors.As(err, &ce) {
			t.Errorf("%s: %v lost its type", c.name, err)
		}
	}
	if err := errors.New("other"); Explain(err) != err || Variable(err) != "" {
		t.Errorf("an error with no variable behind it changed: %v", Explain(err))
	}
}

// TestLibraryNamesNoVariable: the code a Go program links names no variable of this package.
// That code is the import closure of package cipurge and pkg/..., computed by go list.
// The names come from Config's env tags, so a new variable is covered without a list here.
func TestLibraryNamesNoVariable(t *testing.T) {
	var names []string
	for _, v := range Variables() {
		names = append(names, regexp.QuoteMeta(v.Name))
	}
	word := regexp.MustCompile(`\b(?:` + strings.Join(names, "|") + `)\b`)
	cmd := exec.Command("go", "list", "-deps", "-json", ".", "./pkg/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	files := 0
	for dec.More() {
		var p struct {
			ImportPath, Dir string
			Standard        bool
			Module          *struct{ Main bool }
			GoFiles         []string
			CgoFiles        []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Standard || p.Module == nil || !p.Module.Main {
			continue
		}
		for _, f := range append(p.GoFiles, p.CgoFiles...) {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			files++
			for i, line := range strings.Split(string(b), "\n") {
				if n := word.FindString(line); n != "" {
					t.Errorf("%s/%s:%d names %s: name the Go field; the commands add the variable (Explain)", p.ImportPath, f, i+1, n)
				}
			}
		}
	}
	if files == 0 {
		t.Fatal("go list found no file of the module: the check read nothing")
	}
}
