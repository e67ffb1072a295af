package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagMistakesAreOneLine: every mistake in the flags is at most two
// lines on stderr naming the flag, with a did-you-mean or the expected
// form and "see loom -h", exit 2, nothing on stdout and nothing run.
func TestFlagMistakesAreOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--gahter", "-H", "h1", "--", "true"}, "unknown flag --gahter (did you mean --gather?)"},
		{[]string{"-gahter", "-H", "h1", "--", "true"}, "did you mean --gather?"},
		{[]string{"--dry", "-H", "h1", "--", "true"}, "did you mean --dry-run?"},
		{[]string{"--max-fial", "2", "-H", "h1", "--", "true"}, "did you mean --max-fail?"},
		{[]string{"-q", "-H", "h1", "--", "true"}, "unknown flag -q"},
		{[]string{"-w", "h1", "--", "true"}, "did you mean -H (pdsh's -w)?"},
		{[]string{"-P", "abc", "-H", "h1", "--", "true"}, "-P abc: want a whole number, e.g. -P 50"},
		{[]string{"--timeout", "5", "-H", "h1", "--", "true"}, "--timeout 5: needs a unit, e.g. 5s"},
		{[]string{"--timeout=5", "-H", "h1", "--", "true"}, "needs a unit, e.g. 5s"},
		{[]string{"-H", "h1", "--connect-timeout"}, "--connect-timeout needs a value"},
		{[]string{"-H", "--", "true"}, "-H needs a value"},
		{[]string{"-Aq", "-H", "h1", "--", "true"}, "unknown flag -q (in -Aq)"},
		{[]string{"-l", "deploy", "-H", "h1", "--", "true"}, "use -u USER"},
		{[]string{"--json=maybe", "-H", "h1", "--", "true"}, "want true or false"},
		{[]string{"--batch", "x", "-H", "h1", "--", "true"}, "--batch x:"},
	} {
		code, out, errs := run(tc.args...)
		if code != ExitUsage || out != "" {
			t.Errorf("%q: exit %d stdout %q; want 2 and nothing", tc.args, code, out)
		}
		if n := strings.Count(errs, "\n"); n < 1 || n > 2 || !strings.Contains(errs, tc.want) || !strings.HasPrefix(errs, "loom: ") {
			t.Errorf("%q: want at most 2 lines with %q, got %q", tc.args, tc.want, errs)
		}
		if strings.HasPrefix(tc.args[0], "-") && !strings.Contains(tc.want, "-u USER") && !strings.Contains(errs, "see loom -h") {
			t.Errorf("%q: no pointer to loom -h: %q", tc.args, errs)
		}
	}
}

// TestHelpOnStdout: -h, --help and help print the help on stdout (loom -h
// | less works), with every flag in it, and exit 0.
func TestHelpOnStdout(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"-F", "x", "help"}} {
		code, out, errs := run(args...)
		if code != ExitOK || errs != "" || !strings.Contains(out, "Usage:") || !strings.Contains(out, "loom init") {
			t.Fatalf("%q: exit %d stderr %q stdout %.80q", args, code, errs, out)
		}
		_, table, _ := parseFlags(nil, &bytes.Buffer{})
		table.fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(out, "  "+spell(f.Name)) {
				t.Errorf("%q: the help does not show %s", args, spell(f.Name))
			}
		})
	}
}

// TestEveryFlagInOneHelpSection: a new flag cannot be left out of loom -h.
func TestEveryFlagInOneHelpSection(t *testing.T) {
	_, table, _ := parseFlags(nil, &bytes.Buffer{})
	seen := map[string]int{}
	for _, s := range helpSections {
		for _, n := range s.names {
			seen[n]++
			if table.fs.Lookup(n) == nil {
				t.Errorf("section %s names %s, which is not a flag", s.title, n)
			}
		}
	}
	table.fs.VisitAll(func(f *flag.Flag) {
		if seen[f.Name] != 1 {
			t.Errorf("flag %s is in %d help sections, want 1", f.Name, seen[f.Name])
		}
	})
}

// TestCompiledHelp: a compiled loomfile's help says its own name and
// leaves out init, demo and --compile.
func TestCompiledHelp(t *testing.T) {
	_, table, _ := parseFlags(nil, &bytes.Buffer{})
	var b bytes.Buffer
	table.usage(&b, "deployer", true)
	out := b.String()
	if !strings.Contains(out, "deployer [flags] -H HOSTS") || strings.Contains(out, "loom ") || strings.Contains(out, " init") || strings.Contains(out, " demo") || strings.Contains(out, "--compile") {
		t.Fatalf("compiled help:\n%s", out)
	}
}

// TestFlagForms: combined one-letter flags, joined values, long
// spellings, and Go's single-dash long flags all parse the same way.
func TestFlagForms(t *testing.T) {
	for _, args := range [][]string{
		{"-At", "-H", "h1,h2", "-P", "5", "--batch", "2", "--", "x"},
		{"-tA", "-Hh1,h2", "-P5", "-batch", "2", "--", "x"},
		{"--forward-agent", "--tty", "--hosts=h1,h2", "--parallel", "5", "--batch=2", "--", "x"},
		{"-tAHh1,h2", "-P=5", "--batch", "2", "--", "x"},
	} {
		o, _, err := parseFlags(args, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if !o.forwardAgent || !o.pty || strings.Join(o.hosts.vals, " ") != "h1 h2" || o.parallel != 5 || o.batch.String() != "2" || !o.command || len(o.args) != 1 {
			t.Errorf("%q: parsed %+v", args, o)
		}
		if !o.set["P"] || !o.set["A"] || !o.set["batch"] {
			t.Errorf("%q: set %v", args, o.set)
		}
	}
}

// TestSubcommandAfterFlags: loom -F cfg put ... is put, not a task.
func TestSubcommandAfterFlags(t *testing.T) {
	cfg, _, servers := labServers(t, 1)
	src := filepath.Join(t.TempDir(), "f.txt")
	os.WriteFile(src, []byte("hi\n"), 0o644)
	dst := filepath.Join(servers[0].Dir(), "f.txt")
	if code, _, errs := run("-F", cfg, "put", "-H", "h1", src, dst); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "hi\n" {
		t.Fatalf("put: %q %v", b, err)
	}
}
