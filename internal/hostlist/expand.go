// Package hostlist expands, excludes and folds host patterns: the
// "web[01-20].example.com" ranges of pdsh and ClusterShell.
//
// A pattern is a host name in which bracket groups stand for numbers:
//
//	web[01-04]            web01 web02 web03 web04 (zero padding as in the lower bound)
//	web[1,3,7-9]          web1 web3 web7 web8 web9
//	10.0.[1-2].[1-3]      10.0.1.1 10.0.1.2 10.0.1.3 10.0.2.1 10.0.2.2 10.0.2.3
//	deploy@web[1-2]:2222  deploy@web1:2222 deploy@web2:2222
//	[::1]:2222            [::1]:2222 (brackets holding a ':' are an IPv6 literal)
//
// Several groups give the cartesian product, the last group varying
// fastest. Lists of patterns are separated by commas; a comma inside
// brackets belongs to the bracket group (see Split and ExpandAll). Fold is
// the inverse: it turns a host list back into the shortest patterns.
//
// Nothing here panics on bad input: malformed patterns are one-line errors
// naming the pattern. See docs/hosts.md for the user-facing description.
package hostlist

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// MaxHosts is the most hosts one pattern (Expand) or one call of ExpandAll
// may produce. It guards against typos such as "[1-10000000]" and against
// products of large ranges.
const MaxHosts = 1_000_000

// maxDigits bounds the numbers in a range so that they fit in an int64.
const maxDigits = 18

// seg is one piece of a parsed pattern: literal text, or a bracket group.
type seg struct {
	lit   string
	elems []rangeElem // nil for a literal
}

// rangeElem is "lo-hi" (or "n", with lo == hi) inside a bracket group.
type rangeElem struct {
	lo, hi int64
	width  int // zero padding; 0 = none
}

func (e rangeElem) size() int64 { return e.hi - e.lo + 1 }

// Expand expands one host pattern into host names, in order, without
// duplicates. Zero padding follows the lower bound of each range
// ("[08-10]" gives 08 09 10, "[8-10]" gives 8 9 10). Brackets whose content
// contains ':' are an IPv6 literal and are kept unchanged, as are any
// "user@" and ":port" parts around the host.
//
// It returns an error naming the pattern for: an empty pattern, unbalanced
// or nested brackets, an empty or non-numeric element ("[]", "[1,,2]",
// "[a-c]"), a reversed range ("[5-1]"), a number of more than 18 digits,
// whitespace or control characters, a ',' outside brackets (use ExpandAll
// for lists) and more than MaxHosts hosts.
func Expand(pattern string) ([]string, error) {
	return ExpandLimit(pattern, MaxHosts)
}

// ExpandLimit is Expand with a different cap: it fails when the pattern
// would produce more than limit hosts (limit < 1 is taken as 1).
func ExpandLimit(pattern string, limit int) ([]string, error) {
	if limit < 1 {
		limit = 1
	}
	segs, err := parse(pattern)
	if err != nil {
		return nil, err
	}
	// Count before generating anything.
	total := int64(1)
	groups := 0
	for _, s := range segs {
		if s.elems == nil {
			continue
		}
		groups++
		n := int64(0)
		for _, e := range s.elems {
			n += e.size()
			if n > int64(limit) {
				return nil, tooMany(pattern, limit)
			}
		}
		if total > int64(limit)/n {
			return nil, tooMany(pattern, limit)
		}
		total *= n
	}
	if groups == 0 {
		var b strings.Builder
		for _, s := range segs {
			b.WriteString(s.lit)
		}
		return []string{b.String()}, nil
	}

	// Each group's values as strings, without duplicates.
	vals := make([][]string, len(segs))
	for i, s := range segs {
		if s.elems == nil {
			vals[i] = []string{s.lit}
			continue
		}
		vals[i] = groupValues(s.elems)
	}
	out := make([]string, 0, total)
	idx := make([]int, len(segs))
	var b strings.Builder
	for {
		b.Reset()
		for i, v := range vals {
			b.WriteString(v[idx[i]])
		}
		out = append(out, b.String())
		// Odometer: the last group varies fastest.
		i := len(vals) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(vals[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			break
		}
	}
	if groups > 1 {
		// Adjacent groups can produce one name twice ("[1,11][1,11]").
		out = dedup(out)
	}
	return out, nil
}

// tooManyError reports a pattern over its cap.
type tooManyError struct {
	pattern string
	limit   int
}

func (e *tooManyError) Error() string {
	return fmt.Sprintf("host pattern %q expands to more than %d hosts", e.pattern, e.limit)
}

func tooMany(pattern string, limit int) error { return &tooManyError{pattern, limit} }

// groupValues lists the numbers of one bracket group, formatted, first
// occurrence kept.
func groupValues(elems []rangeElem) []string {
	var out []string
	var seen map[string]bool
	if len(elems) > 1 {
		seen = map[string]bool{}
	}
	for _, e := range elems {
		for n := e.lo; ; n++ {
			s := formatNum(n, e.width)
			if seen == nil || !seen[s] {
				if seen != nil {
					seen[s] = true
				}
				out = append(out, s)
			}
			if n == e.hi {
				break
			}
		}
	}
	return out
}

func dedup(in []string) []string {
	seen := make(map[string]struct{}, len(in))
	out := in[:0]
	for _, s := range in {
		if _, ok := seen[s]; ok {
			continue
		}
		seen[s] = struct{}{}
		out = append(out, s)
	}
	return out
}

// formatNum formats n zero-padded to width digits (no padding for width 0).
func formatNum(n int64, width int) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// parse splits a pattern into literal text and bracket groups.
func parse(p string) ([]seg, error) {
	if p == "" {
		return nil, fmt.Errorf("empty host pattern")
	}
	for _, r := range p {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return nil, fmt.Errorf("host pattern %q: invalid character %q", p, r)
		}
	}
	var segs []seg
	lit := 0 // start of the current literal
	flush := func(end int) {
		if end > lit {
			if n := len(segs); n > 0 && segs[n-1].elems == nil {
				segs[n-1].lit += p[lit:end]
			} else {
				segs = append(segs, seg{lit: p[lit:end]})
			}
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == ',':
			return nil, fmt.Errorf("host pattern %q: ',' outside brackets (a list of patterns, not one)", p)
		case c == ']':
			return nil, fmt.Errorf("host pattern %q: unbalanced ']'", p)
		case c == '[':
			end := -1
			for j := i + 1; j < len(p); j++ {
				if p[j] == ']' {
					end = j
					break
				}
				if p[j] == '[' {
					return nil, fmt.Errorf("host pattern %q: nested '['", p)
				}
			}
			if end < 0 {
				return nil, fmt.Errorf("host pattern %q: unbalanced '['", p)
			}
			body := p[i+1 : end]
			if strings.IndexByte(body, ':') >= 0 {
				// An IPv6 literal: keep "[...]" as text. Check
				// its characters like the rest of the pattern.
				if strings.IndexByte(body, ',') >= 0 {
					return nil, fmt.Errorf("host pattern %q: ',' in an IPv6 literal", p)
				}
				i = end
				continue
			}
			elems, err := parseGroup(body)
			if err != nil {
				return nil, fmt.Errorf("host pattern %q: %v", p, err)
			}
			flush(i)
			segs = append(segs, seg{elems: elems})
			i = end
			lit = end + 1
		}
	}
	flush(len(p))
	return segs, nil
}

// parseGroup parses the inside of brackets: "1-3,07,10-12".
func parseGroup(body string) ([]rangeElem, error) {
	if body == "" {
		return nil, fmt.Errorf("empty brackets \"[]\"")
	}
	var elems []rangeElem
	for _, part := range strings.Split(body, ",") {
		if part == "" {
			return nil, fmt.Errorf("empty element in \"[%s]\"", body)
		}
		loS, hiS, isRange := strings.Cut(part, "-")
		lo, err := parseNum(loS, part)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = parseNum(hiS, part); err != nil {
				return nil, err
			}
			if hi < lo {
				return nil, fmt.Errorf("reversed range %q", part)
			}
		}
		w := 0
		if len(loS) > 1 && loS[0] == '0' {
			w = len(loS)
		}
		elems = append(elems, rangeElem{lo: lo, hi: hi, width: w})
	}
	return elems, nil
}

func parseNum(s, part string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("incomplete range %q", part)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("non-numeric range element %q (brackets hold numbers: [1-3,7])", part)
		}
	}
	if len(s) > maxDigits {
		return 0, fmt.Errorf("number too large in %q", part)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("number too large in %q", part)
	}
	return n, nil
}

// Split splits a comma-separated list of patterns. Commas inside brackets
// belong to the bracket group ("web[1,3],db1" is two patterns). Items are
// trimmed of surrounding white space and empty items are dropped.
// Unbalanced brackets are not an error here; Expand reports them.
func Split(list string) []string {
	var out []string
	depth := 0
	start := 0
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	for i := 0; i < len(list); i++ {
		switch list[i] {
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				add(list[start:i])
				start = i + 1
			}
		}
	}
	add(list[start:])
	return out
}

// ExpandAll expands comma-separated lists of patterns (see Split) and
// returns the hosts in first-seen order without duplicates: "web[1-3],db1"
// gives web1 web2 web3 db1. An error names the offending pattern; more
// than MaxHosts hosts in all is an error too.
//
// The lists name hosts (-H), so two things that look like host sets in
// other tools and are no host name are errors rather than names no host
// has: ClusterShell's "@group" (see NotAGroup), and globs ("web*",
// "nova0??"), which name no hosts until matched against some list.
func ExpandAll(lists ...string) ([]string, error) {
	var out []string
	seen := map[string]struct{}{}
	for _, l := range lists {
		for _, p := range Split(l) {
			if err := NotAGroup(p); err != nil {
				return nil, err
			}
			if strings.ContainsAny(p, "*?") {
				return nil, fmt.Errorf("host pattern %q: '*' and '?' are globs, and a host list is not matched against anything: "+
					"name the hosts or a range (web[01-20]), select inventory roles with -R, or exclude with -x %q", p, p)
			}
			hs, err := Expand(p)
			if err != nil {
				return nil, err
			}
			for _, h := range hs {
				if _, ok := seen[h]; !ok {
					seen[h] = struct{}{}
					out = append(out, h)
				}
			}
			if len(out) > MaxHosts {
				return nil, fmt.Errorf("host list has more than %d hosts (at %q)", MaxHosts, p)
			}
		}
	}
	return out, nil
}

// NotAGroup returns an error for a pattern starting with '@', which no
// host name does: ClusterShell's "@group" syntax, which Loom does not have
// (an @FILE is read only when it stands alone as a flag's value).
func NotAGroup(pattern string) error {
	if strings.HasPrefix(pattern, "@") {
		return fmt.Errorf("host pattern %q: ClusterShell's @group is not supported: give a file of hosts alone as -H @FILE, or select inventory roles with -R", pattern)
	}
	return nil
}
