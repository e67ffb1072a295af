package hostlist

import (
	"fmt"
	"path"
	"strings"
)

// Exclude returns hosts without every host matched by one of excludes, in
// the original order (hosts is not modified).
//
// Each exclude is a comma-separated list (see Split) of patterns. A pattern
// is expanded as by Expand; an expanded name holding '*' or '?' is a glob
// matched with path.Match semantics against the whole name ('*' any run of
// characters, '?' one character; brackets are never character classes here,
// they are ranges: "web[1-3]*" is the globs web1* web2* web3*). Any other
// name must be equal.
//
// An exclude is compared with the host as given and with its bare host
// part, without "user@" and ":port": "-x web2" removes "deploy@web2:2222".
// To remove only one user or port, write the host in full.
func Exclude(hosts []string, excludes []string) ([]string, error) {
	exact := map[string]struct{}{}
	var globs []string
	for _, ex := range excludes {
		for _, p := range Split(ex) {
			if err := NotAGroup(p); err != nil {
				return nil, err
			}
			names, err := Expand(p)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				if !strings.ContainsAny(n, "*?") {
					exact[n] = struct{}{}
					continue
				}
				g := escapeGlob(n)
				if _, err := path.Match(g, ""); err != nil {
					return nil, fmt.Errorf("exclude pattern %q: %v", p, err)
				}
				globs = append(globs, g)
			}
		}
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if !excluded(h, exact, globs) {
			out = append(out, h)
		}
	}
	return out, nil
}

func excluded(h string, exact map[string]struct{}, globs []string) bool {
	bare := hostPart(h)
	if _, ok := exact[h]; ok {
		return true
	}
	if _, ok := exact[bare]; ok {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, h); ok {
			return true
		}
		if bare != h {
			if ok, _ := path.Match(g, bare); ok {
				return true
			}
		}
	}
	return false
}

// escapeGlob makes '[', ']' and '\' literal for path.Match, leaving '*'
// and '?' as wildcards.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hostPart strips "user@" and ":port" from a target: "u@h:22" → "h",
// "[::1]:22" → "::1". A bare IPv6 address (several ':') is returned whole.
func hostPart(t string) string {
	if i := strings.LastIndexByte(t, '@'); i >= 0 {
		t = t[i+1:]
	}
	if strings.HasPrefix(t, "[") {
		if end := strings.IndexByte(t, ']'); end > 0 {
			return t[1:end]
		}
		return t
	}
	if strings.Count(t, ":") == 1 {
		return t[:strings.IndexByte(t, ':')]
	}
	return t
}
