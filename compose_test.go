package loom

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/shellcmd"
	"github.com/loomssh/loom/internal/shquote"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// composeCase is one operation in one scope: the exact remote command line
// Loom sends for it is kept in testdata/compose.golden.
type composeCase struct {
	name string
	full string
}

// composeCases builds the command line of every operation kind (Run of a
// program, Run of a builtin, Shell, multi-line Shell, Sudo, SudoShell) in
// every combination of the Cd, Env, Prefix and As scopes.
func composeCases() []composeCase {
	scopes := []struct {
		name string
		f    func(*Conn) *Conn
	}{
		{"none", func(c *Conn) *Conn { return c }},
		{"cd", func(c *Conn) *Conn { return c.Cd("/srv/my app") }},
		{"cd-relative", func(c *Conn) *Conn { return c.Cd("releases").Cd("v1") }},
		{"cd-dash", func(c *Conn) *Conn { return c.Cd("-P") }},
		{"cd-home", func(c *Conn) *Conn { return c.Cd("~/app's dir") }},
		{"env", func(c *Conn) *Conn { return c.Env("A", "1 2").Env("B", "$HOME") }},
		{"prefix", func(c *Conn) *Conn { return c.Prefix("source venv/bin/activate # the venv") }},
		{"prefix-list", func(c *Conn) *Conn { return c.Prefix("false; true").Prefix("test -d x || mkdir x") }},
		{"cd-env", func(c *Conn) *Conn { return c.Cd("/srv").Env("A", "1") }},
		{"cd-prefix", func(c *Conn) *Conn { return c.Cd("/srv").Prefix("umask 027") }},
		{"env-prefix", func(c *Conn) *Conn { return c.Env("A", "1").Prefix("umask 027") }},
		{"cd-env-prefix", func(c *Conn) *Conn { return c.Cd("/srv").Env("A", "1").Prefix("umask 027") }},
		{"as", func(c *Conn) *Conn { return c.As("postgres") }},
		{"as-cd-env-prefix", func(c *Conn) *Conn { return c.As("app").Cd("/srv").Env("A", "1").Prefix("umask 027") }},
	}
	ops := []struct {
		name   string
		cmd    string
		simple bool
		sudo   bool
	}{
		{"run", shquote.Join([]string{"ls", "-l", "a b"}), true, false},
		{"run-home", shellcmd.Join([]string{"ls", "~", "~/app dir", "a~b", "~user"}), true, false},
		{"run-builtin", shquote.Join([]string{"export", "X=1"}), false, false},
		{"shell", "echo a; echo b in $(pwd)", false, false},
		{"shell-or", "make || rm -rf build/*", false, false},
		{"shell-multiline", "set -e\ncat <<EOF\n$A\nEOF\ntrap 'echo bye' EXIT # last line", false, false},
		{"sudo", shquote.Join([]string{"systemctl", "restart", "app"}), true, true},
		{"sudoshell", "echo a; echo b", false, true},
	}
	var cases []composeCase
	for _, s := range scopes {
		for _, op := range ops {
			c := s.f(newConn("h", nil, nil, nil))
			var full string
			switch {
			case c.sc.user != "" && !op.sudo:
				continue // an error: As applies to sudo only
			case op.sudo:
				full = c.sc.sudoCommand(op.cmd, op.simple, "[loom-sudo-PROMPT]", "[loom-sudo-ok-MARKER]")
			default:
				full = c.sc.compose(op.cmd, op.simple)
			}
			cases = append(cases, composeCase{s.name + "/" + op.name, full})
		}
	}
	return cases
}

func TestComposeGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range composeCases() {
		fmt.Fprintf(&b, "=== %s\n%s\n", c.name, c.full)
	}
	golden := filepath.Join("testdata", "compose.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("composed commands differ from %s at line %d:\n got: %q\nwant: %q\n(run with -update if the change is meant)", golden, i+1, g, w)
			}
		}
	}
}

// TestComposeParses checks every composed command is valid shell for each
// POSIX shell on the machine (sh -n: parse, do not run).
func TestComposeParses(t *testing.T) {
	shells := 0
	for _, sh := range []string{"dash", "bash", "zsh", "mksh", "busybox"} {
		bin, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		shells++
		for _, c := range composeCases() {
			args := []string{"-n", "-c", c.full}
			if sh == "busybox" {
				args = append([]string{"sh"}, args...)
			}
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Errorf("%s: %s does not parse: %v\n%s\n%s", sh, c.name, err, out, c.full)
			}
		}
	}
	if shells == 0 {
		t.Skip("no POSIX shell found")
	}
}

func TestComposeGroupsScripts(t *testing.T) {
	// The defects this guards against, stated directly.
	c := newConn("h", nil, nil, nil)
	for _, tc := range []struct {
		c      *Conn
		script string
		want   string
	}{
		{c.Cd("/missing"), "echo a; echo b", "cd /missing && { echo a; echo b\n}"},
		{c.Prefix("false"), "echo one; echo two", "{ false\n} && { echo one; echo two\n}"},
		{c.Prefix("true # why"), "echo x", "{ true # why\n} && { echo x\n}"},
		{c.Cd("-P"), "pwd", "cd ./-P && { pwd\n}"},
		{c.Cd("-"), "pwd", "cd ./- && { pwd\n}"},
	} {
		if got := tc.c.sc.compose(tc.script, false); got != tc.want {
			t.Errorf("compose(%q) = %q, want %q", tc.script, got, tc.want)
		}
	}
}
