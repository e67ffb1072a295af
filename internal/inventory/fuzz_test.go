package inventory

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParse checks that Parse and the dynamic-output parser never panic,
// that their errors are one line, and that what Parse accepts is
// consistent.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		example,
		"",
		"hosts: [a, \"b[1-3]\"]\n",
		"hosts:\n  a: {<<: *x}\n",
		"defaults: &d {user: u}\nhosts:\n  a: {<<: [*d, *d], port: 2}\n",
		"roles:\n  a: ['@b']\n  b: ['@a']\n",
		"roles:\n  app: [web[01-04].example.com, \"@db\"]\n",
		`{"hosts": {"a": {"vars": {"x": 1}}}, "roles": {"r": ["a", "@r2"], "r2": []}}`,
		"web1 web,db\n# c\ndb[1-3] x\n",
		"a: &a [*a]\n",
		"hosts:\n  '::1':\n  '[fe80::1]':\n    port: 22\n",
		"dynamic:\n  - command: x\n    timeout: 1s\n    roles: [r]\n",
	} {
		f.Add([]byte(s))
	}
	old := maxHosts
	maxHosts = 10000
	f.Cleanup(func() { maxHosts = old })
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse(data, "f.yaml")
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error not one line: %q", err)
			}
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %q", err)
			}
		} else {
			seen := map[string]bool{}
			for _, h := range inv.Hosts() {
				if seen[h.Name] {
					t.Fatalf("duplicate host %q", h.Name)
				}
				seen[h.Name] = true
				if got, ok := inv.Lookup(h.Name); !ok || fmt.Sprint(got) != fmt.Sprint(h) {
					t.Fatalf("Lookup(%q) = %+v, %v; want %+v", h.Name, got, ok, h)
				}
				if h.Port < 0 || h.Port > 65535 {
					t.Fatalf("host %q: port %d", h.Name, h.Port)
				}
				for _, r := range h.Roles {
					hs, err := inv.Role(r)
					if err != nil {
						t.Fatalf("host %q has role %q: %v", h.Name, r, err)
					}
					found := false
					for _, x := range hs {
						found = found || x.Name == h.Name
					}
					if !found {
						t.Fatalf("host %q has role %q but Role does not list it", h.Name, r)
					}
				}
			}
			if _, err := inv.Select(inv.Roles()); err != nil {
				t.Fatalf("Select(Roles()): %v", err)
			}
		}
		_, err = parseOutput(data, fileLoc("out"))
		if err != nil && strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("output error not one line: %q", err)
		}
	})
}
