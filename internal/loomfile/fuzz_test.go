package loomfile

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// goType is the Go type Bind gives a parameter's Parsed value.
func goType(p *Param) string {
	base := map[Kind]string{
		KindString: "string", KindText: "string", KindInt: "int", KindInt64: "int64",
		KindFloat64: "float64", KindBool: "bool", KindDuration: "time.Duration",
	}[p.Kind]
	if p.Slice {
		base = "[]" + base
	}
	if p.Optional {
		base = "*" + base
	}
	return base
}

// FuzzBind checks that Bind never panics, that its errors are one line
// naming the task, and that what it accepts is consistent: one value per
// parameter of the right Go type, every required one given, rest a suffix
// of the arguments, and binding the consumed words alone gives the same.
func FuzzBind(f *testing.F) {
	var tasks []*Task
	for _, src := range []string{deployLoomfile, smallLoomfile} {
		tasks = append(tasks, mustParse(f, src).Tasks...)
	}
	info, err := parseSources(settingsLoomfile)
	if err != nil {
		f.Fatal(err)
	}
	tasks = append(tasks, info.Tasks...) // arguments with defaults
	for _, s := range []string{
		"v2\x0010s",
		"v2\x0010s\x00build",
		"--version=v2\x00--wait\x001m\x00--dry-run",
		"--count\x00--dry-run",
		"a,b\x00--hosts=c,,d\x00--pause=-1h",
		"app\x00--\x00deploy",
		"100\x001e9\x00info,warn\x00--verbose=0",
		"--=\x00--\x00-",
		"--services=\x00x\x00--services",
		"v2\x00--wait=1m\x00--tags=\x00--verbose\x00next",
		"--channel\x00beta\x00--retries=3\x00deploy",
	} {
		for i := range tasks {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, s string) {
		tk := tasks[int(which)%len(tasks)]
		args := strings.Split(s, "\x00")
		vals, rest, err := Bind(tk, args)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, tk.Name+": ") {
				t.Fatalf("error does not name the task: %q", msg)
			}
			return
		}
		if len(vals) != len(tk.Params) {
			t.Fatalf("%d values for %d params", len(vals), len(tk.Params))
		}
		for i, v := range vals {
			p := &tk.Params[i]
			if v.Param != p {
				t.Fatalf("value %d is for another parameter", i)
			}
			if p.required() && !v.Given {
				t.Fatalf("required %s not given, no error", p.Name)
			}
			if p.HasDefault && !v.Given && v.Raw != p.Default {
				t.Fatalf("%s left out: Raw %q, want the default %q", p.Name, v.Raw, p.Default)
			}
			if got, want := fmt.Sprintf("%T", v.Parsed), goType(p); got != want {
				t.Fatalf("%s: Parsed is %s, want %s", p.Name, got, want)
			}
		}
		if len(rest) > len(args) || !slices.Equal(rest, args[len(args)-len(rest):]) {
			t.Fatalf("rest %q is not a suffix of %q", rest, args)
		}
		vals2, rest2, err := Bind(tk, args[:len(args)-len(rest)])
		if err != nil || len(rest2) != 0 || !reflect.DeepEqual(vals, vals2) {
			t.Fatalf("binding the consumed words again: %v, rest %q", err, rest2)
		}
	})
}

// FuzzParse checks that parsing any source never panics, that its errors
// are one line naming the file, and that what it accepts can be listed,
// helped and resolved, and its defaults bound.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		deployLoomfile,
		smallLoomfile,
		"package main\nfunc A(x ...int) {}\nvar Default = A\n",
		"package main\nimport l \"github.com/loomssh/loom\"\ntype N l.Namespace\nfunc (*N) M(c *l.Conn, a *[]string) error { return nil }\nvar Aliases = map[string]any{\"m\": N.M}\n",
		"package main\nfunc A(a, b context.Context) {}\n",
		"package main\nvar Aliases = map[string]any{1: A}\n",
		"package main\nfunc (x) A() {}\nfunc (T[int]) B() {}\n",
		"package main\nimport l \"github.com/loomssh/loom\"\nfunc A(c *l.Conn, n int, d []float64) {}\nfunc init() {\n\tl.Task(A, l.OnRoles(\"web\"), l.Parallel(-0x1), l.Batches(l.Percent(1e2)), l.ArgDefault(\"n\", \"3\"), l.ArgDefault(\"D\", \"1,2.5\"))\n}\n",
		"package main\nimport . \"github.com/loomssh/loom\"\nfunc A(c *Conn) {}\nfunc init() { Task(A, OnHosts(h()...), Once(), MaxFailures(Count('a'))) }\n",
		"package main\nimport \"github.com/loomssh/loom\"\nfunc A() {}\nfunc init() { loom.Task(A, loom.Once()); loom.Task(A) }\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		info, err := parseString(src)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, "loomfile.go:") {
				t.Fatalf("error does not name the file: %q", msg)
			}
			return
		}
		var b strings.Builder
		info.List(&b)
		for _, tk := range info.Tasks {
			if err := info.Help(&b, tk.Name); err != nil {
				t.Fatalf("Help(%s): %v", tk.Name, err)
			}
			if got, err := info.Resolve(tk.Name); err != nil || got != tk {
				t.Fatalf("Resolve(%s) = %v, %v", tk.Name, got, err)
			}
			// Parse checked the defaults: binding them fails only for a
			// required argument left out.
			if _, _, err := Bind(tk, nil); err != nil && !strings.HasPrefix(err.Error(), tk.Name+": missing argument ") {
				t.Fatalf("Bind(%s) with defaults: %v", tk.Name, err)
			}
		}
		for a, target := range info.Aliases {
			if got, err := info.Resolve(a); err != nil || got.Name != target {
				t.Fatalf("Resolve(alias %s) = %v, %v", a, got, err)
			}
		}
	})
}
