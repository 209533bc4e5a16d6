package enqueuecmd_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
)

// run runs the enqueue command with no environment (nothing here gets as far as Redis) and
// returns its exit status and output, the error printed as Main prints it.
func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	err := enqueuecmd.Run(context.Background(), args, nil, strings.NewReader(""), &out, &errb)
	if err != nil && err.Error() != "" {
		errb.WriteString("enqueue: " + err.Error() + "\n")
	}
	return enqueuecmd.ExitCode(err), out.String(), errb.String()
}

// flagLine is a flag of a help's flag list: its dashes, name and value name.
var flagLine = regexp.MustCompile(`(?m)^  (-+)([a-z][a-z-]*)( [A-Z]+)?$`)

// TestHelpSpellsFlagsAsTheUsage: every help (enqueue, status, dlq, dlq ls) lists each flag as the
// usage writes it: one dash for a one-letter flag (-f FILE), two for the others (--all), and the
// value names of the usage (--confirm TOKEN, --reason TEXT, --queue Q, --limit N). enqueue dlq
// --help is the dlq usage, exit 0.
func TestHelpSpellsFlagsAsTheUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"  enqueue [flags] -f FILE ", "\n  -f FILE\n", "\n  --all\n", "\n  --confirm TOKEN\n", "\n  --reason TEXT\n", "\n  --source TEXT\n"}},
		{[]string{"status", "--help"}, []string{"usage: enqueue status [--json] [--account NAME] [URL...]", "\n  --json\n"}},
		{[]string{"dlq", "--help"}, []string{"usage:\n  enqueue dlq ls [--queue Q] [--limit N] [--json]\n", "\n  --queue Q\n", "\n  --limit N\n", "\n  --confirm TOKEN\n"}},
		{[]string{"dlq", "-h"}, []string{"usage:\n  enqueue dlq ls "}},
		{[]string{"dlq", "ls", "--help"}, []string{"usage:\n  enqueue dlq ls ", "\n  --yes\n"}},
		{[]string{"webhooks", "--help"}, []string{"usage:\n  enqueue webhooks ls [--limit N] [--json]\n", "\n  --limit N\n", "\n  --json\n"}},
	} {
		code, out, stderr := run(c.args...)
		if code != 0 || stderr != "" {
			t.Errorf("enqueue %q: exit %d, stderr %q: want the usage on stdout, exit 0", c.args, code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("enqueue %q does not show %q:\n%s", c.args, w, out)
			}
		}
		flags := flagLine.FindAllStringSubmatch(out, -1)
		if len(flags) == 0 {
			t.Errorf("enqueue %q lists no flags:\n%s", c.args, out)
		}
		for _, f := range flags {
			if want := min(len(f[2]), 2); len(f[1]) != want {
				t.Errorf("enqueue %q lists %q with %d dashes, want %d (as the usage spells it)", c.args, f[0], len(f[1]), want)
			}
		}
	}
}

// TestFlagErrorsSpellFlagsAsTheUsage: a flag error names the flag as the usage does (--limit,
// -f), in one line that points at --help, exit 2.
func TestFlagErrorsSpellFlagsAsTheUsage(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    string
		notWant string
	}{
		{[]string{"--bogus"}, "flag provided but not defined: --bogus", " -bogus"},
		{[]string{"-bogus"}, "flag provided but not defined: --bogus", " -bogus"},
		{[]string{"-f"}, "flag needs an argument: -f ", "--f"},
		{[]string{"dlq", "ls", "--limit", "x"}, `invalid value "x" for flag --limit: `, " -limit"},
		{[]string{"dlq", "rm", "--nope"}, "flag provided but not defined: --nope", " -nope"},
		{[]string{"webhooks", "ls", "--limit", "x"}, `invalid value "x" for flag --limit: `, " -limit"},
		{[]string{"status", "--json=maybe"}, `invalid boolean value "maybe" for --json: `, " -json"},
	} {
		code, out, stderr := run(c.args...)
		if code != 2 || out != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) ||
			strings.Contains(stderr, c.notWant) || !strings.Contains(stderr, "enqueue --help") {
			t.Errorf("enqueue %q: exit %d, stdout %q, stderr %q: want exit 2 and one line with %q", c.args, code, out, stderr, c.want)
		}
	}
}
