package inventory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const example = `# loom.yaml
defaults:
  user: deploy
  vars: {env: prod, tier: "1"}
hosts:
  web[01-04].example.com:
    roles: [web]
  db1.example.com:
    user: postgres
    port: 2222
    jump: bastion.example.com
    roles: [db]
    vars: {shard: "1", tier: 2}
  web02.example.com:
    roles: canary
    port: 2200
    jump: none
roles:
  app: ["web[01-04].example.com", "@db"]
  monitoring:
    - mon1
    - "@app"
dynamic:
  - command: ./scripts/hosts-from-db
    roles: [fromdb]
    timeout: 10s
`

func names(hs []Host) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.Name)
	}
	return strings.Join(s, " ")
}

func TestParseExample(t *testing.T) {
	inv, err := Parse([]byte(example), "loom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(inv.Hosts()), "web01.example.com web02.example.com web03.example.com web04.example.com db1.example.com mon1"; got != want {
		t.Errorf("Hosts = %q, want %q", got, want)
	}
	if got, want := inv.Roles(), []string{"app", "canary", "db", "fromdb", "monitoring", "web"}; !slices.Equal(got, want) {
		t.Errorf("Roles = %q, want %q", got, want)
	}
	db, ok := inv.Lookup("db1.example.com")
	if !ok {
		t.Fatal("db1 not found")
	}
	want := Host{Name: "db1.example.com", User: "postgres", Port: 2222, Jump: "bastion.example.com",
		Roles: []string{"app", "db", "monitoring"}, Vars: map[string]string{"env": "prod", "tier": "2", "shard": "1"}}
	if fmt.Sprint(db) != fmt.Sprint(want) {
		t.Errorf("db1 = %+v\nwant  %+v", db, want)
	}
	w2, _ := inv.Lookup("web02.example.com")
	if w2.User != "deploy" || w2.Port != 2200 || w2.Jump != "none" || !slices.Equal(w2.Roles, []string{"app", "canary", "monitoring", "web"}) {
		t.Errorf("web02 = %+v", w2)
	}
	mon, _ := inv.Lookup("mon1")
	if mon.User != "deploy" || mon.Port != 0 || !slices.Equal(mon.Roles, []string{"monitoring"}) || mon.Vars["env"] != "prod" {
		t.Errorf("mon1 (only in a role) = %+v", mon)
	}
	for role, want := range map[string]string{
		"web":        "web01.example.com web02.example.com web03.example.com web04.example.com",
		"app":        "web01.example.com web02.example.com web03.example.com web04.example.com db1.example.com",
		"@db":        "db1.example.com",
		"monitoring": "web01.example.com web02.example.com web03.example.com web04.example.com db1.example.com mon1",
		"fromdb":     "",
	} {
		hs, err := inv.Role(role)
		if err != nil {
			t.Errorf("Role(%q): %v", role, err)
		} else if got := names(hs); got != want {
			t.Errorf("Role(%q) = %q, want %q", role, got, want)
		}
	}
	hs, err := inv.Select([]string{"db", "canary", "web"})
	if err != nil || names(hs) != "web01.example.com web02.example.com web03.example.com web04.example.com db1.example.com" {
		t.Errorf("Select = %q, %v", names(hs), err)
	}
	if _, err := inv.Role("wbe"); err == nil || err.Error() != `unknown role "wbe" in loom.yaml (known roles: app, canary, db, fromdb, monitoring, web)` {
		t.Errorf("unknown role error = %v", err)
	}
	if _, err := inv.Select([]string{"web", "nope"}); err == nil || !strings.Contains(err.Error(), `unknown role "nope"`) {
		t.Errorf("Select unknown role error = %v", err)
	}
	ds := inv.Dynamic()
	if len(ds) != 1 || ds[0].Command != "./scripts/hosts-from-db" || ds[0].Timeout != 10*time.Second || ds[0].Line != 24 || !slices.Equal(ds[0].Roles, []string{"fromdb"}) {
		t.Errorf("Dynamic = %+v", ds)
	}
}

func TestLookup(t *testing.T) {
	inv, err := Parse([]byte("defaults: {user: deploy, port: 22}\nhosts:\n  web1:\n  \"::1\":\n    port: 2200\n"), "inv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		ok   bool
		want string // Name User Port
	}{
		{"web1", true, "web1 deploy 22"},
		{"root@web1", true, "web1 root 22"},
		{"root@web1:2222", true, "web1 root 2222"},
		{"web1:2222", true, "web1 deploy 2222"},
		{"::1", true, "::1 deploy 2200"},
		{"[::1]:23", true, "::1 deploy 23"},
		{"web2", false, ""},
		{"root@web2", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		h, ok := inv.Lookup(tt.in)
		if ok != tt.ok {
			t.Errorf("Lookup(%q) ok = %v", tt.in, ok)
			continue
		}
		if ok {
			if got := fmt.Sprintf("%s %s %d", h.Name, h.User, h.Port); got != tt.want {
				t.Errorf("Lookup(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
	// Results are copies.
	h, _ := inv.Lookup("web1")
	h.Vars["x"] = "y"
	h.Roles = append(h.Roles, "z")
	if h2, _ := inv.Lookup("web1"); len(h2.Vars) != 0 || len(h2.Roles) != 0 {
		t.Errorf("Lookup result shares state: %+v", h2)
	}
}

func TestParseForms(t *testing.T) {
	tests := []struct {
		name, in string
		hosts    string // "name:user:port:jump:roles:vars" per host, space separated
	}{
		{"empty", "", ""},
		{"comments only", "# nothing\n", ""},
		{"null sections", "defaults:\nhosts:\nroles:\ndynamic:\n", ""},
		{"host list", "hosts: [a, \"b[1-2]\"]\n", "a:::::: b1:::::: b2::::::"},
		{"host list block", "hosts:\n  - a\n  - c[1-2]\n", "a:::::: c1:::::: c2::::::"},
		{"comma key", "hosts:\n  a,b[1-2]: {port: 2}\n", "a::2:::: b1::2:::: b2::2::::"},
		{"null host", "hosts:\n  a:\n  b: ~\n", "a:::::: b::::::"},
		{"roles scalar", "hosts:\n  a: {roles: web}\n", "a::::web::"},
		{"roles comma scalar", "hosts:\n  a: {roles: 'web, db'}\n", "a::::db,web::"},
		{"overlap merges", "hosts:\n  n[1-3]: {user: u, port: 1, roles: [x], vars: {a: '1', b: '1'}}\n  n2: {port: 2, roles: [y], vars: {b: '2'}}\n",
			"n1:u:1::x:a=1,b=1: n2:u:2::x,y:a=1,b=2: n3:u:1::x:a=1,b=1:"},
		{"vars as written", "hosts:\n  a:\n    vars: {f: 1.50, b: yes, n: ~, e: , i: 0x10, s: 'x y', t: 2024-01-01}\n",
			"a:::::b=yes,e=,f=1.50,i=0x10,n=,s=x y,t=2024-01-01:"},
		{"defaults", "defaults: {user: d, port: 22, jump: j, vars: {x: '1'}}\nhosts:\n  a:\n  b: {user: e, jump: none, vars: {x: '2'}}\n",
			"a:d:22:j::x=1: b:e:22:none::x=2:"},
		{"role only hosts", "roles:\n  r: [z, \"y[1-2]\"]\n  s: [y2]\n", "z::::r:: y1::::r:: y2::::r,s::"},
		{"nested refs", "hosts:\n  a: {roles: [x]}\nroles:\n  y: ['@x']\n  z: ['@y', b]\n", "a::::x,y,z:: b::::z::"},
		{"ref to dynamic role", "roles:\n  every: ['@fromdb']\ndynamic:\n  - command: 'true'\n    roles: [fromdb]\n", ""},
		{"ipv6", "hosts:\n  '::1':\n  '[fe80::1]':\n  '2001:db8::[1-2]':\n", "::1:::::: fe80::1:::::: 2001:db8::1:::::: 2001:db8::2::::::"},
		{"anchors and merge", "x: &base\n", ""}, // replaced below
		{"json", `{"defaults": {"user": "u"}, "hosts": {"a": {"port": 22, "roles": ["w"]}, "b": null}}`, "a:u:22::w:: b:u:::::"},
		{"unicode role", "hosts:\n  a: {roles: [базы]}\n", "a::::базы::"},
	}
	tests[16].in = "defaults:\n  vars: &v {k: '1'}\nhosts:\n  base: &base {user: u, port: 2, vars: *v}\n  a:\n    <<: *base\n    port: 3\n  b: {<<: [*base], roles: [r]}\n"
	tests[16].hosts = "base:u:2:::k=1: a:u:3:::k=1: b:u:2::r:k=1:"
	for _, tt := range tests {
		inv, err := Parse([]byte(tt.in), "t.yaml")
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var got []string
		for _, h := range inv.Hosts() {
			var vars []string
			for _, k := range slices.Sorted(mapsKeys(h.Vars)) {
				vars = append(vars, k+"="+h.Vars[k])
			}
			got = append(got, fmt.Sprintf("%s:%s:%s:%s:%s:%s:", h.Name, h.User, portStr(h.Port), h.Jump, strings.Join(h.Roles, ","), strings.Join(vars, ",")))
		}
		if g := strings.Join(got, " "); g != tt.hosts {
			t.Errorf("%s:\n got  %q\n want %q", tt.name, g, tt.hosts)
		}
	}
}

func portStr(p int) string {
	if p == 0 {
		return ""
	}
	return fmt.Sprint(p)
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"- a\n", `t.yaml:1: the top level must be a mapping with the keys defaults, hosts, roles, dynamic, settings, not a list`},
		{"hosts:\n  a:\nhost:\n", `t.yaml:3: top level: unknown key "host" (known: defaults, hosts, roles, dynamic, settings; did you mean "hosts"?)`},
		{"hosts:\n  db1:\n    prot: 22\n", `t.yaml:3: host "db1": unknown key "prot" (known: user, port, jump, roles, vars; did you mean "port"?)`},
		{"hosts:\n  db1:\n    port: 0\n", `t.yaml:3: host "db1": port: must be a number from 1 to 65535, not "0"`},
		{"hosts:\n  db1:\n    port: 65536\n", `t.yaml:3: host "db1": port: must be a number from 1 to 65535, not "65536"`},
		{"hosts:\n  db1:\n    port: ssh\n", `not "ssh"`},
		{"hosts:\n  db1:\n    port: [1]\n", `t.yaml:3: host "db1": port must be a single value, not a list`},
		{"hosts:\n  a:\n  a:\n", `t.yaml:3: hosts: duplicate key "a" (first at line 2)`},
		{"hosts:\n  a: {user: x, user: y}\n", `t.yaml:2: host "a": duplicate key "user" (first at line 2)`},
		{"hosts:\n  web[3-1]:\n", `t.yaml:2: hosts: host pattern "web[3-1]": reversed range "3-1"`},
		{"hosts:\n  u@web1:\n", `t.yaml:2: hosts: host "u@web1": give the user with the user: setting`},
		{"hosts:\n  web1:22:\n", `t.yaml:2: hosts: host "web1:22": give the port with the port: setting`},
		{"hosts:\n  web*:\n", `globs are not host names`},
		{"hosts:\n  -web:\n", `must not start with '-'`},
		{"hosts:\n  a: web\n", `t.yaml:2: host "a": settings must be a mapping (keys user, port, jump, roles, vars), not "web"`},
		{"hosts:\n  a:\n    vars: {x: {y: 1}}\n", `t.yaml:3: host "a": vars: x must be a single value, not a mapping`},
		{"hosts:\n  a:\n    vars: {x: [1]}\n", `must be a single value, not a list`},
		{"hosts:\n  a:\n    vars: [1]\n", `t.yaml:3: host "a": vars must be a mapping, not a list`},
		{"hosts:\n  a:\n    roles: [\"@x\"]\n", `write role names without '@'`},
		{"hosts:\n  a:\n    roles: [\"a b\"]\n", `invalid role name "a b"`},
		{"hosts:\n  a:\n    user: -x\n", `invalid user "-x"`},
		{"hosts:\n  a:\n    user: ''\n", `t.yaml:3: host "a": user: empty user`},
		{"hosts:\n  a:\n    jump: ''\n", `empty jump host`},
		{"hosts: 3\n", `t.yaml:1: hosts: must be a mapping of host patterns to settings (or a list of host patterns), not "3"`},
		{"defaults:\n  roles: [x]\n", `t.yaml:2: defaults: roles are given per host or in the roles: section, not in defaults`},
		{"defaults: [x]\n", `t.yaml:1: defaults: settings must be a mapping`},
		{"roles:\n  app: [\"@nope\"]\n", `t.yaml:2: role "app": unknown role "@nope" (known roles: app)`},
		{"hosts:\n  a: {roles: [web]}\nroles:\n  app:\n    - \"@web\"\n    - \"@dbs\"\n", `t.yaml:6: role "app": unknown role "@dbs" (known roles: app, web)`},
		{"roles:\n  a: ['@b']\n  b: ['@c']\n  c: ['@a']\n", `t.yaml:4: role cycle: @a → @b → @c → @a`},
		{"roles:\n  a: ['@a']\n", `t.yaml:2: role cycle: @a → @a`},
		{"roles:\n  a: {x: 1}\n", `t.yaml:2: role "a" must be a list, not a mapping`},
		{"roles:\n  a: [x, ~]\n", `t.yaml:2: role "a": empty item`},
		{"roles:\n  'a b': [x]\n", `t.yaml:2: roles: invalid role name "a b"`},
		{"roles:\n  app: [web[01-04].example.com, \"@db\"]\n", `t.yaml:2: did not find expected ',' or ']' (quote host ranges`},
		{"roles:\n  app: [web1, @db]\n", `t.yaml:2: found character that cannot start any token (quote`},
		{"hosts:\n  a:\n\n b: x\n", `t.yaml:4: did not find expected key`},
		{"hosts:\n\ta:\n", `t.yaml:2: found character that cannot start any token (a tab: indent YAML with spaces)`},
		{"a: 1\n---\nb: 2\n", `t.yaml:2: a second YAML document`},
		{"hosts:\n  a: *nope\n", `t.yaml: unknown anchor 'nope' referenced`},
		{"dynamic:\n  command: x\n", `t.yaml:2: dynamic: must be a list of entries`},
		{"dynamic:\n  - roles: [x]\n", `t.yaml:2: dynamic: entry without a command`},
		{"dynamic:\n  - command: ''\n", `t.yaml:2: dynamic: command is empty`},
		{"dynamic:\n  - command: x\n    timeout: 10\n", `t.yaml:3: dynamic: timeout must be a positive duration with a unit, like 10s or 2m, not "10"`},
		{"dynamic:\n  - command: x\n    timout: 1s\n", `t.yaml:3: dynamic: entry: unknown key "timout" (known: command, roles, timeout; did you mean "timeout"?)`},
		{"hosts:\n  ~: x\n", `t.yaml:2: hosts: a key must be a plain string, not empty`},
		{"hosts:\n  '': x\n", `t.yaml:2: hosts: empty host name`},
		{"hosts:\n  [a, b]: x\n", `t.yaml:2: hosts: a key must be a plain string, not a list`},
		{"hosts:\n  n[1-1000001]:\n", `more than 1000000 hosts in all`},
		{"hosts:\n  n[1-600000]:\n  m[1-600000]:\n", `t.yaml:3: hosts: more than 1000000 hosts in all (at "m[1-600000]")`},
		{"hosts:\n  a: {<<: 3}\n", `host "a" (merge key <<) must be a mapping`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in), "t.yaml")
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q):\n got  %q\n want %q", tt.in, err, tt.want)
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("Parse(%q): error not one line: %q", tt.in, err)
		}
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing up to the root (assuming no loom.yaml in / or the temp dir's parents).
	if got, err := Find(deep); err != nil || (got != "" && !strings.HasPrefix(root, filepath.Dir(got))) {
		t.Errorf("Find with no file = %q, %v", got, err)
	}
	write(filepath.Join(root, "a", "loom.yml"), "")
	if got, err := Find(deep); err != nil || got != filepath.Join(root, "a", "loom.yml") {
		t.Errorf("Find = %q, %v; want a/loom.yml", got, err)
	}
	write(filepath.Join(root, "a", "b", "loom.yaml"), "")
	if got, err := Find(deep); err != nil || got != filepath.Join(root, "a", "b", "loom.yaml") {
		t.Errorf("Find = %q, %v; want a/b/loom.yaml", got, err)
	}
	if got, err := Find(filepath.Join(root, "a", "b")); err != nil || got != filepath.Join(root, "a", "b", "loom.yaml") {
		t.Errorf("Find in the file's own dir = %q, %v", got, err)
	}
	write(filepath.Join(root, "a", "loom.yaml"), "")
	if _, err := Find(filepath.Join(root, "a")); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("both names: error %v", err)
	}
	if err := os.Mkdir(filepath.Join(deep, "loom.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(deep); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("loom.yaml directory: error %v", err)
	}
	// Relative directories work.
	t.Chdir(filepath.Join(root, "a", "b"))
	if got, err := Find("c/.."); err != nil || got != filepath.Join(root, "a", "b", "loom.yaml") {
		t.Errorf("Find(relative) = %q, %v", got, err)
	}
	if got, err := Find(""); err != nil || got != filepath.Join(root, "a", "b", "loom.yaml") {
		t.Errorf("Find(\"\") = %q, %v", got, err)
	}
}

// writeInv writes an inventory and executable scripts into a temp dir and
// returns the inventory's path.
func writeInv(t *testing.T, inv string, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "loom.yaml")
	if err := os.WriteFile(p, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func needSh(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh: dynamic commands need it")
	}
}

func TestLoadDynamicLines(t *testing.T) {
	needSh(t)
	path := writeInv(t, `
defaults: {user: deploy}
hosts:
  web1: {roles: [web], port: 2222}
roles:
  everything: ["@fromdb", "@web"]
dynamic:
  - command: ./scripts/hosts-from-db
    roles: [fromdb]
`, map[string]string{"scripts/hosts-from-db": `
# the working directory is the inventory's
test -f loom.yaml || { echo "wrong dir: $(pwd)" >&2; exit 1; }
test "$LOOM_INVENTORY" = "$(pwd)/loom.yaml" || { echo "LOOM_INVENTORY=$LOOM_INVENTORY" >&2; exit 1; }
cat <<'EOF'
# generated
web1 app
db[1-2]   db, app   # two hosts
  cache1

10.0.0.[1-2] net
EOF
`})
	inv, err := Load(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(inv.Hosts()), "web1 db1 db2 cache1 10.0.0.1 10.0.0.2"; got != want {
		t.Errorf("Hosts = %q, want %q", got, want)
	}
	w, _ := inv.Lookup("web1")
	if w.Port != 2222 || w.User != "deploy" || !slices.Equal(w.Roles, []string{"app", "everything", "fromdb", "web"}) {
		t.Errorf("web1 = %+v", w)
	}
	d, _ := inv.Lookup("db2")
	if d.User != "deploy" || !slices.Equal(d.Roles, []string{"app", "db", "everything", "fromdb"}) {
		t.Errorf("db2 = %+v", d)
	}
	hs, _ := inv.Role("everything")
	if got := names(hs); got != "web1 db1 db2 cache1 10.0.0.1 10.0.0.2" {
		t.Errorf("Role(everything) = %q", got)
	}
}

func TestLoadDynamicYAML(t *testing.T) {
	needSh(t)
	for name, out := range map[string]string{
		"yaml": `
hosts:
  app[1-2]:
    user: svc
    port: 2200
    roles: [app]
  web1: {vars: {from: db}}
roles:
  canary: [app1]
  both: ["@canary", "@web"]
`,
		"json": `{"hosts": {"app[1-2]": {"user": "svc", "port": 2200, "roles": ["app"]}, "web1": {"vars": {"from": "db"}}},
 "roles": {"canary": ["app1"], "both": ["@canary", "@web"]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := writeInv(t, `
defaults: {user: deploy, vars: {env: prod}}
hosts:
  web1: {roles: [web]}
dynamic:
  - command: ./gen
    roles: [dyn]
    timeout: 5s
`, map[string]string{"gen": "cat <<'EOF'\n" + out + "\nEOF\n"})
			inv, err := Load(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(inv.Hosts()); got != "web1 app1 app2" {
				t.Errorf("Hosts = %q", got)
			}
			a, _ := inv.Lookup("app1")
			if a.User != "svc" || a.Port != 2200 || !slices.Equal(a.Roles, []string{"app", "both", "canary", "dyn"}) || a.Vars["env"] != "prod" {
				t.Errorf("app1 = %+v", a)
			}
			w, _ := inv.Lookup("web1")
			if w.User != "deploy" || w.Vars["from"] != "db" || !slices.Equal(w.Roles, []string{"both", "dyn", "web"}) {
				t.Errorf("web1 = %+v", w)
			}
		})
	}
}

func TestLoadDynamicErrors(t *testing.T) {
	needSh(t)
	tests := []struct {
		name, cmd, script, want string
	}{
		{"exit", "./gen", "echo first >&2; echo 'db unreachable' >&2; exit 3",
			`loom.yaml:4: dynamic command "./gen": exit status 3; stderr: "first | db unreachable"`},
		{"missing", "./nope", "", `dynamic command "./nope": exit status 127; stderr: `},
		{"bad line", "./gen", "echo web1; echo 'web[2-1]'",
			`loom.yaml:4: dynamic command "./gen": output line 2: host pattern "web[2-1]": reversed range "2-1"`},
		{"bad role", "./gen", "echo 'web1 a/b'", `output line 1: invalid role name "a/b"`},
		{"user in line", "./gen", "echo 'root@web1'", `output line 1: "root@web1": print a bare host name`},
		{"port in line", "./gen", "echo 'web1:22'", `output line 1: "web1:22": print a bare host name`},
		{"bad yaml", "./gen", "printf 'hosts:\\n  a:\\n    prot: 1\\n'", `loom.yaml:4: dynamic command "./gen": output line 3: host "a": unknown key "prot"`},
		{"defaults in output", "./gen", "printf 'hosts: [a]\\ndefaults: {user: x}\\n'", `output line 2: top level: unknown key "defaults" (known: hosts, roles`},
		{"bad json", "./gen", `echo '{"hosts": {"a": {"port": 0}}}'`, `output line 1: host "a": port: must be a number from 1 to 65535`},
		{"unknown ref", "./gen", "printf 'roles:\\n  x: [\"@nope\"]\\n'", `output line 2: role "x": unknown role "@nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeInv(t, "hosts:\n  web1:\ndynamic:\n  - command: "+tt.cmd+"\n", map[string]string{"gen": tt.script})
			_, err := Load(context.Background(), path)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			msg := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error:\n got  %q\n want %q", msg, tt.want)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error not one line: %q", msg)
			}
		})
	}
}

func TestLoadDynamicTimeout(t *testing.T) {
	needSh(t)
	path := writeInv(t, "dynamic:\n  - command: echo starting >&2; sleep 10\n    timeout: 200ms\n", nil)
	start := time.Now()
	_, err := Load(context.Background(), path)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), `dynamic command "echo starting >&2; sleep 10": timed out after 200ms; stderr: "starting"`) {
		t.Errorf("error = %v", err)
	}
	if took > 3*time.Second {
		t.Errorf("timeout took %v", took)
	}

	// A background process keeping stdout open does not hang Load.
	path = writeInv(t, "dynamic:\n  - command: echo web1; sleep 10 &\n    timeout: 20s\n", nil)
	start = time.Now()
	_, err = Load(context.Background(), path)
	if took := time.Since(start); took > 6*time.Second || err == nil || !strings.Contains(err.Error(), "output stayed open after it exited") {
		t.Errorf("background process: Load took %v, error %v", took, err)
	}

	// ctx bounds the commands too, and the first failure stops the others.
	path = writeInv(t, "dynamic:\n  - command: sleep 10\n  - command: sleep 10\n", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = Load(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") || time.Since(start) > 3*time.Second {
		t.Errorf("ctx: error %v after %v", err, time.Since(start))
	}
	path = writeInv(t, "dynamic:\n  - command: sleep 10\n  - command: exit 4\n", nil)
	start = time.Now()
	_, err = Load(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), `"exit 4": exit status 4`) || time.Since(start) > 3*time.Second {
		t.Errorf("first failure: error %v after %v", err, time.Since(start))
	}
}

func TestParseDoesNotRun(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	inv, err := Parse([]byte("dynamic:\n  - command: touch "+marker+"\n    roles: [x]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("Parse ran a dynamic command")
	}
	if hs, err := inv.Role("x"); err != nil || len(hs) != 0 {
		t.Errorf("Role(x) = %v, %v", hs, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(context.Background(), filepath.Join(t.TempDir(), "loom.yaml"))
	if err == nil || !strings.Contains(err.Error(), "loom.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestManyHosts(t *testing.T) {
	inv, err := Parse([]byte("hosts:\n  n[00001-20000]: {roles: [a]}\nroles:\n  b: ['n[10001-30000]', '@a']\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(inv.Hosts()); n != 30000 {
		t.Errorf("%d hosts", n)
	}
	hs, _ := inv.Role("b")
	if len(hs) != 30000 || hs[0].Name != "n00001" || hs[29999].Name != "n30000" {
		t.Errorf("Role(b): %d hosts", len(hs))
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("hosts:\n  h0: {vars: &a0 {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x, k9: x}}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  h%d: {vars: &a%d {<<: [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}}\n")
	}
	start := time.Now()
	_, err := Parse([]byte(b.String()), "bomb.yaml")
	if err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Errorf("error = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestDocExamples parses the examples of docs/inventory.md.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/inventory.md")
	if err != nil {
		t.Skip("docs/inventory.md not found")
	}
	blocks := map[string][]string{}
	for _, part := range strings.Split(string(doc), "```")[1:] {
		lang, body, _ := strings.Cut(part, "\n")
		blocks[lang] = append(blocks[lang], body)
	}
	if len(blocks["yaml"]) != 2 || len(blocks["json"]) != 1 || len(blocks[""]) < 1 {
		t.Fatalf("unexpected code blocks in docs/inventory.md: %d yaml, %d json", len(blocks["yaml"]), len(blocks["json"]))
	}
	// The second is the settings: example: every key of it is known.
	sinv, err := Parse([]byte(blocks["yaml"][1]), "loom.yaml")
	if err != nil || len(sinv.Settings()) != len(SettingKeys) {
		t.Fatalf("settings example: %v; %d of %d keys", err, len(sinv.Settings()), len(SettingKeys))
	}
	inv, err := Parse([]byte(blocks["yaml"][0]), "loom.yaml")
	if err != nil {
		t.Fatalf("full example: %v", err)
	}
	db2, _ := inv.Lookup("db2.example.com")
	if db2.User != "postgres" || db2.Port != 2222 || db2.Jump != "bastion.example.com" || db2.Vars["shard"] != "2" || db2.Vars["env"] != "prod" {
		t.Errorf("db2 = %+v", db2)
	}
	mon, err := inv.Role("monitoring")
	if err != nil || len(mon) != 7 {
		t.Errorf("monitoring = %q, %v", names(mon), err)
	}
	w2, _ := inv.Lookup("web02.example.com")
	if !slices.Equal(w2.Roles, []string{"app", "canary", "monitoring", "web"}) {
		t.Errorf("web02 roles = %q", w2.Roles)
	}
	b, _ := inv.Lookup("bastion.example.com")
	if b.Jump != "none" || b.User != "deploy" || b.Port != 22 {
		t.Errorf("bastion = %+v", b)
	}
	if w, _ := inv.Role("workers"); len(w) != 8 {
		t.Errorf("workers = %q", names(w))
	}
	if v6, _ := inv.Role("v6"); names(v6) != "2001:db8::10" {
		t.Errorf("v6 = %q", names(v6))
	}
	src, err := parseOutput([]byte(blocks["json"][0]), fileLoc("out"))
	if err != nil || len(src.hosts) != 2 || len(src.roles) != 1 {
		t.Errorf("JSON output example: %+v, %v", src, err)
	}
	found := false
	for _, body := range blocks[""] {
		if !strings.HasPrefix(body, "# printed by") {
			continue
		}
		found = true
		src, err := parseOutput([]byte(body), fileLoc("out"))
		if err != nil || len(src.hosts) != 4 || len(src.hosts[2].names) != 16 || !slices.Equal(src.hosts[0].s.roles, []string{"app", "queue"}) {
			t.Errorf("lines output example: %+v, %v", src, err)
		}
	}
	if !found {
		t.Error("lines output example not found")
	}
}

func TestNilInventory(t *testing.T) {
	var inv *Inventory
	if inv.Hosts() != nil || inv.Roles() != nil || inv.Dynamic() != nil || inv.Path() != "" {
		t.Error("nil inventory is not empty")
	}
	if _, ok := inv.Lookup("a"); ok {
		t.Error("nil inventory has a host")
	}
	if _, err := inv.Role("a"); err == nil || err.Error() != `unknown role "a" (the inventory has no roles)` {
		t.Errorf("Role on nil: %v", err)
	}
}

// persist is a setting of the run (settings: persist:, as --persist), in
// one place: in defaults: it is refused naming settings:, per host naming
// ssh_config's way.
func TestPersistIsASetting(t *testing.T) {
	inv, err := Parse([]byte("settings:\n  persist: 10m\nhosts: [web1]\n"), "loom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.Settings(); len(got) != 1 || got[0].Key != "persist" || got[0].Value != "10m" {
		t.Errorf("Settings() = %v, want persist: 10m", got)
	}
	for in, want := range map[string]string{
		"defaults:\n  persist: 10m\n":        "loom.yaml:2: defaults: persist: is a setting of the run: write it under settings: (settings: {persist: 10m}), as --persist",
		"hosts:\n  web1:\n    persist: 1m\n": "loom.yaml:3: host \"web1\": persist is set for every host, in settings: (for one host: ssh_config ControlMaster auto and ControlPersist)",
	} {
		_, err := Parse([]byte(in), "loom.yaml")
		if err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}
