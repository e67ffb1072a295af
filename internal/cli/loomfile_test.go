package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/testkit"
	"golang.org/x/crypto/ssh/agent"
)

// The loomfile of these tests: host tasks with typed, optional and
// defaulted arguments and per-task settings, a namespace, a local task
// running a rolling restart over a group, a dependency that runs once, and
// a local task composing host tasks with Execute.
const testLoomfile = `//go:build loom

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/loomssh/loom"
)

func init() {
	loom.Task(Greet, loom.OnHosts("h1", "h2"), loom.ArgDefault("greeting", "hello"))
	loom.Task(DB.Migrate, loom.OnHosts("h1", "h2", "h3"), loom.Once())
	loom.Task(Restart, loom.OnHosts("h[1-4]"), loom.Batches(loom.Count(2)))
	loom.Task(Agent, loom.OnHosts("h1"), loom.ForwardAgent())
	loom.Task(Mixed, loom.OnHosts("h1", "h2"))
	loom.Task(Stamp, loom.OnHosts("h1", "h2"))
}

// Agent shows whether the host got an agent.
func Agent(c *loom.Conn) error {
	c.Shell("echo agent=${SSH_AUTH_SOCK:+yes}")
	return c.Err()
}

// Greet appends GREETING, NAME to a file on each host, TIMES times.
func Greet(c *loom.Conn, name string, greeting string, times *int, addr *netip.Addr) error {
	n := 1
	if times != nil {
		n = *times
	}
	for range n {
		c.Shell(fmt.Sprintf("echo '%s, %s' >> greeted", greeting, name))
	}
	if addr != nil {
		c.Run("echo", "addr", addr.String())
	}
	return c.Err()
}

// DB holds the database tasks.
type DB loom.Namespace

// Migrate records STEPS migrations.
func (DB) Migrate(c *loom.Conn, steps int) error {
	c.Shell(fmt.Sprintf("echo migrated %d >> migrations", steps))
	return c.Err()
}

// Build stamps a local build, once per invocation.
func Build() error {
	f, err := os.OpenFile(filepath.Join(os.Getenv("LOOMFILE_TEST_DIR"), "builds"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintln(f, "built")
	return f.Close()
}

// Restart restarts a host after the build.
func Restart(c *loom.Conn) error {
	if err := loom.Deps(c.Context(), Build); err != nil {
		return err
	}
	c.Shell("echo restarted >> restarts; test ! -e broken")
	return c.Err()
}

// Rolling restarts h1..h4 in batches of BATCH, stopping at the first host that fails.
func Rolling(ctx context.Context, batch int) error {
	g, err := loom.NewGroup(ctx, loom.OnHosts("h1", "h2", "h3", "h4"), loom.Batches(loom.Count(batch)), loom.MaxFailures(loom.Count(0)))
	if err != nil {
		return err
	}
	names, rs := loom.Map(ctx, g, func(c *loom.Conn) (string, error) {
		c.Shell("echo rolled >> restarts; test ! -e broken")
		return "ok:" + c.Host(), nil
	})
	fmt.Printf("rolled %d hosts, not started %d\n", len(names), len(rs.NotStarted()))
	return rs.Err()
}

// Stamps reads a value from each host through a group's results.
func Stamps(ctx context.Context) error {
	g, err := loom.NewGroup(ctx, loom.OnHosts("h1", "h2"))
	if err != nil {
		return err
	}
	rs := g.Run(ctx, "echo", "stamp")
	for _, hr := range rs.Hosts {
		fmt.Printf("%s=%q\n", hr.Host, hr.Result.Stdout)
	}
	return rs.Err()
}

// Localshow runs local commands: their output is shown.
func Localshow() error { return loom.Local().Shell("echo built here; printf no-newline").Err }

// Mixed runs a local step in a host task.
func Mixed(c *loom.Conn) error {
	loom.Local().Run("echo", "local step for", c.Host())
	c.Run("echo", "remote step")
	return c.Err()
}

// Canary deploys to h1 first, then to the rest.
func Canary(ctx context.Context) error {
	for _, hosts := range [][]string{{"h1"}, {"h2", "h3"}} {
		g, err := loom.NewGroup(ctx, loom.OnHosts(hosts...))
		if err != nil {
			return err
		}
		if err := g.Shell(ctx, "echo deployed >> canary").Err(); err != nil {
			return err
		}
	}
	return nil
}

// Stamp is each host's name, as its value.
func Stamp(c *loom.Conn) (string, error) {
	return "stamp-" + c.Run("basename", "$PWD").Text(), c.Err()
}

// Stamps2 gets each host's stamp.
func Stamps2(ctx context.Context) error {
	vals, rs := loom.ExecuteMap[string](ctx, Stamp)
	fmt.Printf("%d values, %v\n", len(vals), rs.Err())
	return rs.Err()
}

// Hi says hi: the default task.
func Hi() { fmt.Println("hi from the default task") }

var Default = Hi

var Aliases = map[string]any{"g": Greet, "m": DB.Migrate}

// Release migrates on one host, then restarts all of them.
func Release(ctx context.Context) error {
	if err := loom.Execute(ctx, DB.Migrate, 3).Err(); err != nil {
		return err
	}
	return loom.Execute(ctx, Restart).Err()
}
`

// loomfileCache is shared by the tests of this package, so the loomfile is
// compiled once, not once per test.
var loomfileCache string

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == holder.ServeArg {
		os.Exit(holder.Main(os.Args[2:])) // the test binary as --persist's holder
	}
	dir, err := os.MkdirTemp("", "loom-cli-test-cache-")
	if err == nil {
		os.Setenv("LOOM_CACHE", dir)
		loomfileCache = dir
	}
	// Run records go to a throwaway state directory, not the user's.
	state, serr := os.MkdirTemp("", "loom-cli-test-state-")
	if serr == nil {
		os.Setenv("XDG_STATE_HOME", state)
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	if serr == nil {
		os.RemoveAll(state)
	}
	os.Exit(code)
}

func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to compile loomfiles with")
	}
}

// fakeAgent serves an empty keyring on a Unix socket and returns its path.
func fakeAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	kr := agent.NewKeyring()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(kr, c)
			}()
		}
	}()
	return sock
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, _ := os.ReadFile(name)
	return string(b)
}

// cachedPrograms lists the compiled programs in the cache dir.
func cachedPrograms(t *testing.T, cache string) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(cache, "bin"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestLoomfileTasksRun(t *testing.T) {
	needGo(t)
	cfg, _, hosts := labServers(t, 4)
	dir := t.TempDir()
	lf := filepath.Join(dir, "loomfile.go")
	os.WriteFile(lf, []byte(testLoomfile), 0o644)
	t.Setenv("LOOMFILE_TEST_DIR", dir)
	cache := t.TempDir() // its own: the test counts the programs built
	t.Setenv("LOOM_CACHE", cache)
	at := func(i int, name string) string { return readFile(t, filepath.Join(hosts[i].Dir(), name)) }

	// Typed arguments, a default, settings' hosts; positional and named.
	code, out, errs := run("-F", cfg, "-f", dir, "greet", "ann", "--times=2", "--addr", "10.0.0.1")
	if code != 0 {
		t.Fatalf("greet: %d %q %q", code, out, errs)
	}
	if at(0, "greeted") != "hello, ann\nhello, ann\n" || at(1, "greeted") != "hello, ann\nhello, ann\n" || at(2, "greeted") != "" {
		t.Fatalf("greet ran on the wrong hosts or with the wrong arguments: %q %q %q", at(0, "greeted"), at(1, "greeted"), at(2, "greeted"))
	}
	if !strings.Contains(out, "addr 10.0.0.1") {
		t.Fatalf("greet output: %q", out)
	}
	// --dry-run shows each host task with its hosts, runs nothing, and
	// does not run local tasks.
	code, out, errs = run("-F", cfg, "-f", dir, "--dry-run", "greet", "zed", "rolling", "2")
	if code != 0 || !strings.Contains(out, "greet zed on h[1-2]") || !strings.Contains(out, "rolling 2 (a local task: not run with --dry-run)") || strings.Contains(at(0, "greeted"), "zed") {
		t.Fatalf("dry run: %d %q %q", code, out, errs)
	}

	// A task's ForwardAgent forwards the agent to its hosts; other tasks'
	// hosts get none.
	t.Setenv("SSH_AUTH_SOCK", fakeAgent(t))
	if code, out, errs := run("-F", cfg, "-f", dir, "agent"); code != 0 || !strings.Contains(out, "agent=yes") || hosts[0].AgentForwardRequests() != 1 {
		t.Fatalf("agent: %d %q %q, %d requests", code, out, errs, hosts[0].AgentForwardRequests())
	}
	if code, out, errs := run("-F", cfg, "-f", dir, "-H", "h1", "greet", "x"); code != 0 || hosts[0].AgentForwardRequests() != 1 {
		t.Fatalf("greet asked for the agent: %d %q %q, %d requests", code, out, errs, hosts[0].AgentForwardRequests())
	}
	os.Remove(filepath.Join(hosts[0].Dir(), "greeted"))

	// The default task, and aliases.
	if code, out, errs := run("-f", dir); code != 0 || out != "hi from the default task\n" {
		t.Fatalf("default task: %d %q %q", code, out, errs)
	}
	if code, out, errs := run("-F", cfg, "-f", dir, "-H", "h4", "g", "dee", "--greeting=hey", "m", "2"); code != 0 || at(3, "greeted") != "hey, dee\n" || at(3, "migrations") != "migrated 2\n" {
		t.Fatalf("aliases: %d %q %q", code, out, errs)
	}
	os.Remove(filepath.Join(hosts[3].Dir(), "migrations"))
	programs := cachedPrograms(t, cache)
	if len(programs) != 1 {
		t.Fatalf("want one compiled program in the cache, got %v", programs)
	}

	// -H wins over the task's hosts; the default is overridden by name;
	// several tasks in one call; a namespace task with Once. The two
	// tasks share one connection to the host.
	before := hosts[2].Connections()
	code, out, errs = run("-F", cfg, "-f", dir, "-H", "h3", "greet", "bob", "--greeting=hi", "db:migrate", "7")
	if code != 0 {
		t.Fatalf("greet + db:migrate: %d %q %q", code, out, errs)
	}
	if n := hosts[2].Connections() - before; n != 1 {
		t.Fatalf("two tasks on h3 made %d connections, want 1", n)
	}
	if at(2, "greeted") != "hi, bob\n" || at(2, "migrations") != "migrated 7\n" {
		t.Fatalf("-H h3: greeted %q migrations %q", at(2, "greeted"), at(2, "migrations"))
	}
	if got := cachedPrograms(t, cache); len(got) != 1 || got[0] != programs[0] {
		t.Fatalf("the second run rebuilt: %v, then %v", programs, got)
	}

	// Release: Execute migrates on one host (Once), then restarts all four,
	// whose dependency Build runs once for the four; the two Executes
	// share h1's connection.
	before = hosts[0].Connections()
	code, out, errs = run("-F", cfg, "-f", dir, "release")
	if code != 0 {
		t.Fatalf("release: %d %q %q", code, out, errs)
	}
	if n := hosts[0].Connections() - before; n != 1 {
		t.Fatalf("release made %d connections to h1 for two Executes, want 1", n)
	}
	if at(0, "migrations") != "migrated 3\n" || at(1, "migrations") != "" {
		t.Fatalf("migrate should run on h1 only: %q %q", at(0, "migrations"), at(1, "migrations"))
	}
	for i := range hosts {
		if at(i, "restarts") != "restarted\n" {
			t.Fatalf("h%d restarts: %q", i+1, at(i, "restarts"))
		}
	}
	if b := readFile(t, filepath.Join(dir, "builds")); b != "built\n" {
		t.Fatalf("Build should run once per invocation, ran: %q", b)
	}

	// A rolling restart in batches of 2 from a local task: h2 fails, so
	// the second batch never starts.
	os.WriteFile(filepath.Join(hosts[1].Dir(), "broken"), nil, 0o644)
	code, out, errs = run("-F", cfg, "-f", dir, "rolling", "2")
	if code != ExitFailed {
		t.Fatalf("rolling with a broken host: %d %q %q", code, out, errs)
	}
	if !strings.Contains(out, "rolled 1 hosts, not started 2") || !strings.Contains(errs, "h2") {
		t.Fatalf("rolling output: %q %q", out, errs)
	}
	if at(2, "restarts") != "restarted\n" || at(0, "restarts") != "restarted\nrolled\n" {
		t.Fatalf("batches: h1 %q h3 %q", at(0, "restarts"), at(2, "restarts"))
	}

	// loom.Local() shows its output: as it is from a local task, prefixed
	// "local" among the hosts' lines.
	code, out, errs = run("-F", cfg, "-f", dir, "localshow")
	if code != ExitOK || out != "built here\nno-newline" {
		t.Fatalf("a local task's Local output: %d %q %q", code, out, errs)
	}
	code, out, errs = run("-F", cfg, "-f", dir, "mixed")
	if code != ExitOK || !strings.Contains(out, "local | local step for h1\n") || !strings.Contains(out, "local | local step for h2\n") || !strings.Contains(out, "h2 | remote step") {
		t.Fatalf("Local output in a host task: %d %q %q", code, out, errs)
	}

	// A host task returning a value shows each host's; a local task gets
	// them with ExecuteMap.
	code, out, errs = run("-F", cfg, "-f", dir, "stamp")
	if code != ExitOK || strings.Count(out, "| stamp-") != 2 {
		t.Fatalf("a task's values: %d %q %q", code, out, errs)
	}
	code, out, errs = run("-F", cfg, "-f", dir, "stamps2")
	if code != ExitOK || !strings.Contains(out, "2 values, <nil>") {
		t.Fatalf("ExecuteMap: %d %q %q", code, out, errs)
	}

	// -H narrows a local task's groups, never replaces their hosts: the
	// canary is deployed once, the rest not at all.
	code, out, errs = run("-F", cfg, "-f", dir, "-H", "h1", "canary")
	if code != ExitOK || at(0, "canary") != "deployed\n" || at(1, "canary") != "" || at(2, "canary") != "" || !strings.Contains(errs, "name none of its hosts") {
		t.Fatalf("-H with a canary task: %d %q %q; h1 %q h2 %q", code, out, errs, at(0, "canary"), at(1, "canary"))
	}

	// A local task reads its groups' output (it was discarded unless
	// --gather).
	code, out, errs = run("-F", cfg, "-f", dir, "stamps")
	if code != ExitOK || !strings.Contains(out, `h1="stamp\n"`) || !strings.Contains(out, `h2="stamp\n"`) {
		t.Fatalf("NewGroup results lost their output: %d %q %q", code, out, errs)
	}

	// Mistakes in the words are usage errors found before building or
	// connecting, naming the task and the argument.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"greet"}, "greet: missing argument NAME"},
		{[]string{"greet", "x", "--times=many"}, `greet: --times="many": not an int`},
		{[]string{"greet", "x", "--addr=300.1.1.1"}, `greet: --addr="300.1.1.1"`},
		{[]string{"greet", "x", "--tims=3"}, "did you mean --times"},
		{[]string{"gret"}, "did you mean greet"},
		{[]string{"greet", "x", "-P", "3"}, "flags go before the first task"},
	} {
		code, _, errs := run(append([]string{"-F", cfg, "-f", dir}, c.args...)...)
		if code != ExitUsage || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: %d %q, want one line with %q", c.args, code, errs, c.want)
		}
	}

	// --compile writes a standalone program: the loom command with the
	// tasks built in.
	bin := filepath.Join(dir, "tasks")
	if code, _, errs := run("-f", dir, "--compile", bin); code != 0 {
		t.Fatalf("--compile: %d %q", code, errs)
	}
	cmd := exec.Command(bin, "-l")
	outb, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(outb), "db:migrate") || !strings.Contains(string(outb), "rolling BATCH") {
		t.Fatalf("%s -l: %v %q", bin, err, outb)
	}
	os.Remove(filepath.Join(hosts[0].Dir(), "greeted"))
	outb, err = exec.Command(bin, "-F", cfg, "-H", "h1", "greet", "cy").CombinedOutput()
	if err != nil || at(0, "greeted") != "hello, cy\n" {
		t.Fatalf("compiled program: %v %q, greeted %q", err, outb, at(0, "greeted"))
	}

	// A change rebuilds.
	os.WriteFile(lf, []byte(strings.Replace(testLoomfile, "echo migrated", "echo Migrated", 1)), 0o644)
	if code, _, errs := run("-F", cfg, "-f", dir, "-H", "h4", "db:migrate", "1"); code != 0 || at(3, "migrations") != "Migrated 1\n" {
		t.Fatalf("after a change: %d %q %q", code, errs, at(3, "migrations"))
	}
	if got := cachedPrograms(t, cache); len(got) != 2 {
		t.Fatalf("a change should build a second program: %v", got)
	}
}

func TestLoomfileBuildErrors(t *testing.T) {
	needGo(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(`//go:build loom

package main

import "github.com/loomssh/loom"

// Deploy deploys.
func Deploy(c *loom.Conn, version string) error {
	c.Run("echo", version+1)
	return c.Err()
}
`), 0o644)
	code, _, errs := run("-H", "h1", "-f", dir, "deploy", "v1")
	if code != ExitUsage || !strings.Contains(errs, "loomfile.go:9:") || !strings.Contains(errs, "mismatched types") {
		t.Fatalf("type error: %d %q", code, errs)
	}
	if strings.Contains(errs, loomfileCache) || strings.Contains(errs, "command-line-arguments") {
		t.Fatalf("the error names the build's files, not the user's: %q", errs)
	}

	// A named argument type that cannot be decoded from text is found at
	// build time, with the task's position.
	os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(`//go:build loom

package main

import "github.com/loomssh/loom"

type Level int

// Deploy deploys.
func Deploy(c *loom.Conn, l Level) error { return nil }
`), 0o644)
	code, _, errs = run("-H", "h1", "-f", dir, "deploy", "3")
	if code != ExitUsage || !strings.Contains(errs, "loomfile.go:10") || !strings.Contains(errs, "encoding.TextUnmarshaler") {
		t.Fatalf("untextual type: %d %q", code, errs)
	}
}

func TestInitInNonGoProject(t *testing.T) {
	needGo(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "manage.py"), []byte("# a Django app\n"), 0o644)
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	if code, out, errs := run("init"); code != 0 || !strings.Contains(out, "loomfile.go") {
		t.Fatalf("init: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("init"); code != ExitUsage || !strings.Contains(errs, "already exists") {
		t.Fatalf("second init: %d %q", code, errs)
	}
	code, out, errs := run("-l")
	if code != 0 || !strings.Contains(out, "deploy VERSION") || !strings.Contains(out, "hello") {
		t.Fatalf("-l after init: %d %q %q", code, out, errs)
	}
	code, out, errs = run("hello", "--name=loom")
	if code != 0 || !strings.Contains(out, "hello, loom") {
		t.Fatalf("hello: %d %q %q", code, out, errs)
	}
}

// The loomfiles shown in the README and in docs/loomfiles.md compile.
func TestDocumentedLoomfilesBuild(t *testing.T) {
	needGo(t)
	for _, doc := range []string{"../../README.md", "../../docs/loomfiles.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks := strings.Split(string(b), "```go\n")
		n := 0
		for _, blk := range blocks[1:] {
			src, _, _ := strings.Cut(blk, "```")
			if !strings.HasPrefix(src, "//go:build loom") {
				continue
			}
			n++
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(src), 0o644)
			if code, _, errs := run("-f", dir, "--compile", filepath.Join(dir, "tasks")); code != 0 {
				t.Errorf("%s: loomfile %d does not build: %s", doc, n, errs)
			}
		}
		if n == 0 {
			t.Errorf("%s: no loomfile found", doc)
		}
	}
}

// A loomfiles/ directory with a go.mod of its own builds in that module,
// with its own requirements, and leaves the application's go.mod alone.
func TestLoomfilesModuleOfItsOwn(t *testing.T) {
	needGo(t)
	root, err := filepath.Abs("../..") // this module: the Loom the loomfiles require
	if err != nil {
		t.Fatal(err)
	}
	loomMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	loomSum, _ := os.ReadFile(filepath.Join(root, "go.sum"))
	app := t.TempDir()
	appMod := "module example.com/app\n\ngo 1.26\n"
	os.WriteFile(filepath.Join(app, "go.mod"), []byte(appMod), 0o644)
	dir := filepath.Join(app, "loomfiles")
	os.MkdirAll(dir, 0o755)
	// The loomfiles' go.mod: Loom from this checkout, and Loom's own
	// requirements (a go 1.17+ module lists what its packages need).
	mod := "module example.com/app/loomfiles\n\ngo 1.26\n\nrequire github.com/loomssh/loom v0.0.0-00010101000000-000000000000\n\n"
	for _, line := range strings.Split(string(loomMod), "\n") {
		if strings.HasPrefix(line, "\t") {
			mod += "require " + strings.TrimSpace(strings.TrimSuffix(line, "// indirect")) + "\n"
		}
	}
	mod += "\nreplace github.com/loomssh/loom => " + root + "\n"
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644)
	os.WriteFile(filepath.Join(dir, "go.sum"), loomSum, 0o644)
	os.WriteFile(filepath.Join(dir, "tasks.go"), []byte(`package main

import (
	"context"
	"fmt"

	"github.com/loomssh/loom"
)

// Hello says which module built it.
func Hello(ctx context.Context) error {
	_ = loom.Count(1)
	fmt.Println("hello from loomfiles/")
	return nil
}
`), 0o644)
	wd, _ := os.Getwd()
	if err := os.Chdir(app); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOPROXY", "off")
	code, out, errs := run("hello")
	if code != 0 || out != "hello from loomfiles/\n" {
		t.Fatalf("hello: %d %q %q", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(app, "go.mod")); string(b) != appMod {
		t.Fatalf("the application's go.mod changed:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "loom_generated_main.go")); err == nil {
		t.Fatal("the generated main was written into the loomfiles directory")
	}
}

// An interrupt reaches a running task as its context's cancellation; the
// task cleans up and loom exits 130.
func TestLoomfileTaskInterrupted(t *testing.T) {
	needGo(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(`//go:build loom

package main

import (
	"context"
	"fmt"
)

// Wait waits until interrupted.
func Wait(ctx context.Context) error {
	fmt.Println("waiting")
	<-ctx.Done()
	fmt.Println("cleaning up")
	return ctx.Err()
}
`), 0o644)
	// Build first, so the interrupt below lands on the running task.
	if code, _, errs := run("-f", dir, "--compile", filepath.Join(dir, "prog")); code != 0 {
		t.Fatalf("build: %s", errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var o, e syncBuffer
	done := make(chan int)
	go func() { done <- Run(ctx, []string{"-f", dir, "wait"}, Env{Stdout: &o, Stderr: &e}) }()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(o.String(), "waiting"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the task did not start: %q %q", o.String(), e.String())
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitInterrupted || !strings.Contains(o.String(), "cleaning up") || strings.Contains(e.String(), "context canceled") {
			t.Fatalf("interrupted: %d %q %q", code, o.String(), e.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("loom did not stop after the interrupt")
	}
}

// syncBuffer is the tests' buffer safe for concurrent writes.
type syncBuffer = testkit.SyncBuffer
