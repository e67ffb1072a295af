package inventory

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/loomssh/loom/internal/hostlist"
)

// AllRole is the implicit role every host of the inventory is in.
const AllRole = "all"

// Match returns the hosts a selection expression names, in file order,
// without duplicates (docs/hosts.md states the grammar for -R):
//
//	expr  = item { "," item }        the union of the items
//	item  = atom { "&" atom }        the intersection of its atoms
//	atom  = [ "!" ] name
//
// A name is a role (all: every host), a host of the inventory, a host
// range (web[01-04], each host of which must be in the inventory) or a
// glob with * and ? over the inventory's host names (web*). A "!" atom
// is taken away: web&!db is the web hosts not in db. An item made only
// of "!" atoms is taken away from the whole result (web&staging,!db is
// the hosts in both web and staging, less those in db), and from every
// host when there is no other item (!db).
//
// A name that is none of these is an error, as is a glob or range that
// matches no host of the inventory; a selection of no host is not.
func (inv *Inventory) Match(expr string) ([]Host, error) {
	if inv == nil {
		inv = &Inventory{}
	}
	n := len(inv.hosts)
	union, minus := make([]bool, n), make([]bool, n)
	positive := false
	items := hostlist.Split(expr)
	if len(items) == 0 {
		return nil, fmt.Errorf("%q: no role or host named", expr)
	}
	for _, item := range items {
		in, out := make([]bool, n), make([]bool, n)
		plain := false
		for _, a := range strings.Split(item, "&") {
			a = strings.TrimSpace(a)
			neg := strings.HasPrefix(a, "!")
			a = strings.TrimSpace(strings.TrimPrefix(a, "!"))
			if a == "" {
				return nil, fmt.Errorf("%q: an empty name (write role & role, role,!role)", item)
			}
			set, err := inv.atom(a)
			if err != nil {
				return nil, err
			}
			switch {
			case neg:
				or(out, set)
			case !plain:
				in, plain = set, true
			default:
				in = and(in, set)
			}
		}
		if !plain {
			or(minus, out)
			continue
		}
		positive = true
		or(union, and(in, not(out)))
	}
	if !positive {
		union = inv.every()
	}
	union = and(union, not(minus))
	var hosts []Host
	for i, ok := range union {
		if ok {
			hosts = append(hosts, inv.hosts[i].clone())
		}
	}
	return hosts, nil
}

// atom returns the hosts one name of a selection stands for, as a set of
// host indices.
func (inv *Inventory) atom(name string) ([]bool, error) {
	if name == AllRole {
		return inv.every(), nil
	}
	if members, ok := inv.roles[strings.TrimPrefix(name, "@")]; ok {
		return inv.set(members), nil
	}
	if i, ok := inv.index[name]; ok {
		return inv.set([]int{i}), nil
	}
	if !strings.ContainsAny(name, "*?[") {
		return nil, inv.unknown(name)
	}
	names, err := hostlist.Expand(name)
	if err != nil {
		return nil, err
	}
	set := make([]bool, len(inv.hosts))
	for _, n := range names {
		if strings.ContainsAny(n, "*?") {
			found := false
			for i, h := range inv.hosts {
				if glob(n, h.Name) {
					set[i], found = true, true
				}
			}
			if !found {
				return nil, fmt.Errorf("%q matches no host%s", n, inv.in())
			}
			continue
		}
		i, ok := inv.index[n]
		if !ok {
			return nil, fmt.Errorf("%s (of %s) is not a host%s", n, name, inv.in())
		}
		set[i] = true
	}
	return set, nil
}

// unknown is the error for a name that is neither a role nor a host.
func (inv *Inventory) unknown(name string) error {
	declared := map[string]bool{}
	for _, n := range inv.names {
		declared[n] = true
	}
	msg := fmt.Sprintf("unknown role %q%s (%s)", name, inv.in(), knownRoles(declared))
	if c := closest(name, append(slices.Clone(inv.names), AllRole)); c != "" {
		msg = fmt.Sprintf("unknown role %q%s (did you mean %s? %s)", name, inv.in(), c, knownRoles(declared))
	}
	return fmt.Errorf("%s", msg)
}

func (inv *Inventory) in() string {
	if inv.path == "" {
		return " in the inventory"
	}
	return " in " + inv.path
}

func (inv *Inventory) every() []bool {
	set := make([]bool, len(inv.hosts))
	for i := range set {
		set[i] = true
	}
	return set
}

func (inv *Inventory) set(idx []int) []bool {
	set := make([]bool, len(inv.hosts))
	for _, i := range idx {
		set[i] = true
	}
	return set
}

// or, and and not work on host sets, of one length: or adds b to a.
func or(a, b []bool) {
	for i := range b {
		a[i] = a[i] || b[i]
	}
}

func and(a, b []bool) []bool {
	out := make([]bool, len(a))
	for i := range out {
		out[i] = a[i] && b[i]
	}
	return out
}

func not(a []bool) []bool {
	out := make([]bool, len(a))
	for i := range a {
		out[i] = !a[i]
	}
	return out
}

// glob matches name against pattern, where * is any run of characters
// and ? one character (no classes: brackets are ranges in Loom).
func glob(pattern, name string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(name); i >= 0; i-- {
				if glob(pattern[1:], name[i:]) {
					return true
				}
			}
			return false
		case '?':
			if name == "" {
				return false
			}
			_, size := utf8.DecodeRuneInString(name)
			pattern, name = pattern[1:], name[size:]
		default:
			if name == "" || name[0] != pattern[0] {
				return false
			}
			pattern, name = pattern[1:], name[1:]
		}
	}
	return name == ""
}
