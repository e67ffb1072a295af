package loomfile

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRealistic(t *testing.T) {
	info := mustParse(t, deployLoomfile)

	var names []string
	for _, tk := range info.Tasks {
		names = append(names, tk.Name)
	}
	want := []string{"build", "db:migrate", "db:snapshot", "deploy", "logs", "restart", "rolling-restart"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("tasks = %q, want %q", names, want)
	}
	if info.Default != "deploy" {
		t.Errorf("Default = %q", info.Default)
	}
	if want := map[string]string{"d": "deploy", "m": "db:migrate", "snap": "db:snapshot"}; !reflect.DeepEqual(info.Aliases, want) {
		t.Errorf("Aliases = %v, want %v", info.Aliases, want)
	}
	if want := []string{"context", "fmt", "github.com/loomssh/loom", "os", "os/exec", "time"}; !reflect.DeepEqual(info.Imports, want) {
		t.Errorf("Imports = %q, want %q", info.Imports, want)
	}

	deploy := task(t, info, "deploy")
	wantDeploy := &Task{
		Name: "deploy", Func: "Deploy", Kind: Host, ReturnsError: true, Pos: "loomfile.go:20",
		Doc:      "Deploy ships VERSION to every web host: it checks out the tag, installs\nthe dependencies and restarts the app.\n\nWith --dry-run it only prints what it would do.",
		Synopsis: "Deploy ships VERSION to every web host: it checks out the tag, installs the dependencies and restarts the app.",
		Params: []Param{
			{Name: "version", Type: "string", Elem: "string", Kind: KindString},
			{Name: "count", Type: "*int", Elem: "int", Kind: KindInt, Optional: true},
			{Name: "dryRun", Type: "*bool", Elem: "bool", Kind: KindBool, Optional: true},
			{Name: "wait", Type: "time.Duration", Elem: "time.Duration", Kind: KindDuration},
		},
	}
	if !reflect.DeepEqual(deploy, wantDeploy) {
		t.Errorf("deploy =\n%+v\nwant\n%+v", deploy, wantDeploy)
	}

	rr := task(t, info, "rolling-restart")
	if rr.Kind != Local || !rr.TakesContext || rr.Func != "RollingRestart" || !rr.ReturnsError {
		t.Errorf("rolling-restart = %+v", rr)
	}
	if want := []Param{
		{Name: "hosts", Type: "[]string", Elem: "string", Kind: KindString, Slice: true},
		{Name: "pause", Type: "*time.Duration", Elem: "time.Duration", Kind: KindDuration, Optional: true},
	}; !reflect.DeepEqual(rr.Params, want) {
		t.Errorf("rolling-restart params = %+v", rr.Params)
	}

	build := task(t, info, "build")
	if build.Kind != Local || build.TakesContext || len(build.Params) != 0 || !build.ReturnsError {
		t.Errorf("build = %+v", build)
	}

	restart := task(t, info, "restart")
	if restart.ReturnsError || restart.Kind != Host {
		t.Errorf("restart = %+v", restart)
	}
	if want := []Param{{Name: "services", Type: "...string", Elem: "string", Kind: KindString, Slice: true, Variadic: true}}; !reflect.DeepEqual(restart.Params, want) {
		t.Errorf("restart params = %+v", restart.Params)
	}

	logs := task(t, info, "logs")
	var kinds []Kind
	for _, p := range logs.Params {
		kinds = append(kinds, p.Kind)
	}
	if want := []Kind{KindInt64, KindFloat64, KindString, KindBool}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("logs kinds = %v, want %v", kinds, want)
	}

	mig := task(t, info, "db:migrate")
	if mig.Func != "DB.Migrate" || mig.Namespace != "DB" || mig.Kind != Host || mig.Synopsis != "Migrate applies the pending migrations." {
		t.Errorf("db:migrate = %+v", mig)
	}
	snap := task(t, info, "db:snapshot")
	if want := []Param{
		{Name: "tag", Type: "string", Elem: "string", Kind: KindString},
		{Name: "at", Type: "Stamp", Elem: "Stamp", Kind: KindText},
		{Name: "keep", Type: "*[]time.Duration", Elem: "time.Duration", Kind: KindDuration, Slice: true, Optional: true},
	}; !reflect.DeepEqual(snap.Params, want) {
		t.Errorf("db:snapshot params = %+v", snap.Params)
	}
	if snap.Func != "DB.Snapshot" {
		t.Errorf("pointer-receiver method Func = %q", snap.Func)
	}
}

func TestParseMultipleFiles(t *testing.T) {
	// The namespace type, its methods, Default and Aliases in different
	// files, which name the loom import differently.
	info, err := parseSources([]source{
		{"loomfiles/db.go", []byte("package main\nimport \"github.com/loomssh/loom\"\n// Db is the database.\ntype Db loom.Namespace\n")},
		{"loomfiles/tasks.go", []byte("package main\nimport (\n\tl \"github.com/loomssh/loom\"\n\t\"time\"\n)\n// Reset drops everything.\nfunc (Db) Reset(c *l.Conn, timeout time.Duration) {}\n")},
		{"loomfiles/main.go", []byte("package main\nvar (\n\tDefault = Db.Reset\n\tAliases = map[string]interface{}{\"r\": Db.Reset}\n)\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Tasks) != 1 || info.Tasks[0].Name != "db:reset" || info.Tasks[0].Pos != "loomfiles/tasks.go:7" {
		t.Fatalf("tasks = %+v", info.Tasks[0])
	}
	if info.Default != "db:reset" || info.Aliases["r"] != "db:reset" {
		t.Errorf("Default %q, Aliases %v", info.Default, info.Aliases)
	}
}

func TestParseImportForms(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"dot imports", `package main
import (. "github.com/loomssh/loom"; . "context"; . "time")
type Web Namespace
func Up(c *Conn, d Duration) {}
func (Web) Check(c *Conn) {}
func Local(ctx Context) {}
`},
		{"renamed imports", `package main
import (x "github.com/loomssh/loom"; cx "context"; tm "time")
type Web x.Namespace
func Up(c *x.Conn, d tm.Duration) {}
func (Web) Check(c *x.Conn) {}
func Local(ctx cx.Context) {}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := mustParse(t, tc.src)
			if up := task(t, info, "up"); up.Kind != Host || up.Params[0].Kind != KindDuration {
				t.Errorf("up = %+v", up)
			}
			if c := task(t, info, "web:check"); c.Kind != Host {
				t.Errorf("web:check = %+v", c)
			}
			if l := task(t, info, "local"); l.Kind != Local || !l.TakesContext || len(l.Params) != 0 {
				t.Errorf("local = %+v", l)
			}
		})
	}
}

func TestParseImportNames(t *testing.T) {
	info := mustParse(t, `package main
import (
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1"
	"github.com/hashicorp/go-version"
	"github.com/Masterminds/semver/v3"
	"example.com/go-loom-helpers"
	"github.com/loomssh/loom"
)
func Apply(c *loom.Conn, n yaml.Node, t v1.Time, v version.Version, s semver.Version, h loom_helpers.X) {}
`)
	if tk := task(t, info, "apply"); tk.Kind != Host || len(tk.Params) != 5 || tk.Params[4].Kind != KindText {
		t.Errorf("apply = %+v", tk)
	}
}

func TestParseIgnores(t *testing.T) {
	info := mustParse(t, `package main
import "github.com/loomssh/loom"
type T struct{}
type Alias = loom.Namespace
type G[X any] loom.Namespace
func (T) Method(c *loom.Conn) error { return nil }      // not a namespace
func (Alias) Nope() {}                                    // (invalid Go, but not ours to say)
func helper(c *loom.Conn) error { return nil }          // unexported
func Value(c *loom.Conn) string { return "" }           // returns a value
func Two() (int, error) { return 0, nil }               // two results
func Generic[T any](x T) error { return nil }          // generic
func Weird(ch chan int) int { return 0 }                 // returns a value: a helper, even with odd params
func init() {}
func main() {}
var Other = Value
`)
	if len(info.Tasks) != 0 {
		t.Errorf("tasks = %+v, want none", info.Tasks[0])
	}
	if info.Default != "" || len(info.Aliases) != 0 {
		t.Errorf("Default %q Aliases %v", info.Default, info.Aliases)
	}
}

func TestParseParamNames(t *testing.T) {
	info := mustParse(t, `package main
import "github.com/loomssh/loom"
func Unnamed(*loom.Conn, string, int) {}
func Named(_ *loom.Conn, _ string, maxFailPct *float64, HTTPPort int) {}
`)
	var got []string
	for _, tk := range []*Task{task(t, info, "unnamed"), task(t, info, "named")} {
		for _, p := range tk.Params {
			got = append(got, p.Name+" "+p.Flag()+" "+p.Metavar())
		}
	}
	want := []string{"arg1 --arg1 ARG1", "arg2 --arg2 ARG2",
		"arg1 --arg1 ARG1", "maxFailPct --max-fail-pct MAX_FAIL_PCT", "HTTPPort --http-port HTTP_PORT"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseTypes(t *testing.T) {
	info := mustParse(t, `package main
import ("github.com/loomssh/loom"; "net/netip"; "time"; semver "example.com/semver/v3")
type Env string
type int64 = string // shadows the predeclared name: a text type now
func Types(c *loom.Conn,
	a string, b int, bb int64, d float64, e bool, f time.Duration,
	g Env, h netip.Addr, i semver.Version, j Pair[int],
	k []Env, l *Env, m *[]netip.Prefix, n []bool,
	o ...time.Duration) {}
type Pair[T any] struct{}
`)
	tk := task(t, info, "types")
	var got []string
	for _, p := range tk.Params {
		s := p.Name + ":" + p.Kind.String()
		if p.Slice {
			s += ",slice"
		}
		if p.Optional {
			s += ",opt"
		}
		if p.Variadic {
			s += ",var"
		}
		got = append(got, s+"("+p.Elem+")")
	}
	want := []string{
		"a:string(string)", "b:int(int)", "bb:text(int64)", "d:float64(float64)", "e:bool(bool)", "f:duration(time.Duration)",
		"g:text(Env)", "h:text(netip.Addr)", "i:text(semver.Version)", "j:text(Pair[int])",
		"k:text,slice(Env)", "l:text,opt(Env)", "m:text,slice,opt(netip.Prefix)", "n:bool,slice(bool)",
		"o:duration,slice,var(time.Duration)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	const head = "package main\nimport (\"context\"; \"github.com/loomssh/loom\"; \"time\")\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unsupported param", head + "func Deploy(c *loom.Conn,\n\tch chan int) error { return nil }\n",
			"loomfile.go:4: Deploy: parameter ch: unsupported type chan int (use string, int,"},
		{"unsupported predeclared", head + "func Scale(n uint) {}\n",
			"loomfile.go:3: Scale: parameter n: unsupported type uint ("},
		{"map", head + "func Tag(m map[string]string) error { return nil }\n",
			"loomfile.go:3: Tag: parameter m: unsupported type map[string]string ("},
		{"array", head + "func Tag(m [2]string) {}\n",
			"loomfile.go:3: Tag: parameter m: unsupported type [2]string (use a slice;"},
		{"pointer to pointer", head + "func Tag(m **string) {}\n",
			"loomfile.go:3: Tag: parameter m: unsupported type **string ("},
		{"slice of slices", head + "func Tag(m [][]string) {}\n",
			"loomfile.go:3: Tag: parameter m: unsupported type [][]string ("},
		{"variadic pointer", head + "func Tag(m ...*string) {}\n",
			"loomfile.go:3: Tag: parameter m: unsupported type ...*string ("},
		{"func param", head + "func Tag(f func()) {}\n",
			"loomfile.go:3: Tag: parameter f: unsupported type func() ("},
		{"any", head + "func Tag(v any) {}\n",
			"loomfile.go:3: Tag: parameter v: unsupported type any ("},
		{"unnamed param", head + "func Tag(*loom.Conn, chan int) {}\n",
			"loomfile.go:3: Tag: parameter #1: unsupported type chan int ("},
		{"conn second", head + "func Deploy(ctx context.Context, c *loom.Conn) {}\n",
			"loomfile.go:3: Deploy: parameter c: a *loom.Conn must be the first parameter"},
		{"conn value", head + "func Deploy(c loom.Conn) {}\n",
			"loomfile.go:3: Deploy: parameter c: a *loom.Conn must be the first parameter"},
		{"two contexts", head + "func Deploy(a, b context.Context) {}\n",
			"loomfile.go:3: Deploy: parameter b: a context.Context must be the first parameter"},
		{"not imported", head + "func Deploy(c *loom.Conn, v semver.Version) {}\n",
			"loomfile.go:3: Deploy: parameter v: undefined: semver (package not imported"},
		{"namespace method", head + "type DB loom.Namespace\nfunc (DB) Dump(c *loom.Conn,\n\tout chan int) {}\n",
			"loomfile.go:5: DB.Dump: parameter out: unsupported type chan int"},
		{"same name", head + "func RollingRestart() {}\nfunc Rolling_Restart() {}\n",
			"loomfile.go:4: Rolling_Restart and RollingRestart (loomfile.go:3) are both task rolling-restart: rename one"},
		{"same param flag", head + "func Up(dryRun bool, dry_run bool) {}\n",
			"loomfile.go:3: Up: parameters dryRun and dry_run are both --dry-run: rename one"},
		{"default not a task", head + "func helper() {}\nvar Default = helper\n",
			"loomfile.go:4: var Default: helper is not a task"},
		{"default expression", head + "func Up() {}\nvar Default = func() {}\n",
			"loomfile.go:4: var Default must name a task function, as in var Default = Deploy"},
		{"default without value", head + "func Up() {}\nvar Default func()\n",
			"loomfile.go:4: var Default needs a value naming a task"},
		{"aliases not a map", head + "func Up() {}\nvar Aliases = []any{Up}\n",
			"loomfile.go:4: var Aliases must be a map literal"},
		{"alias not a task", head + "func Up() {}\nvar Aliases = map[string]any{\n\t\"u\": Up,\n\t\"x\": Down,\n}\n",
			`loomfile.go:6: Aliases: alias "x": Down is not a task`},
		{"alias shadows task", head + "func Up() {}\nfunc Down() {}\nvar Aliases = map[string]any{\"UP\": Down}\n",
			`loomfile.go:5: Aliases: alias "UP" is already the name of task up`},
		{"alias twice", head + "func Up() {}\nvar Aliases = map[string]any{\"u\": Up, \"U\": Up}\n",
			`loomfile.go:4: Aliases: alias "U" is given twice`},
		{"alias with space", head + "func Up() {}\nvar Aliases = map[string]any{\"u p\": Up}\n",
			`loomfile.go:4: Aliases: alias "u p": an alias is one word`},
		{"alias key not literal", head + "func Up() {}\nconst k = \"u\"\nvar Aliases = map[string]any{k: Up}\n",
			`loomfile.go:5: Aliases: each entry is "alias": Task`},
		{"not main", "package tasks\nfunc Up() {}\n",
			"loomfile.go:1: package tasks: a loomfile is package main"},
		{"syntax error", head + "func Up( {}\n",
			"loomfile.go:3:10: expected ')', found '{'"},
		{"syntax error quoting a newline", "`\n`",
			"loomfile.go:1:1: expected 'package', found `\\n`"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantParseError(t, tc.src, tc.want) })
	}
}

// wantParseError checks that src does not parse, with a one-line error
// starting with want.
func wantParseError(t *testing.T, src, want string) {
	t.Helper()
	_, err := parseString(src)
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error\n%q\nwant prefix\n%q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func TestKebab(t *testing.T) {
	for in, want := range map[string]string{
		"Deploy":          "deploy",
		"RollingRestart":  "rolling-restart",
		"DBMigrate":       "db-migrate",
		"DB":              "db",
		"HTTPServer":      "http-server",
		"S3Sync":          "s3-sync",
		"Deploy2":         "deploy2",
		"Rolling_Restart": "rolling-restart",
		"A":               "a",
		"dryRun":          "dry-run",
		"X__Y_":           "x-y",
		"ÜberTask":        "über-task",
	} {
		if got := kebab(in); got != want {
			t.Errorf("kebab(%q) = %q, want %q", in, got, want)
		}
	}
}
