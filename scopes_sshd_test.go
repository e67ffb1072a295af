package loom_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

// TestSSHDScopesWholeOrNone: a scope (Cd, Env, Prefix) applies to the whole
// command or none of it, against a real sshd and the login shell.
func TestSSHDScopesWholeOrNone(t *testing.T) {
	s, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")
	dir := c.Run("mktemp", "-d").Text() // the login user's own directory
	if c.Err() != nil || !strings.HasPrefix(dir, "/") {
		t.Fatalf("mktemp -d: %q %v", dir, c.Err())
	}
	defer c.Run("rm", "-rf", dir)
	missing := c.Cd("/nonexistent-loom-dir")
	refused := []struct {
		name string
		c    *loom.Conn
		cmd  string
	}{
		{"cd then a list", missing, "echo a; echo b in $(pwd)"},
		{"failing prefix then a list", c.Prefix("false"), "echo one; echo two"},
		{"cd then ||", missing, "echo make || echo rm -rf build"},
		{"cd then a multi-line script", missing, "echo one\necho two"},
		{"cd then a background job", missing, "echo bg & wait"},
	}
	for _, tc := range refused {
		r := tc.c.Shell(tc.cmd)
		if r.Err == nil || r.Stdout != "" {
			t.Errorf("%s: ran part of the command outside its scope: stdout %q, err %v", tc.name, r.Stdout, r.Err)
		}
		c.ResetErr()
	}

	app := c.Cd(dir).Env("A", "1 2")
	for _, tc := range []struct {
		name, script, want string
		code               int
	}{
		{"list in scope", "echo a; echo \"$A in $PWD\"", "a\n1 2 in " + dir + "\n", 0},
		{"here-document last", "cat <<EOF\n$A\nEOF", "1 2\n", 0},
		{"set -e stops the script", "set -e\necho one\nfalse\necho two", "one\n", 1},
		{"trap on exit", "trap 'echo bye' EXIT\necho hi", "hi\nbye\n", 0},
		{"exec", "exec printf '%s' \"$PWD\"", dir, 0},
		{"exit", "echo x; exit 3; echo y", "x\n", 3},
		{"trailing comment", "echo $A # a comment", "1 2\n", 0},
	} {
		r := app.Warn().Shell(tc.script)
		if r.Stdout != tc.want || r.ExitCode != tc.code {
			t.Errorf("%s: got %q exit %d (err %v), want %q exit %d", tc.name, r.Stdout, r.ExitCode, r.Err, tc.want, tc.code)
		}
	}

	// A prefix with a trailing comment does not swallow the command.
	if got := c.Prefix("export P=set # why").Shell("echo $P").Text(); got != "set" {
		t.Errorf("prefix with a comment: got %q", got)
	}
	// Cd("-X") is the directory -X relative to home, not an option of cd.
	name := c.Run("mktemp", "-d", "./-P.XXXXXX").Text()
	if !strings.HasPrefix(name, "./-P.") {
		t.Fatalf("mktemp: %q %v", name, c.Err())
	}
	defer c.Run("rm", "-rf", "--", name)
	if got := c.Cd(name[2:]).Run("pwd").Text(); !strings.HasSuffix(got, "/"+name[2:]) {
		t.Errorf("Cd(%q) ran in %q", name[2:], got)
	}

	c.ResetErr()
	// A NUL byte is an error for that operation; the connection stays up.
	r := c.Run("echo", "a\x00b")
	if r.Err == nil || !strings.Contains(r.Err.Error(), "NUL") {
		t.Fatalf("NUL in an argument: %v", r.Err)
	}
	c.ResetErr()
	if r := c.Run("echo", "ok"); r.Text() != "ok" || r.Err != nil {
		t.Fatalf("after a NUL error the Conn does not work: %+v", r)
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("%d connections, want 1: the NUL dropped the connection", n)
	}

	// A leading ~ in a Run argument is home, as for Cd, Put and Sync.
	home := c.Shell("echo $HOME").Text()
	if got := c.Run("echo", "~", "~/x y", "a~b", "~nobody").Text(); got != home+" "+home+"/x y a~b ~nobody" {
		t.Errorf("Run with ~: %q (home %q)", got, home)
	}
	if got := c.Cd("~").Run("pwd").Text(); got != home {
		t.Errorf("Cd(~): %q", got)
	}

	// As applies to sudo only: Run under As is an error, not a silent run
	// as the login user.
	r = c.As("root").Run("id", "-un")
	if r.Err == nil || r.Stdout != "" || !strings.Contains(r.Err.Error(), "As(") {
		t.Fatalf("Run under As: %q %v", r.Stdout, r.Err)
	}
}

func TestSSHDSudoScopesWholeOrNone(t *testing.T) {
	if ok, why := sshdtest.CanSudo(); !ok {
		t.Skip(why)
	}
	s, d := target(t, sshdtest.Options{Password: true})
	d.SudoPassword = loom.NewSecret(s.Password)
	c := dial(t, d, "target").Timeout(30 * time.Second)
	r := c.Cd("/nonexistent-loom-dir").SudoShell("echo a; echo b")
	if r.Err == nil || r.Stdout != "" {
		t.Fatalf("sudo: ran outside the scope: %q %v", r.Stdout, r.Err)
	}
	var ee *loom.ExitError
	if !errors.As(r.Err, &ee) {
		t.Fatalf("sudo with a missing dir: %v, want an exit error", r.Err)
	}
	c.ResetErr()
	r = c.Prefix("false").SudoShell("echo one; echo two")
	if r.Err == nil || r.Stdout != "" {
		t.Fatalf("sudo: ran after a failed prefix: %q %v", r.Stdout, r.Err)
	}
	c.ResetErr()
	if got := c.Cd("/tmp").SudoShell("echo a; pwd").Stdout; got != "a\n/tmp\n" {
		t.Fatalf("sudo list in scope: %q", got)
	}
}

// TestSSHDSudoPromptOnlyBeforeMarker: once the command under sudo runs, text
// that looks like sudo's prompt is its output, not a reason to send the
// password (a command that prints sudo's command line, ps say, must not get
// the password on its stdin).
func TestSSHDSudoPromptOnlyBeforeMarker(t *testing.T) {
	if ok, why := sshdtest.CanSudo(); !ok {
		t.Skip(why)
	}
	s, d := target(t, sshdtest.Options{Password: true})
	d.SudoPassword = loom.NewSecret(s.Password)
	c := dial(t, d, "target").Timeout(30 * time.Second)
	// sudo's own command line holds the prompt and the marker; print it on
	// both streams, then see what arrives on stdin.
	// (A pty gives no EOF when stdin closes: there the read waits 3 s for
	// a password that must not come.)
	script := `args=$(tr '\0' ' ' < /proc/$PPID/cmdline); echo "$args"; echo "$args" >&2; x=$(timeout 3 head -n 1); echo "read:$x"`
	for _, pty := range []bool{false, true} {
		cc := c
		if pty {
			cc = c.Pty()
		}
		r := cc.SudoShell(script)
		out := r.Stdout + r.Stderr
		if r.Err != nil || !strings.Contains(r.Stdout, "read:") {
			t.Fatalf("pty %v: %v\nstdout %q\nstderr %q", pty, r.Err, r.Stdout, r.Stderr)
		}
		if strings.Contains(out, s.Password) || strings.Contains(out, "[redacted]") {
			t.Fatalf("pty %v: the command got the password: %q", pty, out)
		}
		if !strings.Contains(r.Stdout, "[loom-sudo-") || !pty && !strings.Contains(r.Stderr, "[loom-sudo-ok-") {
			t.Fatalf("pty %v: sudo's command line is output after the marker and must be shown: %q / %q", pty, r.Stdout, r.Stderr)
		}
	}
}
