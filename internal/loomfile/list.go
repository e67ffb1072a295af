package loomfile

import (
	"fmt"
	"go/doc"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode"
)

// Usage returns the task's usage, without the leading "loom ": its name,
// then its required arguments in order, then the optional ones, then a
// variadic one:
//
//	deploy VERSION HOSTS,... [--count=INT] [--dry-run] [--wait=30s] [--branch=BRANCH] [SERVICES...]
//
// VERSION is required (positional, or --version=...); HOSTS,... a required
// comma list; [--count=INT] an optional argument given by name, with the
// value's type (INT, NUMBER, BOOL, DURATION) or, for strings and text
// types, the parameter's name; [--dry-run] an optional bool, true when
// named alone; [--wait=30s] an argument with a default, given by name,
// shown with its default; [SERVICES...] a variadic argument.
func (t *Task) Usage() string {
	parts := []string{t.Name}
	for i := range t.Params {
		if p := &t.Params[i]; p.required() {
			parts = append(parts, positional(p))
		}
	}
	for i := range t.Params {
		switch p := &t.Params[i]; {
		case p.HasDefault:
			parts = append(parts, "["+p.Flag()+"="+word(p.Default)+"]")
		case p.Optional:
			parts = append(parts, "["+named(p)+"]")
		}
	}
	for i := range t.Params {
		if p := &t.Params[i]; p.Variadic {
			parts = append(parts, "["+p.Metavar()+"...]")
		}
	}
	return strings.Join(parts, " ")
}

// positional is how a usage line shows a required argument.
func positional(p *Param) string {
	if p.Slice {
		return p.Metavar() + ",..."
	}
	return p.Metavar()
}

// named is how a usage line shows an argument given by name.
func named(p *Param) string {
	switch {
	case p.Kind == KindBool && !p.Slice:
		return p.Flag()
	case p.Slice:
		return p.Flag() + "=" + valueHint(p) + ",..."
	}
	return p.Flag() + "=" + valueHint(p)
}

// listing is the short form of a task in List: its name and its
// positional arguments (the optional ones are in its help).
func (t *Task) listing() string {
	parts := []string{t.Name}
	for i := range t.Params {
		p := &t.Params[i]
		switch {
		case p.Variadic:
			parts = append(parts, "["+p.Metavar()+"...]")
		case p.required():
			parts = append(parts, positional(p))
		}
	}
	return strings.Join(parts, " ")
}

// summary is the synopsis as List shows it: without a leading function
// name ("Deploy ships…" → "ships…"), which Go doc comments start with and
// the listing already shows.
func (t *Task) summary() string {
	s := t.Synopsis
	name := t.Func
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	if rest, ok := strings.CutPrefix(s, name+" "); ok {
		s = rest
	}
	return oneLine(s)
}

// oneLine keeps text on one line, whatever a comment holds.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// List prints the tasks, as `loom -l` does: one line each, aligned, with
// the task's name and positional arguments, whether it runs on each host
// or once locally (with the roles and hosts a host task runs on by
// default, as -R and -H would select them), and its synopsis; the default
// task is marked, and the aliases follow.
//
//	Tasks:
//	  build                  local        compiles the release binary
//	  db:migrate             host         applies the pending migrations
//	  deploy VERSION         host -R web  (default) ships VERSION to every web host
//
//	Aliases: d = deploy, m = db:migrate
//
//	loom -h TASK shows a task's arguments and its whole doc comment.
func (info *Info) List(w io.Writer) {
	if len(info.Tasks) == 0 {
		fmt.Fprintln(w, "No tasks: a task is an exported function taking a *loom.Conn, a context.Context or nothing first, returning nothing or an error.")
		return
	}
	fmt.Fprintln(w, "Tasks:")
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, t := range info.Tasks {
		s := t.summary()
		if t.Name == info.Default {
			s = strings.TrimSpace("(default) " + s)
		}
		kind := t.Kind.String()
		if to := t.targets(); to != "" {
			kind += " " + to
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.listing(), kind, s)
	}
	tw.Flush()
	io.WriteString(w, trimLines(b.String()))
	if len(info.Aliases) > 0 {
		fmt.Fprintf(w, "\nAliases: %s\n", strings.Join(info.aliasList(""), ", "))
	}
	fmt.Fprintln(w, "\nloom -h TASK shows a task's arguments and its whole doc comment.")
}

// aliasList returns "alias = task" for every alias, sorted; with task set,
// only the aliases of that task, and only the alias names.
func (info *Info) aliasList(task string) []string {
	var out []string
	for a, t := range info.Aliases {
		switch {
		case task == "":
			out = append(out, a+" = "+t)
		case t == task:
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// Help prints one task's help, as `loom -h TASK` does: the usage line, the
// whole doc comment, where the task runs and the settings the loomfile
// gives it (loom.Task), each argument with its type and default, the
// task's aliases, and where it is declared. name may be any form Resolve
// accepts; an unknown name is an error suggesting the nearest task.
func (info *Info) Help(w io.Writer, name string) error {
	t, err := info.Resolve(name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Usage: loom %s\n", t.Usage())
	if t.Doc != "" {
		pr := new(doc.Package).Printer()
		pr.TextPrefix = "  "
		pr.TextCodePrefix = "      "
		pr.TextWidth = 76
		fmt.Fprintf(w, "\n%s", pr.Text(new(doc.Package).Parser().Parse(t.Doc)))
	}
	fmt.Fprintln(w)
	switch {
	case t.Kind == Host && t.Settings.Once:
		fmt.Fprintln(w, "A host task: runs on the first selected host (-H, -R) only.")
	case t.Kind == Host:
		fmt.Fprintln(w, "A host task: runs on every selected host (-H, -R), each with its own connection.")
	default:
		fmt.Fprintln(w, "A local task: runs once, on this machine. The groups it opens (loom.NewGroup,")
		fmt.Fprintln(w, "loom.Execute) keep their own hosts; -H and -R only narrow them (a group runs")
		fmt.Fprintln(w, "on those of its hosts they name, and on none if they name none of them).")
	}
	if line := t.settingsLine(); line != "" {
		fmt.Fprintln(w, line)
	}
	if len(t.Params) > 0 {
		fmt.Fprintln(w, "\nArguments:")
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for i := range t.Params {
			p := &t.Params[i]
			var how, what string
			switch {
			case p.Variadic:
				how, what = "["+p.Metavar()+"...]", "the rest of the positional words, one value each"
			case p.Optional && p.Kind == KindBool && !p.Slice:
				how, what = "["+named(p)+"]", "optional; "+p.Flag()+" alone means true"
			case p.Optional:
				how, what = "["+named(p)+"]", "optional"
			case p.HasDefault:
				how, what = "["+named(p)+"]", "optional; default "+word(p.Default)
				if p.Kind == KindBool && !p.Slice {
					what += "; " + p.Flag() + " alone means true"
				}
			default:
				how, what = positional(p), "required; positional, or "+named(p)
			}
			if p.Slice && !p.Variadic {
				what += "; a comma-separated list, or named several times"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", how, oneLine(p.Type), what)
		}
		tw.Flush()
		io.WriteString(w, trimLines(b.String()))
	}
	var notes []string
	if as := info.aliasList(t.Name); len(as) > 0 {
		notes = append(notes, "Aliases: "+strings.Join(as, ", ")+".")
	}
	if t.Name == info.Default {
		notes = append(notes, "The default task: runs when loom is given no task.")
	}
	if t.Settings.Pos != "" {
		notes = append(notes, "Settings at "+t.Settings.Pos+".")
	}
	notes = append(notes, "Declared at "+t.Pos+" ("+t.Func+").")
	fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	return nil
}

// trimLines removes the spaces tabwriter leaves at the end of lines whose
// last cell is empty.
func trimLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if body, ok := strings.CutSuffix(l, "\n"); ok {
			lines[i] = strings.TrimRight(body, " ") + "\n"
		}
	}
	return strings.Join(lines, "")
}
