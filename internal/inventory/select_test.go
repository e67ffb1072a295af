package inventory

import (
	"strings"
	"testing"
)

const selectYAML = `hosts:
  web[1-4]: {roles: [web]}
  db[1-2]: {roles: [db]}
  web1: {roles: [staging]}
  web2: {roles: [staging]}
  db1: {roles: [staging]}
  cache1: {}
`

// TestMatch covers the selection grammar of -R: union, intersection,
// exclusion, the implicit role all, hosts, ranges and globs.
func TestMatch(t *testing.T) {
	inv, err := Parse([]byte(selectYAML), "loom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ expr, want string }{
		{"web", "web1 web2 web3 web4"},
		{"web,db", "web1 web2 web3 web4 db1 db2"},
		{"db,web", "web1 web2 web3 web4 db1 db2"}, // file order
		{"web&staging", "web1 web2"},
		{"staging&!db", "web1 web2"},
		{"web&staging,!db", "web1 web2"},
		{"staging,!db", "web1 web2"},
		{"staging,!db1", "web1 web2"},
		{"!web", "db1 db2 cache1"},
		{"!web,!db", "cache1"},
		{"all", "web1 web2 web3 web4 db1 db2 cache1"},
		{"all&!staging", "web3 web4 db2 cache1"},
		{"web*&!web[3-4]", "web1 web2"},
		{"*1", "web1 db1 cache1"},
		{"web?,cache1", "web1 web2 web3 web4 cache1"},
		{"web[2-3],db2", "web2 web3 db2"},
		{" web & staging , ! db ", "web1 web2"},
		{"web&db", ""},
		{"@web&staging", "web1 web2"},
	} {
		hosts, err := inv.Match(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.expr, got, tc.want)
		}
	}
	for _, tc := range []struct{ expr, want string }{
		{"wbe", `unknown role "wbe" in loom.yaml (did you mean web? known roles: db, staging, web)`},
		{"web&", `"web&": an empty name`},
		{"web,!", `"!": an empty name`},
		{"nope*", `"nope*" matches no host in loom.yaml`},
		{"web[1-5]", `web5 (of web[1-5]) is not a host in loom.yaml`},
		{"web[3-1]", `web[3-1]`},
		{"", `no role or host named`},
	} {
		_, err := inv.Match(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.expr, err, tc.want)
		}
	}
}

// TestRoleAllReserved: all is every host; a loom.yaml cannot declare it.
func TestRoleAllReserved(t *testing.T) {
	_, err := Parse([]byte("hosts:\n  a: {roles: [all]}\n"), "loom.yaml")
	if err == nil || !strings.Contains(err.Error(), `loom.yaml:2`) || !strings.Contains(err.Error(), `role "all" is every host`) {
		t.Fatalf("declared all: %v", err)
	}
	inv, _ := Parse([]byte("hosts:\n  a: {}\n  b: {roles: [x]}\n"), "loom.yaml")
	if hs, err := inv.Select([]string{"all"}); err != nil || len(hs) != 2 {
		t.Fatalf("Select all: %v %v", hs, err)
	}
}
