package inventory

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// hostAcc accumulates what the documents say about one host.
type hostAcc struct {
	idx   int
	name  string
	s     settings // merged, later wins
	roles map[string]struct{}
}

// roleRef is an "@name" reference in a role's list.
type roleRef struct {
	to    string
	where string // "loom.yaml:12"
}

// builder merges the file and the dynamic outputs into an Inventory.
type builder struct {
	hosts    []*hostAcc
	index    map[string]*hostAcc
	declared map[string]bool      // roles that exist
	direct   map[string][]int     // role → hosts listed directly (may repeat)
	refs     map[string][]roleRef // role → references, in order
	refWhere map[string]string    // role → where it was first declared
}

func newBuilder() *builder {
	return &builder{
		index:    map[string]*hostAcc{},
		declared: map[string]bool{},
		direct:   map[string][]int{},
		refs:     map[string][]roleRef{},
		refWhere: map[string]string{},
	}
}

func (b *builder) host(name string) *hostAcc {
	if h := b.index[name]; h != nil {
		return h
	}
	h := &hostAcc{idx: len(b.hosts), name: name, roles: map[string]struct{}{}}
	b.hosts = append(b.hosts, h)
	b.index[name] = h
	return h
}

func (b *builder) addRole(h *hostAcc, role string) {
	b.declared[role] = true
	if _, ok := h.roles[role]; !ok {
		h.roles[role] = struct{}{}
		b.direct[role] = append(b.direct[role], h.idx)
	}
}

// apply merges one document. extra roles go to every host it names (a
// dynamic entry's roles:). loc formats a line of the document.
func (b *builder) apply(src source, extra []string, loc func(int) string) {
	for _, r := range extra {
		b.declared[r] = true
	}
	for _, d := range src.hosts {
		for _, name := range d.names {
			h := b.host(name)
			mergeSettings(&h.s, d.s)
			for _, r := range d.s.roles {
				b.addRole(h, r)
			}
			for _, r := range extra {
				b.addRole(h, r)
			}
		}
	}
	for _, rd := range src.roles {
		b.declared[rd.name] = true
		if _, ok := b.refWhere[rd.name]; !ok {
			b.refWhere[rd.name] = loc(rd.line)
		}
		for _, m := range rd.members {
			if m.ref != "" {
				b.refs[rd.name] = append(b.refs[rd.name], roleRef{to: m.ref, where: loc(m.line)})
				continue
			}
			for _, name := range m.names {
				h := b.host(name)
				b.addRole(h, rd.name)
				for _, r := range extra {
					b.addRole(h, r)
				}
			}
		}
	}
}

// mergeSettings lays src over dst: set fields replace, vars merge, roles
// are handled by the caller.
func mergeSettings(dst *settings, src settings) {
	if src.hasUser {
		dst.user, dst.hasUser = src.user, true
	}
	if src.hasPort {
		dst.port, dst.hasPort = src.port, true
	}
	if src.hasJump {
		dst.jump, dst.hasJump = src.jump, true
	}
	if len(src.vars) > 0 {
		if dst.vars == nil {
			dst.vars = map[string]string{}
		}
		maps.Copy(dst.vars, src.vars)
	}
}

// checkRefs verifies that the references of src name declared roles.
func (b *builder) checkRefs(src source, loc func(int) string) error {
	for _, rd := range src.roles {
		for _, m := range rd.members {
			if m.ref != "" && !b.declared[m.ref] {
				return fmt.Errorf("%s: role %q: unknown role \"@%s\" (%s)", loc(m.line), rd.name, m.ref, knownRoles(b.declared))
			}
		}
	}
	return nil
}

// knownRoles formats the declared role names for an error message.
func knownRoles(declared map[string]bool) string {
	if len(declared) == 0 {
		return "the inventory has no roles"
	}
	names := slices.Sorted(maps.Keys(declared))
	if len(names) > 30 {
		return fmt.Sprintf("known roles: %s, … (%d in all)", strings.Join(names[:30], ", "), len(names))
	}
	return "known roles: " + strings.Join(names, ", ")
}

// finish resolves role references and builds the Inventory.
func (b *builder) finish(path string, defaults settings, dynamic []Dynamic) (*Inventory, error) {
	// Cycle detection and closure, depth first.
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	members := map[string][]int{} // role → hosts, sorted, unique
	var stack []string
	var visit func(role string) error
	visit = func(role string) error {
		switch state[role] {
		case done:
			return nil
		case active:
			i := slices.Index(stack, role)
			cycle := append(append([]string(nil), stack[i:]...), role)
			where := b.refWhere[stack[len(stack)-1]]
			for _, r := range b.refs[stack[len(stack)-1]] {
				if r.to == role {
					where = r.where
					break
				}
			}
			return fmt.Errorf("%s: role cycle: @%s", where, strings.Join(cycle, " → @"))
		}
		state[role] = active
		stack = append(stack, role)
		set := slices.Clone(b.direct[role])
		for _, r := range b.refs[role] {
			if err := visit(r.to); err != nil {
				return err
			}
			set = append(set, members[r.to]...)
		}
		sort.Ints(set)
		members[role] = slices.Compact(set)
		stack = stack[:len(stack)-1]
		state[role] = done
		return nil
	}
	names := slices.Sorted(maps.Keys(b.declared))
	for _, r := range names {
		if err := visit(r); err != nil {
			return nil, err
		}
	}

	inv := &Inventory{
		path:    path,
		hosts:   make([]Host, len(b.hosts)),
		index:   make(map[string]int, len(b.hosts)),
		roles:   members,
		names:   names,
		dynamic: dynamic,
	}
	for i, h := range b.hosts {
		s := defaults
		s.vars = nil
		mergeSettings(&s, h.s)
		vars := make(map[string]string, len(defaults.vars)+len(s.vars))
		maps.Copy(vars, defaults.vars)
		maps.Copy(vars, s.vars)
		inv.hosts[i] = Host{Name: h.name, User: s.user, Port: s.port, Jump: s.jump, Vars: vars}
		inv.index[h.name] = i
	}
	for _, r := range names {
		for _, i := range members[r] {
			inv.hosts[i].Roles = append(inv.hosts[i].Roles, r) // names are sorted
		}
	}
	return inv, nil
}
