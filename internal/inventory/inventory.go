// Package inventory reads loom.yaml: the hosts Loom works on, their roles
// (groups), per-host settings and hosts printed by commands.
//
// A short example (docs/inventory.md has the full schema):
//
//	defaults:
//	  user: deploy
//	  vars: {env: prod}
//	hosts:
//	  web[01-04].example.com:
//	    roles: [web]
//	  db1.example.com:
//	    user: postgres
//	    port: 2222
//	    jump: bastion.example.com
//	    roles: [db]
//	roles:
//	  app: ["web[01-04].example.com", "@db"]
//	dynamic:
//	  - command: ./scripts/hosts-from-db
//	    roles: [app]
//	    timeout: 10s
//
// # Rules
//
//   - Unknown keys, wrong types and bad values are errors naming file:line.
//   - Host keys are host patterns (hostlist.Expand): ranges and comma lists.
//     The same host may appear under several keys (say a range and, below
//     it, one of its hosts): the entries merge in file order, later ones
//     overriding user, port, jump and single vars, roles accumulating. A key
//     written twice in one mapping is an error (YAML says so).
//   - A host listed in a role (roles:) but not under hosts: is added, with
//     the defaults and only the roles that list it.
//   - A role's list may reference other roles as "@name"; the referenced
//     role must exist in the same file (a roles: key, a role given to a
//     host, or a dynamic entry's roles). Cycles are errors.
//   - Host.Roles holds every role a host is in, directly or through @name.
//   - Hosts() is in file order: hosts: entries, then hosts first named in
//     roles:, then hosts from dynamic commands, each in order of appearance.
//   - Vars are strings as written in the file ("1.50" stays "1.50",
//     "yes" stays "yes", an empty value is ""); lists and mappings are errors.
//   - YAML anchors, aliases and merge keys (<<: *base) work.
package inventory

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/trust"
)

// DefaultTimeout bounds a dynamic command that sets no timeout.
const DefaultTimeout = 30 * time.Second

// Host is one host of the inventory with its settings.
type Host struct {
	Name  string            // the target: a host name, an IPv6 address (no brackets) or an ssh_config alias
	User  string            // remote user; "" = not set (ssh_config or -u decide)
	Port  int               // remote port; 0 = not set
	Jump  string            // ProxyJump; "" = not set, "none" = explicitly no jump host
	Roles []string          // every role the host is in, sorted
	Vars  map[string]string // defaults.vars overlaid with the host's vars; never nil
}

// Dynamic is a dynamic host source: a command whose output lists hosts.
type Dynamic struct {
	Command string        // shell text, run with /bin/sh -c in the inventory file's directory
	Roles   []string      // roles given to every host it prints, sorted
	Timeout time.Duration // DefaultTimeout unless the entry sets timeout:
	Line    int           // line of the entry in the file
}

// Inventory is a loaded inventory. Its methods return copies: callers may
// modify what they get. A nil *Inventory is an empty one.
type Inventory struct {
	path     string
	hosts    []Host
	index    map[string]int
	roles    map[string][]int // role → host indices, in file order
	names    []string         // role names, sorted
	dynamic  []Dynamic
	settings []Setting
}

// Find looks for loom.yaml, then loom.yml, in dir and each parent
// directory up to the file system root, and returns the path of the first
// found; "" and a nil error when there is none. dir "" means the working
// directory. Both names in one directory is an error, as is a loom.yaml
// that is a directory.
//
// A file found is used only when it and its directory are owned by the
// user or root and writable by nobody else (git's rule for a repository,
// with modes added: see package trust); otherwise Find returns an error
// saying why and that -I names the file (a file given with -I is used as
// given) or -I none uses no inventory.
func Find(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("looking for loom.yaml: %v", err)
		}
		dir = wd
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("looking for loom.yaml: %v", err)
	}
	for {
		var found []string
		for _, name := range []string{"loom.yaml", "loom.yml"} {
			p := filepath.Join(dir, name)
			fi, err := os.Stat(p)
			if err != nil {
				continue // absent, unreadable directory, dangling link: not here
			}
			if fi.IsDir() {
				return "", fmt.Errorf("%s is a directory, not an inventory file", p)
			}
			found = append(found, p)
		}
		switch len(found) {
		case 1:
			if err := trustFound(found[0]); err != nil {
				return "", err
			}
			return found[0], nil
		case 2:
			return "", fmt.Errorf("both %s and %s exist: keep one", found[0], filepath.Base(found[1]))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// trustFound refuses an inventory found upward that another user owns
// or could have written: its host settings (users, ports, jump hosts) and
// dynamic commands are theirs. The file and its directory are both
// checked: a directory others may write lets them replace the file.
func trustFound(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		if err := trust.Found(p); err != nil {
			return fmt.Errorf("%v: an inventory found by searching upward is used only when it is yours (or root's) and nobody else may write it, as git does with a repository; to use it, give it with -I %s (or -I none for no inventory)", err, path)
		}
	}
	return nil
}

// Load reads and validates the inventory file at path, expands its host
// ranges and runs its dynamic commands (concurrently, each bounded by its
// timeout and by ctx) in the file's directory. Errors name path:line.
func Load(ctx context.Context, path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %v", err)
	}
	m, err := parseModel(data, path)
	if err != nil {
		return nil, err
	}
	outs, err := runDynamic(ctx, path, m.dynamic)
	if err != nil {
		return nil, err
	}
	return build(path, m, outs)
}

// SettingKeys are the keys of loom.yaml's settings: section: the loom
// command's defaults, each the long name of the flag it stands for.
var SettingKeys = []string{
	"parallel", "handshakes", "connect-timeout", "timeout", "host-timeout", "retries",
	"batch", "pause", "max-fail", "max-fail-batch", "fail-fast",
	"forward-agent", "agent-key", "agent-hosts", "sudo-user", "echo", "hide", "persist",
}

// Setting is one entry of loom.yaml's settings: section.
type Setting struct {
	Key   string // one of SettingKeys
	Value string // as written; a list's items joined with commas
	Where string // "loom.yaml:12"
}

// Settings returns the entries of the settings: section, in file order.
func (inv *Inventory) Settings() []Setting {
	if inv == nil {
		return nil
	}
	return slices.Clone(inv.settings)
}

// Parse parses and validates an inventory held in memory; name (usually
// the file's path) is used in error messages. Parse does not run dynamic
// commands: it checks their entries and lists them in Dynamic(); the roles
// they declare exist but have no hosts from them. Load runs them.
func Parse(data []byte, name string) (*Inventory, error) {
	m, err := parseModel(data, name)
	if err != nil {
		return nil, err
	}
	return build(name, m, nil)
}

func parseModel(data []byte, name string) (*model, error) {
	p := &parser{loc: fileLoc(name), budget: maxHosts}
	root, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	return p.parseDoc(root, false)
}

func fileLoc(name string) func(int) string {
	return func(line int) string {
		if line <= 0 {
			return name
		}
		return fmt.Sprintf("%s:%d", name, line)
	}
}

// build merges the file and the outputs of its dynamic commands.
func build(name string, m *model, outs []dynamicOutput) (*Inventory, error) {
	b := newBuilder()
	loc := fileLoc(name)
	b.apply(m.source, nil, loc)
	for _, d := range m.dynamic {
		for _, r := range d.Roles {
			b.declared[r] = true
		}
	}
	if err := b.checkRefs(m.source, loc); err != nil {
		return nil, err
	}
	for _, o := range outs {
		b.apply(o.src, o.d.Roles, o.loc)
	}
	for _, o := range outs {
		if err := b.checkRefs(o.src, o.loc); err != nil {
			return nil, err
		}
	}
	inv, err := b.finish(name, m.defaults, slices.Clone(m.dynamic))
	if inv != nil {
		inv.settings = m.settings
	}
	return inv, err
}

// Path returns the file name the inventory was loaded from (as given to
// Load or Parse).
func (inv *Inventory) Path() string {
	if inv == nil {
		return ""
	}
	return inv.path
}

// Hosts returns every host, in file order (see the package comment).
func (inv *Inventory) Hosts() []Host {
	if inv == nil {
		return nil
	}
	out := make([]Host, len(inv.hosts))
	for i := range inv.hosts {
		out[i] = inv.hosts[i].clone()
	}
	return out
}

// Roles returns the role names, sorted.
func (inv *Inventory) Roles() []string {
	if inv == nil {
		return nil
	}
	return slices.Clone(inv.names)
}

// Dynamic returns the dynamic host sources declared in the file, in order.
func (inv *Inventory) Dynamic() []Dynamic {
	if inv == nil {
		return nil
	}
	out := slices.Clone(inv.dynamic)
	for i := range out {
		out[i].Roles = slices.Clone(out[i].Roles)
	}
	return out
}

// Role returns the hosts of a role in file order. A leading '@' is
// ignored. An unknown role is an error listing the known ones; a role
// that exists but has no host (say, one only a dynamic command fills)
// gives no hosts and no error.
func (inv *Inventory) Role(name string) ([]Host, error) {
	return inv.Select([]string{name})
}

// Select returns the hosts in any of the roles, in file order, without
// duplicates. Unknown roles are errors, as for Role.
func (inv *Inventory) Select(roles []string) ([]Host, error) {
	if inv == nil {
		inv = &Inventory{}
	}
	var idx []int
	for _, r := range roles {
		r = strings.TrimPrefix(r, "@")
		if r == AllRole {
			for i := range inv.hosts {
				idx = append(idx, i)
			}
			continue
		}
		members, ok := inv.roles[r]
		if !ok {
			declared := map[string]bool{}
			for _, n := range inv.names {
				declared[n] = true
			}
			where := ""
			if inv.path != "" {
				where = " in " + inv.path
			}
			return nil, fmt.Errorf("unknown role %q%s (%s)", r, where, knownRoles(declared))
		}
		idx = append(idx, members...)
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	out := make([]Host, len(idx))
	for i, j := range idx {
		out[i] = inv.hosts[j].clone()
	}
	return out, nil
}

// Lookup returns the settings of a host of the inventory. name is a host
// as typed on the command line: "web1", or "user@web1:2222" — then the
// host part is looked up and the typed user and port replace the
// inventory's (what is typed wins, as with ssh). The returned Name is the
// bare host. ok is false when the host is not in the inventory.
func (inv *Inventory) Lookup(name string) (Host, bool) {
	if inv == nil {
		return Host{}, false
	}
	if i, ok := inv.index[name]; ok {
		return inv.hosts[i].clone(), true
	}
	t, err := sshconfig.ParseTarget(name)
	if err != nil {
		return Host{}, false
	}
	i, ok := inv.index[t.Host]
	if !ok {
		return Host{}, false
	}
	h := inv.hosts[i].clone()
	if t.User != "" {
		h.User = t.User
	}
	if t.Port != 0 {
		h.Port = t.Port
	}
	return h, true
}

func (h Host) clone() Host {
	h.Roles = slices.Clone(h.Roles)
	h.Vars = maps.Clone(h.Vars)
	if h.Vars == nil {
		h.Vars = map[string]string{}
	}
	return h
}
