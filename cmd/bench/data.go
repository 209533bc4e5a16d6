package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// benchToken is the CLOUDIMAGE_TOKEN the benchmark configures: CDN URLs are on demo.cloudimg.io.
const benchToken = "demo"

// imageKey is the canonical key (what the API is sent) of image i of a data set.
func imageKey(set string, i int) string {
	return "https://img.example.com/" + set + "/" + strconv.Itoa(i/1000) + "/photo-" + strconv.Itoa(i) + ".jpg"
}

// form returns one of the equivalent spellings of image i of a data set that users hold: the
// key itself, CDN URLs with operations (new and /v7/ style), an http URL with an upper-case host,
// a default port and a fragment, a schemeless origin path, and a URL with a signature. Every
// form normalises to imageKey(set, i).
func form(set string, i, f int) string {
	path := set + "/" + strconv.Itoa(i/1000) + "/photo-" + strconv.Itoa(i) + ".jpg"
	switch f % numForms {
	case 0:
		return "https://img.example.com/" + path
	case 1:
		return "https://" + benchToken + ".cloudimg.io/img.example.com/" + path + "?w=600&h=400"
	case 2:
		return "http://IMG.EXAMPLE.COM:80/" + path + "#top"
	case 3:
		return "img.example.com/" + path
	case 4:
		return "https://" + benchToken + ".cloudimg.io/v7/https://img.example.com/" + path + "?func=crop&w=300"
	default:
		return "https://img.example.com/" + path + "?ci_sign=5f2a9c0d"
	}
}

// numForms is how many spellings form knows.
const numForms = 6

// dataSet is a generated input file and what the product must make of it.
type dataSet struct {
	path    string
	lines   int
	uniques int      // distinct canonical keys
	keys    []string // the canonical keys (nil unless asked for)
}

// writeDuplicates writes lines lines naming ceil(lines/3) images: each image three times, as two
// different equivalent forms and, for every other image, an exact repeat of the first, in a
// shuffled order (seeded: every run writes the same file). Two thirds of the lines are
// duplicates or equivalent forms of an earlier line.
func writeDuplicates(path, set string, lines int) (*dataSet, error) {
	uniques := (lines + 2) / 3
	all := make([]string, 0, lines)
	for i := 0; i < uniques && len(all) < lines; i++ {
		first := form(set, i, i)
		all = append(all, first)
		if len(all) < lines {
			all = append(all, form(set, i, i+1))
		}
		if len(all) < lines {
			if i%2 == 0 {
				all = append(all, first)
			} else {
				all = append(all, form(set, i, i+3))
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
	if err := writeLines(path, all); err != nil {
		return nil, err
	}
	return &dataSet{path: path, lines: len(all), uniques: uniques}, nil
}

// writeUniques writes n lines, each a different image, in the forms users hold, and returns the
// canonical keys when withKeys is set.
func writeUniques(path, set string, n int, withKeys bool) (*dataSet, error) {
	all := make([]string, n)
	var keys []string
	if withKeys {
		keys = make([]string, n)
	}
	for i := range all {
		all[i] = form(set, i, i)
		if withKeys {
			keys[i] = imageKey(set, i)
		}
	}
	if err := writeLines(path, all); err != nil {
		return nil, err
	}
	return &dataSet{path: path, lines: n, uniques: n, keys: keys}, nil
}

func writeLines(path string, lines []string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write input file: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write input file: %w", err)
	}
	return f.Close()
}

// readLines reads a file written by writeLines.
func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}
