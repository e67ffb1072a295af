package hostlist

import (
	"strings"
	"testing"
)

// FuzzExpand checks that Expand never panics, that its errors are one
// line, and that every host it returns (without brackets) expands to
// itself.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"web[01-20].example.com", "10.0.[1-3].[1-254]", "web[1,3,7-9]",
		"deploy@web[1-3]:2222", "[::1]:2222", "[fe80::1]", "web[3-1]", "a[",
		"a]", "[]", "[1,,2]", "x[1,11][1,11]", "n[099-101]", "web*", "[1-2-3]",
		"n[999999999999999999]", "a[1-9][1-9][1-9]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		hosts, err := ExpandLimit(p, 10000)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("Expand(%q): error not one line: %q", p, err)
			}
			return
		}
		if len(hosts) == 0 {
			t.Fatalf("Expand(%q): no hosts and no error", p)
		}
		seen := map[string]bool{}
		for _, h := range hosts {
			if seen[h] {
				t.Fatalf("Expand(%q): duplicate %q", p, h)
			}
			seen[h] = true
			if strings.ContainsAny(h, "[]") {
				continue
			}
			again, err := Expand(h)
			if err != nil || len(again) != 1 || again[0] != h {
				t.Fatalf("Expand(%q) gave %q, which expands to %q, %v", p, h, again, err)
			}
		}
		// Fold must round-trip whatever Expand produced.
		if len(hosts) <= 2000 {
			checkRoundTrip(t, hosts, Fold(hosts))
		}
	})
}

// FuzzFoldRoundTrip builds a small host set from the input and checks
// that expanding Fold's result gives the same set.
func FuzzFoldRoundTrip(f *testing.F) {
	f.Add([]byte("web01 web02 web03 web05 db1"))
	f.Add([]byte("10.0.1.1 10.0.1.2 10.0.2.1 10.0.2.2"))
	f.Add([]byte("n9 n09 n10 n010 n0 n00"))
	f.Add([]byte("a1b2 a1b3 a2b2 a2b3 a3b2"))
	f.Add([]byte("u@h1:22 u@h2:22 fe80::1 fe80::2"))
	f.Add([]byte{0x31, 0x09, 0x30, 0x31, 0x09, 0x32})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Hosts are the input's space-separated words, reduced to
		// characters a host name may hold.
		var hosts []string
		for _, w := range strings.Fields(string(data)) {
			w = strings.Map(func(r rune) rune {
				switch {
				case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '@', r == ':', r == '_':
					return r
				}
				return -1
			}, w)
			if w != "" {
				hosts = append(hosts, w)
			}
			if len(hosts) == 200 {
				break
			}
		}
		folded := Fold(hosts)
		checkRoundTrip(t, hosts, folded)
		// Fold is independent of the input order.
		rev := make([]string, len(hosts))
		for i, h := range hosts {
			rev[len(hosts)-1-i] = h
		}
		if again := Fold(rev); again != folded {
			t.Fatalf("Fold depends on order: %q vs %q for %q", folded, again, hosts)
		}
	})
}
