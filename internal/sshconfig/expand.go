package sshconfig

import (
	"fmt"
	"os"
	"os/user"
	"strings"
	"sync"
	"unicode/utf8"
)

// lookupHome returns the home directory of a named user, for "~user".
// Tests replace it.
var lookupHome = func(name string) (string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", err
	}
	return u.HomeDir, nil
}

// currentUser is looked up once per process.
var currentUser = sync.OnceValues(user.Current)

// currentHome returns the current user's home directory: the password
// database entry, as ssh(1) uses, else $HOME.
func currentHome() string {
	if u, err := currentUser(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	h, _ := os.UserHomeDir()
	return h
}

// expandTilde replaces a leading "~" or "~/" with home and "~name/" with
// that user's home directory. Other paths are returned unchanged.
func expandTilde(p, home string, lookup func(string) (string, error)) (string, error) {
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	name, tail, slash := strings.Cut(p[1:], "/")
	dir := home
	if name != "" {
		d, err := lookup(name)
		if err != nil || d == "" {
			return "", fmt.Errorf("unknown user %q in %q", name, p)
		}
		dir = d
	}
	if !slash {
		return dir, nil
	}
	return strings.TrimSuffix(dir, "/") + "/" + tail, nil
}

// expandTokens replaces the %-tokens of s with their values from tokens
// ("%%" is a literal '%'); an unknown token is an error. When env is not
// nil, "${NAME}" is replaced with that environment variable, and an unset
// variable is an error. The result is not scanned again.
func expandTokens(s string, tokens map[byte]string, env func(string) (string, bool)) (string, error) {
	if !strings.ContainsAny(s, "%$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+1 >= len(s) {
				return "", fmt.Errorf("%q ends with a lone '%%'", s)
			}
			i++
			t := s[i]
			if t == '%' {
				b.WriteByte('%')
				continue
			}
			v, ok := tokens[t]
			if !ok {
				r, size := utf8.DecodeRuneInString(s[i:])
				i += size - 1
				return "", fmt.Errorf("unknown token %%%c in %q", r, s)
			}
			b.WriteString(v)
		case c == '$' && env != nil && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q in %q", name, s)
			}
			v, ok := env(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set (in %q)", name, s)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
