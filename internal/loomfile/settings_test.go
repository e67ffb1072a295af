package loomfile

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// settingsLoomfile gives settings to tasks over two files and two func
// inits, with the loom import named l in one file and loom in the other.
var settingsLoomfile = []source{
	{"loomfiles/tasks.go", []byte(`package main

import (
	"context"
	"time"

	l "github.com/loomssh/loom"
)

// Deploy ships VERSION.
func Deploy(c *l.Conn, version string, wait time.Duration, tags []string, verbose bool, count *int) error {
	return c.Err()
}

// Release builds and ships a release.
func Release(ctx context.Context, channel string, retries int) error { return nil }

type DB l.Namespace

// Migrate applies the pending migrations.
func (DB) Migrate(c *l.Conn) error { return c.Err() }

// Snapshot copies the database.
func (*DB) Snapshot(c *l.Conn, keep time.Duration) error { return c.Err() }

// Restart restarts the app.
func Restart(c *l.Conn) {}

func Bare(c *l.Conn) {}

func init() {
	l.Task(Deploy,
		l.OnRoles("web", "worker"),
		l.OnHosts("db1"),
		l.Parallel(5),
		l.Batches(l.Percent(25)),
		l.MaxFailures(l.Count(1)),
		l.FailFast(),
		l.ArgDefault("wait", "30s"),
		l.ArgDefault("Tags", "a,b"),
		l.ArgDefault("verbose", "false"),
	)
	l.Task(DB.Migrate, l.OnRoles("db"), l.Once(), l.Serial())
}
`)},
	{"loomfiles/more.go", []byte(`package main

import "github.com/loomssh/loom"

func init() {
	loom.Task((*DB).Snapshot, loom.ArgDefault("keep", "168h"), loom.Batches(loom.Count(2)), loom.MaxFailures(loom.Percent(12.5)))
	loom.Task(Release, loom.ArgDefault("channel", "stable"), loom.ArgDefault("RETRIES", "-1"))
}

func init() {
	loom.Task(Restart, loom.Parallel(10), loom.Serial())
}

var _ = loom.Task // not a call: not read
`)},
}

func TestParseSettings(t *testing.T) {
	info, err := parseSources(settingsLoomfile)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Settings{
		"deploy": {Roles: []string{"web", "worker"}, Hosts: []string{"db1"}, Parallel: 5, Batch: "25%", MaxFail: "1",
			FailFast: true, Pos: "loomfiles/tasks.go:32"},
		"db:migrate":  {Roles: []string{"db"}, Once: true, Parallel: 1, Pos: "loomfiles/tasks.go:43"},
		"db:snapshot": {Batch: "2", MaxFail: "12.5%", Pos: "loomfiles/more.go:6"},
		"release":     {Pos: "loomfiles/more.go:7"},
		"restart":     {Parallel: 1, Pos: "loomfiles/more.go:11"},
		"bare":        {},
	} {
		if got := task(t, info, name).Settings; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Settings =\n%+v\nwant\n%+v", name, got, want)
		}
	}

	var got []string
	for _, name := range []string{"deploy", "release", "db:snapshot"} {
		for _, p := range task(t, info, name).Params {
			s := name + " " + p.Name
			if p.HasDefault {
				s += "=" + p.Default
			}
			got = append(got, s)
		}
	}
	want := []string{
		"deploy version", "deploy wait=30s", "deploy tags=a,b", "deploy verbose=false", "deploy count",
		"release channel=stable", "release retries=-1",
		"db:snapshot keep=168h",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("params:\n%q\nwant\n%q", got, want)
	}
}

func TestParseSettingsDotImport(t *testing.T) {
	info := mustParse(t, `package main
import . "github.com/loomssh/loom"
func Up(c *Conn, n int) {}
func Down(c *Conn) {}
func init() {
	Task(Up, OnRoles("web"), ArgDefault("n", "3"))
	Task(Down, OnHosts("a"), Parallel(2))
}
`)
	if s := task(t, info, "up").Settings; !reflect.DeepEqual(s.Roles, []string{"web"}) || s.InCode {
		t.Errorf("up: %+v", s)
	}
	if p := task(t, info, "up").Params[0]; !p.HasDefault || p.Default != "3" {
		t.Errorf("up param: %+v", p)
	}
	if s := task(t, info, "down").Settings; s.Parallel != 2 || s.Hosts[0] != "a" {
		t.Errorf("down: %+v", s)
	}

	// A Task of the package's own is not loom's.
	info = mustParse(t, `package main
import . "github.com/loomssh/loom"
func Up(c *Conn) {}
func Task(fn any, opts ...any) int { return 0 }
func init() { Task(Up, Once()) }
`)
	if s := task(t, info, "up").Settings; s.Pos != "" {
		t.Errorf("own Task read as loom's: %+v", s)
	}
}

// TestParseSettingsInCode covers the options the parser cannot read: they
// set InCode, and reading goes on.
func TestParseSettingsInCode(t *testing.T) {
	const head = "package main\nimport (\"github.com/loomssh/loom\"; \"time\")\n" +
		"func Deploy(c *loom.Conn, wait time.Duration) {}\n" +
		"func Release() {}\n" +
		"func hostsFromDB() []string { return nil }\n" +
		"const five = 5\n" +
		"var opt = loom.Once()\n" +
		"var opts []loom.Option\n"
	for _, tc := range []struct {
		name, call string
		want       Settings
	}{
		{"literals", `loom.Task(Deploy, loom.OnHosts("a", "b"), loom.Parallel(+3), loom.Batches(loom.Percent(100)), loom.MaxFailures(loom.Count(0)))`,
			Settings{Hosts: []string{"a", "b"}, Parallel: 3, Batch: "100%", MaxFail: "0"}},
		{"literal forms", "loom.Task(Deploy, loom.OnRoles(`raw`, (\"paren\")), loom.Parallel(2.0), loom.Batches(loom.Percent(0x19)), loom.MaxFailures(loom.Count(1_0)))",
			Settings{Roles: []string{"raw", "paren"}, Parallel: 2, Batch: "25%", MaxFail: "10"}},
		{"ramp and pause", `loom.Task(Deploy, loom.Batches(loom.Count(1), loom.Count(5), loom.Percent(25)), loom.Pause(30*time.Second), loom.MaxFailuresPerBatch(loom.Percent(10)))`,
			Settings{Batch: "1,5,25%", Pause: "30s", MaxFailBatch: "10%"}},
		{"pause forms", `loom.Task(Deploy, loom.Pause(time.Minute*2))`, Settings{Pause: "2m0s"}},
		{"pause unit alone", `loom.Task(Deploy, loom.Pause((time.Second)))`, Settings{Pause: "1s"}},
		{"pause variable", `loom.Task(Deploy, loom.Pause(five*time.Second))`, Settings{InCode: true}},
		{"pause call", `loom.Task(Deploy, loom.Pause(time.Duration(5)))`, Settings{InCode: true}},
		{"ramp partly literal", `loom.Task(Deploy, loom.Batches(loom.Count(1), loom.Count(five)))`, Settings{InCode: true}},
		{"agent", `loom.Task(Deploy, loom.OnHosts("a"), loom.ForwardAgent())`,
			Settings{Hosts: []string{"a"}, ForwardAgent: true}},
		{"hosts spread", `loom.Task(Deploy, loom.OnHosts(hostsFromDB()...), loom.FailFast())`,
			Settings{FailFast: true, InCode: true}},
		{"hosts partly literal", `loom.Task(Deploy, loom.OnHosts("a", hostsFromDB()[0]))`,
			Settings{Hosts: []string{"a"}, InCode: true}},
		{"roles not strings", `loom.Task(Deploy, loom.OnRoles(1))`,
			Settings{InCode: true}},
		{"parallel constant", `loom.Task(Deploy, loom.Parallel(five), loom.Once())`,
			Settings{Once: true, InCode: true}},
		{"parallel expression", `loom.Task(Deploy, loom.Parallel(2*3))`,
			Settings{InCode: true}},
		{"parallel not an int", `loom.Task(Deploy, loom.Parallel(2.5))`,
			Settings{InCode: true}},
		{"last parallel counts", `loom.Task(Deploy, loom.Serial(), loom.Parallel(five))`,
			Settings{InCode: true}},
		{"batch variable", `loom.Task(Deploy, loom.Batches(loom.Count(five)), loom.MaxFailures(loom.Percent(five)))`,
			Settings{InCode: true}},
		{"batch not a limit call", `loom.Task(Deploy, loom.Batches(limit))`,
			Settings{InCode: true}},
		{"unknown option", `loom.Task(Deploy, loom.Retries(3), loom.Serial())`,
			Settings{Parallel: 1, InCode: true}},
		{"option variable", `loom.Task(Deploy, opt)`,
			Settings{InCode: true}},
		{"option of the loomfile", `loom.Task(Deploy, myOption())`,
			Settings{InCode: true}},
		{"options spread", `loom.Task(Deploy, loom.OnRoles("web"), opts...)`,
			Settings{Roles: []string{"web"}, InCode: true}},
		{"unknown option on a local task", `loom.Task(Release, loom.Retries(3))`,
			Settings{InCode: true}},
		{"no options", `loom.Task(Deploy)`,
			Settings{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := mustParse(t, head+"func init() {\n\t"+tc.call+"\n}\n")
			tk := info.Tasks[0]
			if strings.Contains(tc.call, "Release") {
				tk = info.Tasks[1]
			}
			tc.want.Pos = "loomfile.go:10"
			if !reflect.DeepEqual(tk.Settings, tc.want) {
				t.Errorf("Settings =\n%+v\nwant\n%+v", tk.Settings, tc.want)
			}
		})
	}
}

func TestParseSettingsErrors(t *testing.T) {
	const head = "package main\nimport (\"context\"; \"github.com/loomssh/loom\"; \"time\")\n" +
		"func Deploy(c *loom.Conn, version string, wait time.Duration, count *int, services ...string) {}\n" +
		"func Release(ctx context.Context) {}\n" +
		"func NoArgs(c *loom.Conn) {}\n" +
		"func helper() {}\n" +
		"func Value() string { return \"\" }\n" +
		"type DB loom.Namespace\n" +
		"func (DB) Migrate(c *loom.Conn, steps int, force bool) {}\n" +
		"var name = \"wait\"\n"
	// The first line of func init is line 12.
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no task", `loom.Task()`,
			"loomfile.go:12: loom.Task needs the task first, as in loom.Task(Deploy, loom.OnRoles(\"web\"))"},
		{"not a function", `loom.Task(func() {})`,
			"loomfile.go:12: loom.Task must name a task function first, as in loom.Task(Deploy, loom.OnRoles(\"web\"))"},
		{"unknown function", `loom.Task(Deplyo)`,
			"loomfile.go:12: loom.Task: Deplyo is not a task (the loomfiles declare no function Deplyo)"},
		{"unknown method", `loom.Task(DB.Migrat)`,
			"loomfile.go:12: loom.Task: DB.Migrat is not a task (the loomfiles declare no function DB.Migrat)"},
		{"helper", `loom.Task(helper, loom.Once())`,
			"loomfile.go:12: loom.Task: helper is not a task (a task is an exported function taking a *loom.Conn, a context.Context or nothing first, returning nothing or an error)"},
		{"helper returning a value", `loom.Task(Value)`,
			"loomfile.go:12: loom.Task: Value is not a task (a task is"},
		{"twice", "loom.Task(Deploy, loom.Once())\n\tloom.Task(Deploy, loom.Serial())",
			"loomfile.go:13: loom.Task: Deploy already has settings (loomfile.go:12): give them in one loom.Task call"},
		{"twice as method forms", "loom.Task(DB.Migrate)\n}\nfunc init() {\n\tloom.Task((*DB).Migrate)",
			"loomfile.go:15: loom.Task: DB.Migrate already has settings (loomfile.go:12)"},
		{"default name not literal", `loom.Task(Deploy, loom.ArgDefault(name, "30s"))`,
			"loomfile.go:12: loom.ArgDefault: the name must be a string literal (loom reads it without compiling)"},
		{"default value not literal", `loom.Task(Deploy, loom.ArgDefault("wait", time.Minute.String()))`,
			"loomfile.go:12: loom.ArgDefault: the value must be a string literal (loom reads it without compiling)"},
		{"default value an int", `loom.Task(Deploy, loom.ArgDefault("wait", 30))`,
			"loomfile.go:12: loom.ArgDefault: the value must be a string literal (loom reads it without compiling)"},
		{"default value concatenated", `loom.Task(Deploy, loom.ArgDefault("wait", "30"+"s"))`,
			"loomfile.go:12: loom.ArgDefault: the value must be a string literal"},
		{"default arity", `loom.Task(Deploy, loom.ArgDefault("wait"))`,
			"loomfile.go:12: loom.ArgDefault takes the argument's name and its default, as in loom.ArgDefault(\"wait\", \"30s\")"},
		{"default unknown, suggested", `loom.Task(Deploy, loom.ArgDefault("wiat", "30s"))`,
			"loomfile.go:12: loom.ArgDefault: Deploy has no argument wiat (did you mean wait?)"},
		{"default unknown", `loom.Task(Deploy, loom.ArgDefault("zzz", "30s"))`,
			"loomfile.go:12: loom.ArgDefault: Deploy has no argument zzz (it takes version, wait, count, services)"},
		{"default unknown, odd name", "loom.Task(Deploy, loom.ArgDefault(\"a b\\n\", \"30s\"))",
			`loomfile.go:12: loom.ArgDefault: Deploy has no argument "a b\n" (it takes`},
		{"default on no arguments", `loom.Task(NoArgs, loom.ArgDefault("x", "1"))`,
			"loomfile.go:12: loom.ArgDefault: NoArgs has no argument x (it takes none)"},
		{"default on a pointer", `loom.Task(Deploy, loom.ArgDefault("count", "3"))`,
			"loomfile.go:12: loom.ArgDefault: Deploy: count is a pointer (*int), so it is already optional, and nil when left out: drop the * to give it a default"},
		{"default on variadic", `loom.Task(Deploy, loom.ArgDefault("services", "app"))`,
			"loomfile.go:12: loom.ArgDefault: Deploy: services is variadic (...string): it takes the remaining words and cannot have a default"},
		{"default twice", `loom.Task(Deploy, loom.ArgDefault("wait", "1s"), loom.ArgDefault("WAIT", "2s"))`,
			"loomfile.go:12: loom.ArgDefault: Deploy: wait is given a default twice"},
		{"bad duration default", `loom.Task(Deploy, loom.ArgDefault("wait", "soon"))`,
			`loomfile.go:12: loom.ArgDefault: Deploy: --wait="soon": not a duration (such as 90s, 5m or 1h30m)`},
		{"bad int default, by flag name", `loom.Task(DB.Migrate, loom.ArgDefault("steps", "x"))`,
			`loomfile.go:12: loom.ArgDefault: DB.Migrate: --steps="x": not an int`},
		{"bad bool default", "loom.Task(DB.Migrate,\n\t\tloom.ArgDefault(\"force\", \"yes\"))",
			`loomfile.go:13: loom.ArgDefault: DB.Migrate: --force="yes": not a bool (true, false, 1 or 0)`},
		{"once on a local task", `loom.Task(Release, loom.Once())`,
			"loomfile.go:12: loom.Once: Release is a local task: it runs once on this machine; open groups inside it with loom.NewGroup"},
		{"hosts on a local task", `loom.Task(Release, loom.OnHosts(hosts()...))`,
			"loomfile.go:12: loom.OnHosts: Release is a local task: it runs once on this machine; open groups inside it with loom.NewGroup"},
		{"roles on a local task", `loom.Task(Release, loom.OnRoles("web"))`,
			"loomfile.go:12: loom.OnRoles: Release is a local task"},
		{"parallel on a local task", `loom.Task(Release, loom.Parallel(2))`,
			"loomfile.go:12: loom.Parallel: Release is a local task"},
		{"serial on a local task", `loom.Task(Release, loom.Serial())`,
			"loomfile.go:12: loom.Serial: Release is a local task"},
		{"batches on a local task", `loom.Task(Release, loom.Batches(loom.Count(1)))`,
			"loomfile.go:12: loom.Batches: Release is a local task"},
		{"max failures on a local task", `loom.Task(Release, loom.MaxFailures(loom.Count(1)))`,
			"loomfile.go:12: loom.MaxFailures: Release is a local task"},
		{"fail-fast on a local task", `loom.Task(Release, loom.FailFast())`,
			"loomfile.go:12: loom.FailFast: Release is a local task"},
		{"agent on a local task", `loom.Task(Release, loom.ForwardAgent())`,
			"loomfile.go:12: loom.ForwardAgent: Release is a local task"},
		{"parallel 0", `loom.Task(Deploy, loom.Parallel(0))`,
			"loomfile.go:12: loom.Parallel(0): a task works on at least 1 host at a time"},
		{"parallel negative", "loom.Task(Deploy,\n\t\tloom.Parallel(-2))",
			"loomfile.go:13: loom.Parallel(-2): a task works on at least 1 host at a time"},
		{"batch of 0 in a ramp", `loom.Task(Deploy, loom.Batches(loom.Count(1), loom.Count(0)))`,
			"loomfile.go:12: loom.Batches: loom.Count(0): a batch has at least 1 host"},
		{"pause 0", `loom.Task(Deploy, loom.Pause(0*time.Second))`,
			"loomfile.go:12: loom.Pause(0 * time.Second): a pause is a positive duration"},
		{"pause negative", `loom.Task(Deploy, loom.Pause(-5*time.Second))`,
			"loomfile.go:12: loom.Pause(-5 * time.Second): a pause is a positive duration"},
		{"pause on a local task", `loom.Task(Release, loom.Pause(time.Second))`,
			"loomfile.go:12: loom.Pause: Release is a local task"},
		{"percent 0", `loom.Task(Deploy, loom.Batches(loom.Percent(0)))`,
			"loomfile.go:12: loom.Batches: loom.Percent(0): a percentage is more than 0 and at most 100"},
		{"percent over 100", `loom.Task(Deploy, loom.MaxFailures(loom.Percent(100.5)))`,
			"loomfile.go:12: loom.MaxFailures: loom.Percent(100.5): a percentage is more than 0 and at most 100"},
		{"percent negative", `loom.Task(Deploy, loom.Batches(loom.Percent(-10)))`,
			"loomfile.go:12: loom.Batches: loom.Percent(-10): a percentage is more than 0 and at most 100"},
		{"count negative", `loom.Task(Deploy, loom.MaxFailures(loom.Count(-1)))`,
			"loomfile.go:12: loom.MaxFailures: loom.Count(-1): a count is 0 or more"},
		{"in a block", "if true {\n\t\tloom.Task(Deploy, loom.Once())\n\t}",
			"loomfile.go:13: loom.Task is read only as a statement of a func init, outside any block (loom reads it without compiling): move it there"},
		{"in a loop", "for _, fn := range []any{Deploy} {\n\t\tloom.Task(fn)\n\t}",
			"loomfile.go:13: loom.Task is read only as a statement of a func init"},
		{"deferred", "defer loom.Task(Deploy)",
			"loomfile.go:12: loom.Task is read only as a statement of a func init"},
		{"in a task", "}\nfunc Up(c *loom.Conn) {\n\tloom.Task(Deploy)",
			"loomfile.go:14: loom.Task is read only as a statement of a func init"},
		{"in a func literal", "func() { loom.Task(Deploy) }()",
			"loomfile.go:12: loom.Task is read only as a statement of a func init"},
		{"nested in a read call", "loom.Task(Deploy, opt(func() { loom.Task(NoArgs) }))",
			"loomfile.go:12: loom.Task is read only as a statement of a func init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantParseError(t, head+"func init() {\n\t"+tc.body+"\n}\n", tc.want)
		})
	}
}

func TestParseSubcommandNames(t *testing.T) {
	const head = "package main\nimport \"github.com/loomssh/loom\"\n"
	for _, tc := range []struct{ name, src, want string }{
		{"put", head + "func Put(c *loom.Conn) {}\n", "loomfile.go:3: Put: task name put is taken by `loom put`: rename the function"},
		{"get", head + "func Get(c *loom.Conn, path string) {}\n", "loomfile.go:3: Get: task name get is taken by `loom get`: rename the function"},
		{"sync", head + "func Sync() error { return nil }\n", "loomfile.go:3: Sync: task name sync is taken by `loom sync`: rename the function"},
		{"demo", head + "func Demo() {}\n", "loomfile.go:3: Demo: task name demo is taken by `loom demo`"},
		{"init", head + "func Init() {}\n", "loomfile.go:3: Init: task name init is taken by `loom init`"},
		{"help", head + "func Help() {}\n", "loomfile.go:3: Help: task name help is taken by `loom help`"},
		{"underscore", head + "func Sync_() {}\n", "loomfile.go:3: Sync_: task name sync is taken by `loom sync`"},
		{"alias", head + "func Up() {}\nvar Aliases = map[string]any{\"Get\": Up}\n", "loomfile.go:4: Aliases: alias \"Get\" is taken by `loom get`: choose another"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(tc.src)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want prefix %q", err, tc.want)
			}
		})
	}
	// In a namespace, or as part of a longer name, they are free.
	info := mustParse(t, head+"type Put loom.Namespace\nfunc (Put) Sync() {}\nfunc Syncer() {}\nfunc InitDB() {}\n")
	if len(info.Tasks) != 3 {
		t.Errorf("tasks = %d", len(info.Tasks))
	}
}

func TestBindDefaults(t *testing.T) {
	info, err := parseSources(settingsLoomfile)
	if err != nil {
		t.Fatal(err)
	}
	deploy := task(t, info, "deploy")
	// deploy(version string, wait time.Duration = 30s, tags []string = a,b, verbose bool = false, count *int)
	for _, tc := range []struct {
		args  []string
		want  []any
		given []bool
		raw   []string
		rest  []string
		err   string
	}{
		{args: []string{"v2"},
			want:  []any{"v2", 30 * time.Second, []string{"a", "b"}, false, (*int)(nil)},
			given: []bool{true, false, false, false, false},
			raw:   []string{"v2", "30s", "a,b", "false", ""}},
		{args: []string{"v2", "--wait=1m", "--tags=c", "--tags", "d", "--verbose"},
			want:  []any{"v2", time.Minute, []string{"c", "d"}, true, (*int)(nil)},
			given: []bool{true, true, true, true, false},
			raw:   []string{"v2", "1m", "c,d", "true", ""}},
		{args: []string{"--tags=", "--verbose=0", "v2"},
			want:  []any{"v2", 30 * time.Second, []string{}, false, (*int)(nil)},
			given: []bool{true, false, true, true, false},
			raw:   []string{"v2", "30s", "", "0", ""}},
		// Never positional: the second word is the next task.
		{args: []string{"v2", "1m", "--count=2"},
			want:  []any{"v2", 30 * time.Second, []string{"a", "b"}, false, (*int)(nil)},
			given: []bool{true, false, false, false, false},
			raw:   []string{"v2", "30s", "a,b", "false", ""},
			rest:  []string{"1m", "--count=2"}},
		{args: []string{"v2", "--wait=soon"}, err: `deploy: --wait="soon": not a duration (such as 90s, 5m or 1h30m)`},
		{args: []string{"v2", "--wait=1s", "--wait=2s"}, err: "deploy: --wait given twice"},
		{args: []string{"--wait=1s"}, err: "deploy: missing argument VERSION"},
	} {
		name := strings.Join(tc.args, " ")
		vals, rest, err := Bind(deploy, tc.args)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var got []any
		var given []bool
		var raw []string
		for _, v := range vals {
			got, given, raw = append(got, v.Parsed), append(given, v.Given), append(raw, v.Raw)
		}
		if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(given, tc.given) || !reflect.DeepEqual(raw, tc.raw) {
			t.Errorf("%s:\n got %#v %v %q\nwant %#v %v %q", name, got, given, raw, tc.want, tc.given, tc.raw)
		}
		if !reflect.DeepEqual(rest, tc.rest) && len(rest)+len(tc.rest) > 0 {
			t.Errorf("%s: rest %q, want %q", name, rest, tc.rest)
		}
	}

	// A local task whose arguments all have defaults takes no positional
	// word at all.
	vals, rest, err := Bind(task(t, info, "release"), []string{"deploy", "v2"})
	if err != nil || len(rest) != 2 || vals[0].Parsed != "stable" || vals[1].Parsed != -1 {
		t.Errorf("release: %v %q %v", vals, rest, err)
	}

	// A bad default in a Task made by hand (Parse would refuse it).
	bad := &Task{Name: "x", Params: []Param{{Name: "n", Type: "int", Elem: "int", Kind: KindInt, HasDefault: true, Default: "many"}}}
	if _, _, err := Bind(bad, nil); err == nil || err.Error() != `x: default --n="many": not an int` {
		t.Errorf("bad default: %v", err)
	}
}

func TestHelpSettings(t *testing.T) {
	info, err := parseSources(settingsLoomfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"deploy", `Usage: loom deploy VERSION [--wait=30s] [--tags=a,b] [--verbose=false] [--count=INT]

  Deploy ships VERSION.

A host task: runs on every selected host (-H, -R), each with its own connection.
Runs on: roles web, worker; hosts db1; 5 hosts at a time; in batches of 25%; stops after more than 1 failed; fail-fast.

Arguments:
  VERSION            string         required; positional, or --version=VERSION
  [--wait=DURATION]  time.Duration  optional; default 30s
  [--tags=TAGS,...]  []string       optional; default a,b; a comma-separated list, or named several times
  [--verbose]        bool           optional; default false; --verbose alone means true
  [--count=INT]      *int           optional

Settings at loomfiles/tasks.go:32.
Declared at loomfiles/tasks.go:11 (Deploy).
`},
		{"db:migrate", `Usage: loom db:migrate

  Migrate applies the pending migrations.

A host task: runs on the first selected host (-H, -R) only.
Runs on: roles db; one host at a time; once (one host).

Settings at loomfiles/tasks.go:43.
Declared at loomfiles/tasks.go:21 (DB.Migrate).
`},
		{"release", `Usage: loom release [--channel=stable] [--retries=-1]

  Release builds and ships a release.

A local task: runs once, on this machine. The groups it opens (loom.NewGroup,
loom.Execute) keep their own hosts; -H and -R only narrow them (a group runs
on those of its hosts they name, and on none if they name none of them).

Arguments:
  [--channel=CHANNEL]  string  optional; default stable
  [--retries=INT]      int     optional; default -1

Settings at loomfiles/more.go:7.
Declared at loomfiles/tasks.go:16 (Release).
`},
	} {
		var b strings.Builder
		if err := info.Help(&b, tc.name); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("Help(%s):\n%s\nwant:\n%s", tc.name, b.String(), tc.want)
		}
	}

	var b strings.Builder
	info.List(&b)
	want := `Tasks:
  bare            host
  db:migrate      host -R db                 applies the pending migrations.
  db:snapshot     host                       copies the database.
  deploy VERSION  host -R web,worker -H db1  ships VERSION.
  release         local                      builds and ships a release.
  restart         host                       restarts the app.

loom -h TASK shows a task's arguments and its whole doc comment.
`
	if b.String() != want {
		t.Errorf("List:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestHelpSettingsInCode(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`func Up(c *loom.Conn) {}
func init() { loom.Task(Up, loom.OnRoles("web"), loom.Parallel(n)) }`,
			"Runs on: roles web (and settings made in code).\n"},
		{`func Up() {}
func init() { loom.Task(Up, loom.Retries(2)) }`,
			"A local task: runs once, on this machine. The groups it opens (loom.NewGroup,\nloom.Execute) keep their own hosts; -H and -R only narrow them (a group runs\non those of its hosts they name, and on none if they name none of them).\nSome settings are made in code.\n"},
		{`func Up(c *loom.Conn) {}
func init() { loom.Task(Up, loom.OnHosts("web01.example.com", "web02.example.com")) }`,
			"Runs on: hosts web01.example.com, web02.example.com.\n"},
	} {
		info := mustParse(t, "package main\nimport \"github.com/loomssh/loom\"\n"+tc.src+"\n")
		var b strings.Builder
		if err := info.Help(&b, "up"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) || !strings.Contains(b.String(), "Settings at loomfile.go:4.\n") {
			t.Errorf("Help:\n%s\nwant it to hold %q", b.String(), tc.want)
		}
	}

	// A long target list is cut in the listing.
	info := mustParse(t, "package main\nimport \"github.com/loomssh/loom\"\nfunc Up(c *loom.Conn) {}\nfunc init() { loom.Task(Up, loom.OnHosts(\"web01.example.com\", \"web02.example.com\")) }\n")
	var b strings.Builder
	info.List(&b)
	if want := "  up  host -H web01.example.com,we…\n"; !strings.Contains(b.String(), want) {
		t.Errorf("List:\n%s\nwant it to hold %q", b.String(), want)
	}
}

// TestDocsSettings checks the Per-task settings section of
// docs/loomfiles.md against the code: its loomfile parses, the help it
// shows is what Help prints, its command lines bind as it says, and the
// errors it shows are what mistakes in its loomfile give.
func TestDocsSettings(t *testing.T) {
	b, err := os.ReadFile("../../docs/loomfiles.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, section, ok := strings.Cut(doc, "## Per-task settings\n")
	if !ok {
		t.Fatal("no Per-task settings section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, after, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal("no go block in the section")
	}
	src, _, _ := strings.Cut(after, "```\n")
	info := mustParse(t, src)

	var help strings.Builder
	if err := info.Help(&help, "deploy"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(section, indent(help.String())) {
		t.Errorf("the doc does not show what loom -h deploy prints:\n%s", help.String())
	}
	var list strings.Builder
	info.List(&list)
	if !strings.Contains(list.String(), "deploy VERSION  host -R web") {
		t.Errorf("List:\n%s", list.String())
	}

	for line, want := range map[string]string{
		"loom deploy v2":           "wait=30s",
		"loom deploy v2 --wait=1m": "wait=1m",
		"loom deploy v2 1m":        `unknown task "1m"`,
	} {
		if !strings.Contains(section, line+" ") || !strings.Contains(section, "# "+want) {
			t.Errorf("the doc does not show %s # %s", line, want)
		}
		args := strings.Fields(line)[1:]
		vals, rest, err := Bind(task(t, info, args[0]), args[1:])
		if err != nil {
			t.Fatal(err)
		}
		got := "wait=" + vals[1].Raw
		if len(rest) > 0 {
			_, err := info.Resolve(rest[0])
			got = err.Error()
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: got %s, want %s", line, got, want)
		}
	}

	// Each shown error, and the change to the loomfile that gives it.
	for _, tc := range []struct{ old, new string }{
		{"loom.Task(Deploy,", "loom.Task(Deplyo,"},
		{"loom.Task(DB.Migrate,", "loom.Task(Deploy)\n\tloom.Task(DB.Migrate,"},
		{"loom.Parallel(5)", "loom.Parallel(0)"},
		{"loom.Percent(25)", "loom.Percent(0)"},
		{`loom.ArgDefault("wait", "30s")`, `loom.ArgDefault("wait", 30*time.Second)`},
		{`loom.ArgDefault("wait", "30s")`, `loom.ArgDefault("wiat", "30s")`},
		{`loom.ArgDefault("wait", "30s")`, `loom.ArgDefault("wait", "soon")`},
		{`loom.ArgDefault("wait", "30s")`, `loom.ArgDefault("count", "3")`},
		{"loom.Task(DB.Migrate, loom.OnRoles(\"web\"), loom.Once())", "loom.Task(DB.Migrate, loom.OnRoles(\"web\"), loom.Once())\n\tloom.Task(Release, loom.Once())"},
	} {
		bad := strings.Replace(src, tc.old, tc.new, 1)
		bad = strings.Replace(bad, "wait time.Duration)", "wait time.Duration, count *int)", 1)
		bad += "\nfunc Release() {}\n"
		_, err := parseString(bad)
		if err == nil {
			t.Errorf("%s: no error", tc.new)
			continue
		}
		if !strings.Contains(section, "    "+err.Error()+"\n") {
			t.Errorf("the doc does not show the error\n%s", err)
		}
	}
}
