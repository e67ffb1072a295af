package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/loomssh/loom/internal/hostlist"
	"github.com/loomssh/loom/internal/suggest"
	"go.yaml.in/yaml/v3"
)

// settings are the per-host keys of the schema (also those of defaults).
type settings struct {
	user, jump       string
	port             int
	hasUser, hasJump bool
	hasPort          bool
	roles            []string
	vars             map[string]string
}

// hostDecl is one entry of a hosts: section.
type hostDecl struct {
	line  int
	names []string
	s     settings
}

// member is one entry of a role's list: a role reference or hosts.
type member struct {
	line  int
	ref   string   // role name of an "@name" reference
	names []string // expanded hosts otherwise
}

// roleDecl is one entry of a roles: section.
type roleDecl struct {
	name    string
	line    int
	members []member
}

// source is one document: the inventory file or a dynamic command's output.
type source struct {
	hosts []hostDecl
	roles []roleDecl
}

// model is a parsed inventory file.
type model struct {
	source
	defaults settings
	dynamic  []Dynamic
	settings []Setting
}

// parser walks a yaml.Node tree into a model, with errors naming
// "where:line".
type parser struct {
	loc    func(line int) string // "loom.yaml:12"
	budget int                   // hosts left to expand
	visits int                   // nodes visited, at most limit
	limit  int                   // maximum visits, from the document's size
}

// maxHosts caps the hosts expanded from one document (a variable so that
// tests can lower it).
var maxHosts = hostlist.MaxHosts

// visit counts one node visited and fails when aliases and merge keys
// make the walk much larger than the document (a "billion laughs").
func (p *parser) visit(n *yaml.Node) error {
	p.visits++
	if p.visits > p.limit {
		return p.errf(n, "the document is too complex (YAML aliases expand too much)")
	}
	return nil
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return fmt.Errorf("%s: %s", p.loc(line), fmt.Sprintf(format, args...))
}

// decode parses YAML text into its root node; nil for an empty document.
func (p *parser) decode(data []byte) (root *yaml.Node, err error) {
	p.limit = 1<<16 + 8*len(data)
	defer func() {
		if r := recover(); r != nil { // never let a YAML bug take the CLI down
			root, err = nil, fmt.Errorf("%s: invalid YAML: %v", p.loc(0), r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, p.yamlError(err, data)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, p.errf(&extra, "a second YAML document: an inventory is one document")
	} else if !errors.Is(err, io.EOF) {
		return nil, p.yamlError(err, data)
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns "yaml: line 3: msg" into "file:3: msg" on one line.
func (p *parser) yamlError(err error, data []byte) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return fmt.Errorf("%s: %s", p.loc(0), strings.TrimPrefix(msg, "yaml: "))
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	// yaml.v3 reports parser (not scanner) errors one line early.
	if strings.HasPrefix(text, "did not find expected") {
		line++
	}
	if (strings.Contains(text, "expected ',' or ']'") || strings.Contains(text, "cannot start any token")) && flowPattern(data, line) {
		text += ` (quote host ranges and @role references inside [ ]: ["web[1-4]", "@db"])`
	}
	if strings.Contains(text, "cannot start any token") && lineHas(data, line, "\t") {
		text += " (a tab: indent YAML with spaces)"
	}
	return fmt.Errorf("%s: %s", p.loc(line), text)
}

// lineHas reports whether line (1-based) of data contains s.
func lineHas(data []byte, line int, s string) bool {
	lines := bytes.Split(data, []byte("\n"))
	return line >= 1 && line <= len(lines) && bytes.Contains(lines[line-1], []byte(s))
}

// flowPattern reports whether line (1-based) of data looks like an
// unquoted host range or @reference inside a [ ] list.
func flowPattern(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return false
	}
	l := lines[line-1]
	return bytes.Count(l, []byte("[")) > 1 || (bytes.Contains(l, []byte("[")) && bytes.Contains(l, []byte("@")))
}

// deref follows an alias.
func (p *parser) deref(n *yaml.Node) (*yaml.Node, error) {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if err := p.visit(n); err != nil {
			return nil, err
		}
		if n.Alias == nil || i > 16 {
			return nil, p.errf(n, "broken YAML alias")
		}
		n = n.Alias
	}
	return n, nil
}

// pair is one key/value of a mapping.
type pair struct{ k, v *yaml.Node }

// pairs lists a mapping's entries, with YAML merge keys ("<<: *anchor")
// resolved: explicit keys win over merged ones, earlier merged mappings
// over later ones. Duplicate explicit keys are errors.
func (p *parser) pairs(n *yaml.Node, what string) ([]pair, error) {
	return p.pairsDepth(n, what, 0)
}

func (p *parser) pairsDepth(n *yaml.Node, what string, depth int) ([]pair, error) {
	if depth > 8 {
		return nil, p.errf(n, "%s: merge keys nested too deeply", what)
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%s must be a mapping, not %s", what, kindName(n))
	}
	var own, merged []pair
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := p.deref(n.Content[i])
		if err != nil {
			return nil, err
		}
		v := n.Content[i+1]
		if err := p.visit(k); err != nil {
			return nil, err
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			vv, err := p.deref(v)
			if err != nil {
				return nil, err
			}
			srcs := []*yaml.Node{vv}
			if vv.Kind == yaml.SequenceNode {
				srcs = vv.Content
			}
			for _, s := range srcs {
				s, err := p.deref(s)
				if err != nil {
					return nil, err
				}
				ps, err := p.pairsDepth(s, what+" (merge key <<)", depth+1)
				if err != nil {
					return nil, err
				}
				merged = append(merged, ps...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			return nil, p.errf(k, "%s: a key must be a plain string, not %s", what, kindName(k))
		}
		if l, dup := first[k.Value]; dup {
			return nil, p.errf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, l)
		}
		first[k.Value] = k.Line
		own = append(own, pair{k, v})
	}
	for _, m := range merged {
		if _, ok := first[m.k.Value]; !ok {
			first[m.k.Value] = m.k.Line
			own = append(own, m)
		}
	}
	return own, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// isNull reports an empty value ("key:" or "key: ~").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// scalar returns a scalar's text; lists and mappings are errors.
func (p *parser) scalar(n *yaml.Node, what string) (string, *yaml.Node, error) {
	n, err := p.deref(n)
	if err != nil {
		return "", nil, err
	}
	if n.Kind != yaml.ScalarNode {
		return "", nil, p.errf(n, "%s must be a single value, not %s", what, kindName(n))
	}
	if isNull(n) {
		return "", n, nil
	}
	return n.Value, n, nil
}

// list returns the scalars of a list; a single scalar is split at commas
// (hostlist.Split: commas inside brackets stay); empty is no items.
func (p *parser) list(n *yaml.Node, what string) ([]string, []*yaml.Node, error) {
	n, err := p.deref(n)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case isNull(n):
		return nil, nil, nil
	case n.Kind == yaml.ScalarNode:
		items := hostlist.Split(n.Value)
		nodes := make([]*yaml.Node, len(items))
		for i := range nodes {
			nodes[i] = n
		}
		return items, nodes, nil
	case n.Kind != yaml.SequenceNode:
		return nil, nil, p.errf(n, "%s must be a list, not %s", what, kindName(n))
	}
	var items []string
	var nodes []*yaml.Node
	for _, c := range n.Content {
		if err := p.visit(c); err != nil {
			return nil, nil, err
		}
		s, cn, err := p.scalar(c, what+" item")
		if err != nil {
			return nil, nil, err
		}
		if s == "" {
			return nil, nil, p.errf(cn, "%s: empty item", what)
		}
		items = append(items, s)
		nodes = append(nodes, cn)
	}
	return items, nodes, nil
}

var topKeys = []string{"defaults", "hosts", "roles", "dynamic", "settings"}
var outputKeys = []string{"hosts", "roles"}
var hostKeys = []string{"user", "port", "jump", "roles", "vars"}
var defaultKeys = []string{"user", "port", "jump", "vars"}
var dynamicKeys = []string{"command", "roles", "timeout"}

// unknownKey is the error for a key the schema does not have.
func (p *parser) unknownKey(k *yaml.Node, what string, known []string) error {
	hint := ""
	if s := closest(k.Value, known); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	return p.errf(k, "%s: unknown key %q (known: %s%s)", what, k.Value, strings.Join(known, ", "), hint)
}

// parseDoc parses an inventory file (all four sections allowed) or, with
// output set, a dynamic command's output (hosts and roles only).
func (p *parser) parseDoc(root *yaml.Node, output bool) (*model, error) {
	m := &model{}
	if root == nil {
		return m, nil
	}
	root, err := p.deref(root)
	if err != nil {
		return nil, err
	}
	if isNull(root) {
		return m, nil
	}
	known := topKeys
	if output {
		known = outputKeys
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "the top level must be a mapping with the keys %s, not %s", strings.Join(known, ", "), kindName(root))
	}
	ps, err := p.pairs(root, "top level")
	if err != nil {
		return nil, err
	}
	for _, kv := range ps {
		switch k := kv.k.Value; {
		case k == "defaults" && !output:
			v, err := p.deref(kv.v)
			if err != nil {
				return nil, err
			}
			if isNull(v) {
				continue
			}
			if m.defaults, err = p.settings(v, "defaults", defaultKeys); err != nil {
				return nil, err
			}
		case k == "hosts":
			if m.hosts, err = p.hostsSection(kv.v); err != nil {
				return nil, err
			}
		case k == "roles":
			if m.roles, err = p.rolesSection(kv.v); err != nil {
				return nil, err
			}
		case k == "dynamic" && !output:
			if m.dynamic, err = p.dynamicSection(kv.v); err != nil {
				return nil, err
			}
		case k == "settings" && !output:
			if m.settings, err = p.settingsSection(kv.v); err != nil {
				return nil, err
			}
		default:
			return nil, p.unknownKey(kv.k, "top level", known)
		}
	}
	return m, nil
}

// hostsSection parses "hosts:": a mapping of patterns to settings, or a
// list of patterns.
func (p *parser) hostsSection(n *yaml.Node) ([]hostDecl, error) {
	n, err := p.deref(n)
	if err != nil {
		return nil, err
	}
	if isNull(n) {
		return nil, nil
	}
	var out []hostDecl
	if n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			pat, cn, err := p.scalar(c, "hosts: item")
			if err != nil {
				return nil, err
			}
			names, err := p.expand(cn, pat, "hosts")
			if err != nil {
				return nil, err
			}
			out = append(out, hostDecl{line: cn.Line, names: names})
		}
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "hosts: must be a mapping of host patterns to settings (or a list of host patterns), not %s", kindName(n))
	}
	ps, err := p.pairs(n, "hosts")
	if err != nil {
		return nil, err
	}
	for _, kv := range ps {
		names, err := p.expand(kv.k, kv.k.Value, "hosts")
		if err != nil {
			return nil, err
		}
		d := hostDecl{line: kv.k.Line, names: names}
		v, err := p.deref(kv.v)
		if err != nil {
			return nil, err
		}
		if !isNull(v) {
			if d.s, err = p.settings(v, fmt.Sprintf("host %q", kv.k.Value), hostKeys); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// settings parses a host's (or the defaults') settings mapping.
func (p *parser) settings(n *yaml.Node, what string, known []string) (settings, error) {
	var s settings
	if n.Kind != yaml.MappingNode {
		return s, p.errf(n, "%s: settings must be a mapping (keys %s), not %s", what, strings.Join(known, ", "), kindName(n))
	}
	ps, err := p.pairs(n, what)
	if err != nil {
		return s, err
	}
	for _, kv := range ps {
		key := kv.k.Value
		if !slices.Contains(known, key) {
			if key == "roles" {
				return s, p.errf(kv.k, "%s: roles are given per host or in the roles: section, not in defaults", what)
			}
			if key == "persist" {
				// One place for it: settings: persist: (--persist).
				if what == "defaults" {
					v := kv.v.Value
					if kv.v.Kind != yaml.ScalarNode || v == "" || strings.ContainsAny(v, "\n\r") {
						v = "10m"
					}
					return s, p.errf(kv.k, "defaults: persist: is a setting of the run: write it under settings: (settings: {persist: %s}), as --persist", v)
				}
				return s, p.errf(kv.k, "%s: persist is set for every host, in settings: (for one host: ssh_config ControlMaster auto and ControlPersist)", what)
			}
			return s, p.unknownKey(kv.k, what, known)
		}
		field := what + ": " + key
		switch key {
		case "user":
			v, vn, err := p.scalar(kv.v, field)
			if err != nil {
				return s, err
			}
			if err := checkUser(v); err != nil {
				return s, p.errf(vn, "%s: %v", field, err)
			}
			s.user, s.hasUser = v, true
		case "jump":
			v, vn, err := p.scalar(kv.v, field)
			if err != nil {
				return s, err
			}
			if err := checkJump(v); err != nil {
				return s, p.errf(vn, "%s: %v", field, err)
			}
			s.jump, s.hasJump = v, true
		case "port":
			v, vn, err := p.scalar(kv.v, field)
			if err != nil {
				return s, err
			}
			port, ok := parsePort(v)
			if !ok {
				return s, p.errf(vn, "%s: must be a number from 1 to 65535, not %q", field, v)
			}
			s.port, s.hasPort = port, true
		case "roles":
			names, nodes, err := p.list(kv.v, field)
			if err != nil {
				return s, err
			}
			for i, r := range names {
				if err := checkRole(r); err != nil {
					return s, p.errf(nodes[i], "%s: %v", field, err)
				}
				s.roles = append(s.roles, r)
			}
		case "vars":
			if s.vars, err = p.vars(kv.v, field); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

// vars parses a mapping of scalar values, kept as written.
func (p *parser) vars(n *yaml.Node, what string) (map[string]string, error) {
	n, err := p.deref(n)
	if err != nil {
		return nil, err
	}
	if isNull(n) {
		return nil, nil
	}
	ps, err := p.pairs(n, what)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ps))
	for _, kv := range ps {
		if kv.k.Value == "" {
			return nil, p.errf(kv.k, "%s: empty variable name", what)
		}
		v, _, err := p.scalar(kv.v, fmt.Sprintf("%s: %s", what, kv.k.Value))
		if err != nil {
			return nil, err
		}
		out[kv.k.Value] = v
	}
	return out, nil
}

// rolesSection parses "roles:": role name → list of hosts, ranges and
// @role references.
func (p *parser) rolesSection(n *yaml.Node) ([]roleDecl, error) {
	n, err := p.deref(n)
	if err != nil {
		return nil, err
	}
	if isNull(n) {
		return nil, nil
	}
	ps, err := p.pairs(n, "roles")
	if err != nil {
		return nil, err
	}
	var out []roleDecl
	for _, kv := range ps {
		name := kv.k.Value
		if err := checkRole(name); err != nil {
			return nil, p.errf(kv.k, "roles: %v", err)
		}
		what := fmt.Sprintf("role %q", name)
		items, nodes, err := p.list(kv.v, what)
		if err != nil {
			return nil, err
		}
		d := roleDecl{name: name, line: kv.k.Line}
		for i, it := range items {
			if ref, ok := strings.CutPrefix(it, "@"); ok {
				if err := checkRole(ref); err != nil {
					return nil, p.errf(nodes[i], "%s: %v", what, err)
				}
				d.members = append(d.members, member{line: nodes[i].Line, ref: ref})
				continue
			}
			names, err := p.expand(nodes[i], it, what)
			if err != nil {
				return nil, err
			}
			d.members = append(d.members, member{line: nodes[i].Line, names: names})
		}
		out = append(out, d)
	}
	return out, nil
}

// dynamicSection parses "dynamic:", a list of command entries.
func (p *parser) dynamicSection(n *yaml.Node) ([]Dynamic, error) {
	n, err := p.deref(n)
	if err != nil {
		return nil, err
	}
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "dynamic: must be a list of entries like \"- command: ./hosts.sh\", not %s", kindName(n))
	}
	var out []Dynamic
	for _, c := range n.Content {
		c, err := p.deref(c)
		if err != nil {
			return nil, err
		}
		ps, err := p.pairs(c, "dynamic: entry")
		if err != nil {
			return nil, err
		}
		d := Dynamic{Timeout: DefaultTimeout, Line: c.Line}
		for _, kv := range ps {
			switch kv.k.Value {
			case "command":
				v, vn, err := p.scalar(kv.v, "dynamic: command")
				if err != nil {
					return nil, err
				}
				if strings.TrimSpace(v) == "" {
					return nil, p.errf(vn, "dynamic: command is empty")
				}
				d.Command = v
			case "roles":
				names, nodes, err := p.list(kv.v, "dynamic: roles")
				if err != nil {
					return nil, err
				}
				for i, r := range names {
					if err := checkRole(r); err != nil {
						return nil, p.errf(nodes[i], "dynamic: roles: %v", err)
					}
				}
				d.Roles = names
			case "timeout":
				v, vn, err := p.scalar(kv.v, "dynamic: timeout")
				if err != nil {
					return nil, err
				}
				t, err := time.ParseDuration(v)
				if err != nil || t <= 0 {
					return nil, p.errf(vn, "dynamic: timeout must be a positive duration with a unit, like 10s or 2m, not %q", v)
				}
				d.Timeout = t
			default:
				return nil, p.unknownKey(kv.k, "dynamic: entry", dynamicKeys)
			}
		}
		if d.Command == "" {
			return nil, p.errf(c, "dynamic: entry without a command")
		}
		d.Roles = sortedUnique(d.Roles)
		out = append(out, d)
	}
	return out, nil
}

// settingsSection parses "settings:": a mapping of SettingKeys to a
// value, or to a list of values (batch: [1, 5, 25%]), which is joined
// with commas as the flag takes it.
func (p *parser) settingsSection(n *yaml.Node) ([]Setting, error) {
	n, err := p.deref(n)
	if err != nil {
		return nil, err
	}
	if isNull(n) {
		return nil, nil
	}
	ps, err := p.pairs(n, "settings")
	if err != nil {
		return nil, err
	}
	var out []Setting
	for _, kv := range ps {
		if !slices.Contains(SettingKeys, kv.k.Value) {
			return nil, p.unknownKey(kv.k, "settings", SettingKeys)
		}
		v, err := p.deref(kv.v)
		if err != nil {
			return nil, err
		}
		var value string
		switch {
		case v.Kind == yaml.SequenceNode:
			items, _, err := p.list(v, "settings: "+kv.k.Value)
			if err != nil {
				return nil, err
			}
			value = strings.Join(items, ",")
		default:
			if value, _, err = p.scalar(v, "settings: "+kv.k.Value); err != nil {
				return nil, err
			}
		}
		if value == "" {
			return nil, p.errf(kv.k, "settings: %s has no value (leave the key out for the default)", kv.k.Value)
		}
		out = append(out, Setting{Key: kv.k.Value, Value: value, Where: p.loc(kv.k.Line)})
	}
	return out, nil
}

// expand expands a host pattern (or comma list of them) of the file into
// checked host names.
func (p *parser) expand(n *yaml.Node, pattern, what string) ([]string, error) {
	items := hostlist.Split(pattern)
	if len(items) == 0 {
		return nil, p.errf(n, "%s: empty host name", what)
	}
	var out []string
	for _, it := range items {
		names, err := hostlist.ExpandLimit(it, max(p.budget, 1))
		if err != nil {
			if p.budget < 1 || strings.Contains(err.Error(), "expands to more than") {
				return nil, p.errf(n, "%s: more than %d hosts in all (at %q)", what, maxHosts, it)
			}
			return nil, p.errf(n, "%s: %v", what, err)
		}
		p.budget -= len(names)
		for i, h := range names {
			h, err := checkHost(h)
			if err != nil {
				return nil, p.errf(n, "%s: %v", what, err)
			}
			names[i] = h
		}
		out = append(out, names...)
	}
	return out, nil
}

// checkHost validates an inventory host name and returns it normalized
// (an IPv6 address without brackets).
func checkHost(h string) (string, error) {
	switch {
	case strings.HasPrefix(h, "-"):
		return "", fmt.Errorf("invalid host %q: must not start with '-'", h)
	case strings.ContainsAny(h, "@"):
		return "", fmt.Errorf("host %q: give the user with the user: setting, not in the name", h)
	case strings.ContainsAny(h, "*?"):
		return "", fmt.Errorf("host %q: globs are not host names (list the hosts or use a range like web[1-9])", h)
	case strings.ContainsAny(h, "/\\'\"`$;&|<>(){}"):
		return "", fmt.Errorf("invalid character in host %q", h)
	case strings.Contains(h, ":"):
		bare := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if _, err := netip.ParseAddr(bare); err == nil && !strings.Contains(bare, "[") && !strings.Contains(bare, "]") {
			return bare, nil
		}
		return "", fmt.Errorf("host %q: give the port with the port: setting, not in the name", h)
	case strings.ContainsAny(h, "[]"):
		return "", fmt.Errorf("invalid host %q", h)
	}
	return h, nil
}

func checkUser(u string) error {
	switch {
	case u == "":
		return errors.New("empty user")
	case strings.HasPrefix(u, "-"):
		return fmt.Errorf("invalid user %q: must not start with '-'", u)
	case strings.ContainsFunc(u, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '@' || r == '/' || r == ':'
	}):
		return fmt.Errorf("invalid user %q", u)
	}
	return nil
}

func checkJump(j string) error {
	switch {
	case j == "":
		return errors.New(`empty jump host (write "none" for no jump host)`)
	case strings.HasPrefix(j, "-"):
		return fmt.Errorf("invalid jump host %q: must not start with '-'", j)
	case strings.ContainsFunc(j, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Errorf("invalid jump host %q", j)
	}
	return nil
}

// checkRole validates a role name: letters, digits, '_', '-' and '.',
// starting with a letter, digit or '_'.
func checkRole(r string) error {
	if r == "" {
		return errors.New("empty role name")
	}
	if r == AllRole {
		return errors.New(`role "all" is every host of the inventory, always: it cannot be declared`)
	}
	for i, c := range r {
		ok := c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c) || (i > 0 && (c == '-' || c == '.'))
		if !ok {
			if c == '@' {
				return fmt.Errorf("invalid role name %q: write role names without '@' (only references in a role's list take it)", r)
			}
			return fmt.Errorf("invalid role name %q (letters, digits, '_', '-', '.')", r)
		}
	}
	return nil
}

// parsePort parses a decimal port in 1..65535.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, _ := strconv.Atoi(s)
	return n, n >= 1 && n <= 65535
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[j-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}

// closest returns the known word nearest to s (edit distance at most 2).
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := suggest.Distance(strings.ToLower(s), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}
