package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMessagesNameRealVariables: the packages' messages name the environment variable to fix
// (an operator reads "PURGE_BATCH_SIZE", not a Go field), so the names are spelled outside this
// package. Config owns them: every PURGE_*, CLOUDIMAGE_*, REDIS_*, INTAKE_*, EVENTS_*, UI_*,
// HTTP_* and LOG_* name in the product's Go code, scripts and docs must be one of Variables (or
// its _FILE twin), so that no message points an operator at a variable that does not exist.
func TestMessagesNameRealVariables(t *testing.T) {
	known := map[string]bool{}
	for _, v := range Variables() {
		known[v.Name] = true
		if v.Secret {
			known[v.Name+FileSuffix] = true
		}
	}
	name := regexp.MustCompile(`\b(?:PURGE|CLOUDIMAGE|REDIS|INTAKE|EVENTS|UI|HTTP|LOG)_[A-Z0-9_]*[A-Z0-9]\b`)
	root := "../.."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "bin" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".go" && ext != ".md" && ext != ".sh" && ext != ".yml" && d.Name() != "Makefile" && d.Name() != "Dockerfile" {
			return nil
		}
		if strings.HasSuffix(path, "_test.go") || strings.HasPrefix(rel, "cmd/bench") {
			return nil // tests and the benchmark set variables of their own
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range name.FindAllString(string(b), -1) {
			// Unknown's message quotes a misspelt name.
			if !known[n] && !OwnedElsewhere(n) && !strings.Contains(string(b), n+" is not a setting") {
				t.Errorf("%s names %s, which is not a variable the commands read", rel, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
