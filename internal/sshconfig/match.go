package sshconfig

import "strings"

// matchPattern reports whether s matches the OpenSSH pattern p, where '*'
// matches any run of characters and '?' exactly one; everything else
// matches itself. It runs in O(len(s)*len(p)) time at worst.
func matchPattern(s, p string) bool {
	si, pi := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			starP, starS = pi, si
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si++
			pi++
		case starP >= 0:
			// Let the last '*' swallow one more character.
			starS++
			si, pi = starS, starP+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchList reports whether s matches the comma-separated pattern list
// list: some pattern matches and no negated ("!pat") pattern does. A list
// of negated patterns alone never matches. With fold, the patterns are
// compared in lower case (s must already be lower case).
func matchList(s, list string, fold bool) bool {
	positive := false
	for _, p := range strings.Split(list, ",") {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if fold {
			p = strings.ToLower(p)
		}
		if matchPattern(s, p) {
			if neg {
				return false
			}
			positive = true
		}
	}
	return positive
}

// matchHost evaluates the patterns of a Host line against host: true when
// one pattern matches and no negated pattern does. Host patterns are
// single patterns (not comma lists) and are compared case-sensitively, as
// ssh(1) does.
func matchHost(host string, patterns []string) bool {
	positive := false
	for _, p := range patterns {
		if strings.HasPrefix(p, "!") {
			if matchPattern(host, p[1:]) {
				return false
			}
			continue
		}
		if matchPattern(host, p) {
			positive = true
		}
	}
	return positive
}
