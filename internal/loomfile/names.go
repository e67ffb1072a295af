package loomfile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/loomssh/loom/internal/suggest"
)

// kebab turns a Go identifier into a command-line name: lower case, with a
// hyphen where a new word starts. RollingRestart → rolling-restart,
// DBMigrate → db-migrate, HTTPServer → http-server, S3Sync → s3-sync,
// Deploy2 → deploy2; an underscore becomes a hyphen.
func kebab(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 4)
	hyphen := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	for i, r := range rs {
		if r == '_' {
			hyphen()
			continue
		}
		if i > 0 && unicode.IsUpper(r) {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
				hyphen()
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return strings.TrimSuffix(b.String(), "-")
}

// key is the form names are compared in: lower case, without hyphens and
// underscores, with a Go-style "DB.Migrate" read as "db:migrate". So
// rolling-restart, rollingrestart, RollingRestart and rolling_restart are
// one name.
func key(s string) string {
	s = strings.ToLower(s)
	s = strings.ReplaceAll(s, ".", ":")
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' {
			return -1
		}
		return r
	}, s)
}

// Flag returns the parameter's flag, "--" and its name in kebab case:
// dryRun → --dry-run.
func (p *Param) Flag() string { return "--" + kebab(p.Name) }

// Metavar returns the parameter's name as usage lines show a positional
// argument: dryRun → DRY_RUN.
func (p *Param) Metavar() string {
	return strings.ToUpper(strings.ReplaceAll(kebab(p.Name), "-", "_"))
}

// Resolve returns the task a name on the command line stands for. Names
// are compared ignoring case, hyphens and underscores, so rolling-restart,
// rollingrestart and RollingRestart all name task rolling-restart, and
// db:migrate, DB:Migrate and DB.Migrate name db:migrate. An alias stands
// for its task. The empty name stands for the default task.
//
// An unknown name is an error suggesting the nearest task or alias.
func (info *Info) Resolve(name string) (*Task, error) {
	if name == "" {
		if info.Default == "" {
			return nil, errors.New("no task named, and the loomfile has no default task (var Default = Task)")
		}
		name = info.Default
	}
	k := key(name)
	for _, t := range info.Tasks {
		if key(t.Name) == k {
			return t, nil
		}
	}
	for a, target := range info.Aliases {
		if key(a) == k {
			for _, t := range info.Tasks {
				if t.Name == target {
					return t, nil
				}
			}
			return nil, fmt.Errorf("alias %s: no task %s", a, target)
		}
	}
	var inNamespace []string
	for _, t := range info.Tasks {
		if strings.HasPrefix(key(t.Name), k+":") {
			inNamespace = append(inNamespace, t.Name)
		}
	}
	if len(inNamespace) > 0 {
		return nil, fmt.Errorf("unknown task %q (namespace %s has %s)", name, strings.ToLower(name), strings.Join(inNamespace, ", "))
	}
	if s := info.suggest(name); s != "" {
		return nil, fmt.Errorf("unknown task %q (did you mean %s?)", name, s)
	}
	if len(info.Tasks) == 0 {
		return nil, fmt.Errorf("unknown task %q (the loomfile has no tasks)", name)
	}
	return nil, fmt.Errorf("unknown task %q (loom -l lists the tasks)", name)
}

// suggest returns the task or alias name nearest to name, or "" if none is
// near (see near), or else the only name starting with it.
func (info *Info) suggest(name string) string {
	k := key(name)
	if k == "" {
		return ""
	}
	names := make([]string, 0, len(info.Tasks)+len(info.Aliases))
	for _, t := range info.Tasks {
		names = append(names, t.Name)
	}
	for a := range info.Aliases {
		names = append(names, a)
	}
	slices.Sort(names)
	best, bestD := "", 0
	var prefixed []string
	for _, n := range names {
		nk := key(n)
		if d, ok := near(k, nk); ok && (best == "" || d < bestD) {
			best, bestD = n, d
		}
		if strings.HasPrefix(nk, k) {
			prefixed = append(prefixed, n)
		}
	}
	if best == "" && len(prefixed) == 1 {
		best = prefixed[0]
	}
	return best
}

// suggestParam returns the parameter of t nearest to a flag name, or nil.
func suggestParam(t *Task, name string) *Param {
	k := key(name)
	var best *Param
	bestD := 0
	for i := range t.Params {
		if d, ok := near(k, key(t.Params[i].Name)); ok && (best == nil || d < bestD) {
			best, bestD = &t.Params[i], d
		}
	}
	return best
}

// near is suggest.Near: whether name is near enough to typed to suggest.
func near(typed, name string) (int, bool) { return suggest.Near(typed, name) }

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
