// Package docscheck holds the test that keeps README.md and docs/*.md true to the code: fences
// that close, links and anchors that resolve, environment variables that exist, and the table of
// the worker's HTTP paths. It has no code of its own.
package docscheck
