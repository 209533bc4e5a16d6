package docscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/httpserver"
	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/pkg/normalize"
)

const root = "../.."

// doc is one parsed Markdown file.
type doc struct {
	rel     string // path from the repository's root
	src     []byte
	tree    ast.Node
	anchors map[string]bool // GitHub's heading anchors
}

var md = goldmark.New(goldmark.WithExtensions(extension.GFM))

// docs parses README.md and docs/*.md.
func docs(t *testing.T) []*doc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var out []*doc
	for _, f := range files {
		out = append(out, parse(t, f))
	}
	return out
}

func parse(t *testing.T, path string) *doc {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(root, path)
	d := &doc{rel: filepath.ToSlash(rel), src: src, tree: md.Parser().Parse(text.NewReader(src)), anchors: map[string]bool{}}
	seen := map[string]int{}
	walk(d.tree, func(n ast.Node) {
		if h, ok := n.(*ast.Heading); ok {
			a := slug(plain(h, src))
			if k := seen[a]; k > 0 {
				d.anchors[fmt.Sprintf("%s-%d", a, k)] = true
			} else {
				d.anchors[a] = true
			}
			seen[a]++
		}
	})
	return d
}

func walk(n ast.Node, fn func(ast.Node)) {
	_ = ast.Walk(n, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			fn(n)
		}
		return ast.WalkContinue, nil
	})
}

// plain is the text of n and its descendants, code spans included.
func plain(n ast.Node, src []byte) string {
	var b strings.Builder
	walk(n, func(c ast.Node) {
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(src))
		case *ast.String:
			b.Write(c.Value)
		}
	})
	return b.String()
}

// slug is GitHub's anchor of a heading: lower case, punctuation dropped except - and _, each
// space a hyphen.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// line is the 1-based line of byte offset off.
func (d *doc) line(off int) int { return 1 + strings.Count(string(d.src[:off]), "\n") }

// TestFencesClose: every fenced code block ends with a closing fence of its own. A line inside a
// block that starts like a fence (a closing fence with text after it, as in "``` The source")
// means the block swallowed what follows it, headings included.
func TestFencesClose(t *testing.T) {
	for _, d := range docs(t) {
		walk(d.tree, func(n ast.Node) {
			fb, ok := n.(*ast.FencedCodeBlock)
			if !ok {
				return
			}
			open := d.fenceLine(fb)
			fence := strings.TrimLeft(open, " ")
			fence = fence[:len(fence)-len(strings.TrimLeft(fence, fence[:1]))]
			lines := fb.Lines()
			for i := range lines.Len() {
				seg := lines.At(i)
				content := strings.TrimSpace(string(seg.Value(d.src)))
				if strings.HasPrefix(content, fence[:1]+fence[:1]+fence[:1]) {
					t.Errorf("%s:%d: a code fence line inside the block opened at line %d: a closing fence takes nothing after it, so the block runs on",
						d.rel, d.line(seg.Start), d.line(d.openOffset(fb)))
				}
			}
			end := d.openOffset(fb) + len(open) + 1
			if lines.Len() > 0 {
				end = lines.At(lines.Len() - 1).Stop
			}
			rest := string(d.src[min(end, len(d.src)):])
			next, _, _ := strings.Cut(rest, "\n")
			next = strings.TrimSpace(next)
			if !strings.HasPrefix(next, fence) || strings.Trim(next, fence[:1]) != "" {
				t.Errorf("%s:%d: the code block opened here does not close (its fence is %q)", d.rel, d.line(d.openOffset(fb)), fence)
			}
		})
	}
}

// openOffset is where the line of a fenced block's opening fence starts.
func (d *doc) openOffset(fb *ast.FencedCodeBlock) int {
	var off int
	if fb.Lines().Len() > 0 {
		off = fb.Lines().At(0).Start - 1 // the line break before the first content line
	} else if fb.Info != nil {
		off = fb.Info.Segment.Start
	} else {
		// An empty block without info string: find it from the previous sibling.
		if p := fb.PreviousSibling(); p != nil && p.Lines().Len() > 0 {
			off = p.Lines().At(p.Lines().Len() - 1).Stop
		}
		for off < len(d.src) && d.src[off] != '`' && d.src[off] != '~' {
			off++
		}
	}
	for off > 0 && d.src[off-1] != '\n' {
		off--
	}
	return off
}

func (d *doc) fenceLine(fb *ast.FencedCodeBlock) string {
	l, _, _ := strings.Cut(string(d.src[d.openOffset(fb):]), "\n")
	return l
}

// TestLinksResolve: every relative link names a file of the repository, and its #anchor a
// heading of that file (GitHub's anchors).
func TestLinksResolve(t *testing.T) {
	parsed := map[string]*doc{}
	for _, d := range docs(t) {
		parsed[d.rel] = d
	}
	for _, d := range docs(t) {
		walk(d.tree, func(n ast.Node) {
			var dest string
			switch n := n.(type) {
			case *ast.Link:
				dest = string(n.Destination)
			case *ast.Image:
				dest = string(n.Destination)
			default:
				return
			}
			if strings.Contains(dest, "://") || strings.HasPrefix(dest, "mailto:") {
				return
			}
			at := d.line(segmentStart(n))
			path, anchor, _ := strings.Cut(dest, "#")
			target := d.rel
			if path != "" {
				target = filepath.ToSlash(filepath.Join(filepath.Dir(d.rel), path))
				if _, err := os.Stat(filepath.Join(root, target)); err != nil {
					t.Errorf("%s:%d: the link %q names %s, which does not exist", d.rel, at, dest, target)
					return
				}
			}
			if anchor == "" {
				return
			}
			td := parsed[target]
			if td == nil && strings.HasSuffix(target, ".md") {
				td = parse(t, filepath.Join(root, target))
			}
			if td == nil {
				t.Errorf("%s:%d: the link %q has an anchor into %s, which is not Markdown", d.rel, at, dest, target)
				return
			}
			if !td.anchors[anchor] {
				t.Errorf("%s:%d: the link %q: %s has no heading whose anchor is #%s", d.rel, at, dest, target, anchor)
			}
		})
	}
}

// segmentStart is the offset of the first text under n (for a line number).
func segmentStart(n ast.Node) int {
	off := -1
	walk(n, func(c ast.Node) {
		if t, ok := c.(*ast.Text); ok && off < 0 {
			off = t.Segment.Start
		}
	})
	for p := n.Parent(); off < 0 && p != nil; p = p.Parent() {
		if p.Type() == ast.TypeBlock && p.Lines().Len() > 0 {
			off = p.Lines().At(0).Start
		}
	}
	return max(off, 0)
}

// TestVariablesAreTheConfiguration: every environment variable with one of the product's
// prefixes that the docs name is one the configuration reads, and every variable it reads is
// named in some doc. The prefixes come from the variables' own names.
func TestVariablesAreTheConfiguration(t *testing.T) {
	known := map[string]bool{}
	prefixes := map[string]bool{}
	for _, v := range config.Variables() {
		known[v.Name] = true
		if v.Secret {
			known[v.Name+config.FileSuffix] = true
		}
		p, _, _ := strings.Cut(v.Name, "_")
		prefixes[p] = true
	}
	name := regexp.MustCompile(`\b(?:` + strings.Join(slices.Sorted(mapKeys(prefixes)), "|") + `)_[A-Z0-9_]*[A-Z0-9]\b`)
	named := map[string]bool{}
	for _, d := range docs(t) {
		for i, l := range strings.Split(string(d.src), "\n") {
			for _, n := range name.FindAllString(l, -1) {
				named[n] = true
				// A doc may quote the message that reports a misspelt variable.
				if !known[n] && !config.OwnedElsewhere(n) && !strings.Contains(l, n+" is not a setting") {
					t.Errorf("%s:%d names %s, which is not a variable the configuration reads", d.rel, i+1, n)
				}
			}
		}
	}
	for _, v := range config.Variables() {
		if !named[v.Name] {
			t.Errorf("%s is read by the configuration but named in no doc (README.md, docs/*.md)", v.Name)
		}
	}
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestOperationsTableIsThePaths: docs/operations.md's table of the worker's paths lists every
// path the worker's HTTP server serves, as the server itself reports them, and no other.
func TestOperationsTableIsThePaths(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never called: the handlers are only built
	t.Cleanup(func() { _ = rdb.Close() })
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cipurge.NewClient(rdb, norm)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpserver.New(httpserver.Options{
		UI:       httpserver.UI{Addr: "127.0.0.1:0"},
		Redis:    rdb,
		Registry: prometheus.NewRegistry(),
		Intake:   intake.New(intake.Options{Client: p, Token: "t"}),
		Events:   events.New(events.Options{Producer: p, Token: "t"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	served := httpserver.Routes(h)
	if len(served) < 5 {
		t.Fatalf("the server reports %d paths (%v): httpserver.Routes no longer sees the mux", len(served), served)
	}
	d := parse(t, filepath.Join(root, "docs", "operations.md"))
	documented := pathTable(d)
	if len(documented) == 0 {
		t.Fatal("docs/operations.md has no table whose first column is \"path\"")
	}
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("the worker serves %s; docs/operations.md's table of paths does not list it", s)
		}
	}
	for _, p := range documented {
		if !slices.Contains(served, p) {
			t.Errorf("docs/operations.md's table of paths lists %s; the worker does not serve it (served: %v)", p, served)
		}
	}
}

// pathTable returns the paths in the first column of the doc's table headed "path".
func pathTable(d *doc) []string {
	var out []string
	walk(d.tree, func(n ast.Node) {
		tbl, ok := n.(*extast.Table)
		if !ok {
			return
		}
		head := tbl.FirstChild()
		if head == nil || head.FirstChild() == nil || strings.TrimSpace(plain(head.FirstChild(), d.src)) != "path" {
			return
		}
		for row := head.NextSibling(); row != nil; row = row.NextSibling() {
			cell := row.FirstChild()
			walk(cell, func(c ast.Node) {
				if cs, ok := c.(*ast.CodeSpan); ok {
					if p := plain(cs, d.src); strings.HasPrefix(p, "/") {
						out = append(out, httpserver.PathOf(p))
					}
				}
			})
		}
	})
	return out
}
