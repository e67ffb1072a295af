// Package shellcmd composes the command lines Loom sends to a host's shell:
// a command in its scope (cd, environment, prefixes), under sudo, with its
// arguments quoted. Every line it makes is in a golden test of the root
// package (testdata/compose.golden), parsed by every POSIX shell at hand.
//
// The rules: the scope's steps and the command are joined by && so that
// nothing runs after a step that failed; shell text and prefixes are
// grouped ({ TEXT<newline>}) so that a list, a multi-line script, a
// trailing comment or a here-document stays inside the scope; a brace group
// is no subshell, so exec, traps, exit and set -e act on the shell itself;
// a simple command (argv) is exec'd, so that signals reach it.
package shellcmd

import (
	"strings"

	"github.com/loomssh/loom/internal/shquote"
)

// Scope is what a command runs in.
type Scope struct {
	Dir      string      // cd here first ("" for none); a leading ~ is home
	Env      [][2]string // exported variables, name and value, in order
	Prefixes []string    // shell text that must succeed first, in order
	User     string      // sudo -u (Sudo only)
}

// Join quotes args for the shell, each one word, leaving a leading
// "~" or "~/" unquoted so that it means home (see loom.Conn.Run).
func Join(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = QuoteHome(a)
	}
	return strings.Join(q, " ")
}

// QuoteHome quotes a for the shell, leaving a leading ~ or ~/ for the
// shell to expand.
func QuoteHome(a string) string {
	switch {
	case a == "~":
		return "~"
	case strings.HasPrefix(a, "~/"):
		return "~/" + shquote.Quote(a[2:])
	}
	return shquote.Quote(a)
}

// Compose wraps cmd in the scope: cd, export, prefixes, then the command,
// joined by && so that nothing runs after a step that failed. Shell text and
// prefixes are grouped ({ TEXT<newline>}), so a list (`a; b`, `a || b`), a
// multi-line script, a trailing comment or a here-document in them stays
// inside the scope instead of escaping the && chain; a brace group is no
// subshell, so exec, traps, exit and set -e in it act on the shell itself.
// A simple command (Run's argv) is exec'd, so that signals reach it.
func (s Scope) Compose(cmd string, simple bool, first ...string) string {
	parts := append(first, s.Steps()...)
	if len(parts) == 0 {
		return cmd
	}
	if simple {
		cmd = "exec " + cmd
	} else {
		cmd = Group(cmd)
	}
	return strings.Join(append(parts, cmd), " && ")
}

// Steps are the scope's commands that must succeed before the command runs.
func (s Scope) Steps() []string {
	var parts []string
	if s.Dir != "" {
		parts = append(parts, "cd "+QuoteDir(s.Dir))
	}
	if len(s.Env) > 0 {
		var b strings.Builder
		b.WriteString("export")
		for _, e := range s.Env {
			b.WriteString(" " + e[0] + "=" + shquote.Quote(e[1]))
		}
		parts = append(parts, b.String())
	}
	for _, p := range s.Prefixes {
		parts = append(parts, Group(p))
	}
	return parts
}

// Group makes shell text one command of an && list: `{ TEXT<newline>}`. The
// newline ends a trailing comment or here-document before the brace.
func Group(text string) string { return "{ " + text + "\n}" }

// QuoteDir quotes a directory for cd, leaving a leading ~ for the shell to
// expand. A relative directory is written ./DIR, so that a name starting
// with - is not an option (Cd("-P") is the directory -P, not cd's -P, and
// Cd("-") is not $OLDPWD) and $CDPATH cannot send cd elsewhere.
func QuoteDir(dir string) string {
	switch {
	case dir == "~" || strings.HasPrefix(dir, "~/"):
		return QuoteHome(dir)
	case strings.HasPrefix(dir, "/"):
		return shquote.Quote(dir)
	}
	return shquote.Quote("./" + dir)
}

// Sudo is the command line of Sudo and SudoShell: sudo reads the
// password on stdin and asks with prompt, then /bin/sh prints marker on
// stderr (so Loom knows sudo is done with stdin) and runs cmd in the scope.
func (s Scope) Sudo(cmd string, simple bool, prompt, marker string) string {
	argv := []string{"sudo", "-S", "-p", prompt}
	if s.User != "" {
		argv = append(argv, "-u", s.User)
	}
	argv = append(argv, "-H", "--", "/bin/sh", "-c", s.Compose(cmd, simple, "echo '"+marker+"' >&2"))
	return shquote.Join(argv)
}
