package hostkey

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
)

// Host matching as OpenSSH's ssh(1) does it (hostfile.c, match.c).
//
// ssh looks a host up under one name: the host name, lowercased, for port
// 22, else "[name]:port". Each known_hosts line's host field is matched
// against that whole string: either a hashed name ("|1|salt|hash", the
// HMAC-SHA1 of the string under the salt) or a comma-separated list of
// patterns, compared case-insensitively, where "*" matches any run of
// characters, "?" any one, and a pattern after "!" that matches makes the
// whole line not match. So "web*" matches "web1" but not "[web1]:2222",
// and "[web1]:*" matches web1 on every port but 22.

// lookupName returns the name ssh(1) looks name up by in known_hosts for
// port: name, lowercased, or "[name]:port" for a port other than 22.
func lookupName(name string, port int) string {
	name = lowerASCII(name)
	if port == 22 {
		return name
	}
	return "[" + name + "]:" + strconv.Itoa(port)
}

// matchHostField reports whether a known_hosts host field matches host, a
// lookup name as lookupName writes it.
func matchHostField(host, field string) bool {
	if strings.HasPrefix(field, "|") {
		return matchHashed(host, field)
	}
	return matchPatternList(lowerASCII(host), field) == 1
}

// maxSubpattern is the longest pattern OpenSSH's match_pattern_list
// considers; a list with a longer one matches nothing.
const maxSubpattern = 1022

// matchPatternList matches s against a comma-separated list of patterns,
// lowercased, as OpenSSH's match_pattern_list: 1 if a pattern matches and no
// negated one does, -1 if a negated one does, 0 otherwise.
func matchPatternList(s, list string) int {
	positive := false
	for i := 0; i < len(list); {
		negated := list[i] == '!'
		if negated {
			i++
		}
		j := strings.IndexByte(list[i:], ',')
		if j < 0 {
			j = len(list) - i
		}
		sub := list[i : i+j]
		i += j + 1
		if len(sub) > maxSubpattern {
			return 0
		}
		if matchPattern(s, lowerASCII(sub)) {
			if negated {
				return -1
			}
			positive = true
		}
	}
	if positive {
		return 1
	}
	return 0
}

// matchPattern reports whether the whole of s matches pattern p, where "*"
// matches any run of bytes and "?" any one byte.
func matchPattern(s, p string) bool {
	star, mark := -1, 0 // the last "*" in p, and where in s it started matching
	i, j := 0, 0
	for i < len(s) {
		switch {
		case j < len(p) && (p[j] == '?' || p[j] == s[i]):
			i++
			j++
		case j < len(p) && p[j] == '*':
			star, mark = j, i
			j++
		case star >= 0:
			mark++
			i, j = mark, star+1
		default:
			return false
		}
	}
	for j < len(p) && p[j] == '*' {
		j++
	}
	return j == len(p)
}

// hashSaltLen is the salt length of hashed names: that of an HMAC-SHA1.
const hashSaltLen = sha1.Size

// matchHashed reports whether a hashed host field "|1|salt|hash" is host.
func matchHashed(host, field string) bool {
	rest, ok := strings.CutPrefix(field, "|1|")
	if !ok {
		return false
	}
	encSalt, encHash, ok := strings.Cut(rest, "|")
	if !ok || len(encSalt) != 28 || len(encHash) != 28 { // 20 bytes each, in base64
		return false
	}
	var salt, want [hashSaltLen + 1]byte // base64 of 20 bytes decodes to 21 at most
	n1, err1 := base64.StdEncoding.Decode(salt[:], []byte(encSalt))
	n2, err2 := base64.StdEncoding.Decode(want[:], []byte(encHash))
	if err1 != nil || err2 != nil || n1 != hashSaltLen || n2 != sha1.Size {
		return false
	}
	mac := hmac.New(sha1.New, salt[:n1])
	mac.Write([]byte(host))
	var sum [sha1.Size]byte
	return hmac.Equal(mac.Sum(sum[:0]), want[:n2])
}

// hashSalt returns the salt of a hashed host field, and whether it is
// one: "|1|" then a salt of 20 bytes in base64, "|" and a hash.
func hashSalt(field string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(field, "|1|")
	if !ok {
		return nil, false
	}
	enc, _, ok := strings.Cut(rest, "|")
	if !ok {
		return nil, false
	}
	salt, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(salt) != hashSaltLen {
		return nil, false
	}
	return salt, true
}

// lowerASCII lowercases the ASCII letters of s, as OpenSSH's tolower in
// the C locale.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for k := i; k < len(b); k++ {
				if 'A' <= b[k] && b[k] <= 'Z' {
					b[k] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// literalNames returns the names a host field is found by when every
// pattern in it is a plain name (no "*", "?" or "!", not hashed): its
// patterns, lowercased. Such a line matches a lookup name exactly when
// the name is one of them, so it can be indexed by name.
func literalNames(field string) ([]string, bool) {
	if strings.HasPrefix(field, "|") || strings.ContainsAny(field, "*?!") {
		return nil, false
	}
	var names []string
	for _, p := range strings.Split(field, ",") {
		if len(p) > maxSubpattern {
			return nil, false
		}
		p = lowerASCII(p)
		if !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	return names, true
}
