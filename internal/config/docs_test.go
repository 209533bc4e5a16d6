package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsTableIsTheDefaults: docs/configuration.md lists every variable with the default the
// commands apply (Default), so that the table cannot drift from the code that owns the values.
func TestDocsTableIsTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{} // variable -> default as the table shows it
	code := regexp.MustCompile("`([^`]*)`")
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		var names, defs []string
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			defs = append(defs, m[1])
		}
		for i, n := range names {
			switch {
			case len(defs) == len(names):
				documented[n] = defs[i]
			case len(defs) == 0:
				documented[n] = ""
			default:
				t.Errorf("docs/configuration.md: the row of %v gives %d defaults for %d variables", names, len(defs), len(names))
			}
		}
	}
	for _, v := range Variables() {
		got, ok := documented[v.Name]
		if !ok {
			t.Errorf("docs/configuration.md does not list %s", v.Name)
			continue
		}
		if got != v.Default {
			t.Errorf("docs/configuration.md: %s defaults to %q, the code to %q", v.Name, got, v.Default)
		}
	}
}
