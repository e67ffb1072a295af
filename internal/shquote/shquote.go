// Package shquote quotes strings for a POSIX shell (sh, dash, bash, ksh, zsh
// in sh mode).
//
// Remote commands given as an argument vector are turned into one command
// line with [Join], because sshd hands an exec request to the user's login
// shell as "$SHELL -c <line>". Quoting uses single quotes, the only quoting
// in which a POSIX shell expands nothing, and works byte by byte, so strings
// that are not valid UTF-8 survive unchanged. Go's %q and [strconv.Quote]
// must never be used for this: they produce double quotes, inside which the
// shell still expands $VAR, $(...) and backquotes.
//
// A NUL byte cannot be passed to a program in an argument, so strings that
// contain one cannot be represented; callers that accept untrusted input
// should reject NUL before quoting.
package shquote

import "strings"

// Quote returns s quoted so that a POSIX shell reads it back as exactly one
// word equal to s.
//
// A string made only of the characters A-Z a-z 0-9 _ @ % + = : , . / - is
// returned as it is, unless it would mean something else in the command
// position of a simple command: a reserved word such as "if" or "done", or a
// variable assignment such as "A=b", or, to zsh, a word starting with '='
// ("=ls" is the path of ls). Those, the empty string and every other
// string are put in single quotes, with each single quote inside written as
// close quote, backslash-escaped quote, open quote:
//
//	Quote("ls")     == "ls"
//	Quote("")       == `''`
//	Quote("a b")    == `'a b'`
//	Quote("it's")   == `'it'\''s'`
//	Quote("A=b")    == `'A=b'`
//
// A leading '-' is left bare: quoting does not stop the called program from
// reading the word as an option. Put "--" before untrusted arguments instead.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isBare(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2 + 3*strings.Count(s, "'"))
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b.WriteString(`'\''`)
			continue
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// Join quotes every element of args with [Quote] and joins them with single
// spaces, giving a command line that a POSIX shell splits back into exactly
// args. Join of an empty slice is the empty string.
func Join(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Quote(a))
	}
	return b.String()
}

// isBare reports whether s can be written without quotes.
func isBare(s string) bool {
	for i := 0; i < len(s); i++ {
		if !safe(s[i]) {
			return false
		}
	}
	// zsh (in its native mode, a common login shell) expands a word
	// starting with '=' to a command's path: "=ls", "==".
	return s[0] != '=' && !reserved[s] && !isAssignment(s)
}

// safe reports whether c never has a special meaning to a POSIX shell.
func safe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_@%+=:,./-", c) >= 0
}

// reserved holds the reserved words of POSIX sh and of bash, ksh and zsh that
// consist of safe characters only. Unquoted in command position they start a
// compound command instead of naming a program.
var reserved = map[string]bool{
	"case": true, "do": true, "done": true, "elif": true, "else": true,
	"esac": true, "fi": true, "for": true, "if": true, "in": true,
	"then": true, "until": true, "while": true,
	"function": true, "select": true, "time": true, "coproc": true,
	"foreach": true, "end": true, "repeat": true, "nocorrect": true,
}

// isAssignment reports whether s has the form NAME=..., which a shell reads
// as a variable assignment, not a command, in command position.
func isAssignment(s string) bool {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return false
	}
	for i := 0; i < eq; i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}
