package loom_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/taskrt"
)

type testNS loom.Namespace

func (testNS) Migrate(c *loom.Conn, steps int) error { return nil }

func (*testNS) Seed(c *loom.Conn) error { return nil }

func settingsTask(c *loom.Conn, version string, extra ...string) error {
	c.Run(append([]string{"echo", version}, extra...)...)
	return c.Err()
}

// taskSettings is what the loom command reads of a task's settings.
func taskSettings(fn any) (loom.Settings, bool) {
	s, ok := taskrt.SettingsOf(fn)
	v, _ := s.(loom.Settings)
	return v, ok
}

func TestTaskSettingsFindsEveryFormOfAFunction(t *testing.T) {
	loom.Task(settingsTask, loom.OnRoles("web"), loom.Parallel(5), loom.Batches(loom.Percent(25)), loom.MaxFailures(loom.Count(1)), loom.ArgDefault("version", "v1"))
	loom.Task(testNS.Migrate, loom.Once(), loom.OnHosts("a", "b"))
	loom.Task((*testNS).Seed, loom.Serial(), loom.FailFast())

	s, ok := taskSettings(settingsTask)
	if !ok || !slices.Equal(s.Roles, []string{"web"}) || s.Parallel != 5 || len(s.Batches) != 1 || s.Batches[0].String() != "25%" || s.MaxFail.String() != "1" || s.Defaults["version"] != "v1" {
		t.Fatalf("settingsTask: %+v %v", s, ok)
	}
	// A method is found as a method expression of either receiver, or as
	// a method value: the generated main uses new(DB).Migrate.
	for _, fn := range []any{testNS.Migrate, (*testNS).Migrate, new(testNS).Migrate} {
		s, ok := taskSettings(fn)
		if !ok || !s.Once || !slices.Equal(s.Hosts, []string{"a", "b"}) {
			t.Fatalf("%T: %+v %v", fn, s, ok)
		}
	}
	if s, ok := taskSettings(new(testNS).Seed); !ok || s.Parallel != 1 || !s.FailFast {
		t.Fatalf("Seed: %+v %v", s, ok)
	}
	if _, ok := taskSettings(TestTaskSettingsFindsEveryFormOfAFunction); ok {
		t.Fatal("settings for a function never given any")
	}
	loom.Task(settingsTask)
	loom.Task(42)
	err := taskrt.Errors()
	if err == nil || !strings.Contains(err.Error(), "settingsTask is given settings twice") || !strings.Contains(err.Error(), "int is not a function") {
		t.Fatalf("TaskErrors: %v", err)
	}
}

func TestDepsRunOnceForAllCallers(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	build := func(ctx context.Context) error {
		runs.Add(1)
		<-release
		return errors.New("compiler on fire")
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = loom.Deps(context.Background(), build) })
	}
	close(release)
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("the dependency ran %d times, want once", runs.Load())
	}
	for _, err := range errs {
		if err == nil || err.Error() != "compiler on fire" {
			t.Fatalf("every caller gets the dependency's error, got %v", err)
		}
	}
	if err := loom.Deps(context.Background(), build); err == nil || runs.Load() != 1 {
		t.Fatalf("a later call: %v, runs %d", err, runs.Load())
	}

	var order []string
	a := func() { order = append(order, "a") }
	b := func() error { order = append(order, "b"); return nil }
	if err := loom.Deps(context.Background(), a, b, a); err != nil || strings.Join(order, "") != "ab" {
		t.Fatalf("in order, once each: %v %v", order, err)
	}
	if err := loom.Deps(context.Background(), settingsTask); err == nil || !strings.Contains(err.Error(), "host task") {
		t.Fatalf("a host task as a dependency: %v", err)
	}
	if err := loom.Deps(context.Background(), func(int) {}); err == nil || !strings.Contains(err.Error(), "want a func()") {
		t.Fatalf("a func(int): %v", err)
	}
	panicky := func() { panic("boom") }
	if err := loom.Deps(context.Background(), panicky); err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("a panicking dependency: %v", err)
	}
}

func TestExecuteChecksItsCall(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		fn   any
		args []any
		want string
	}{
		{42, nil, "int is not a function"},
		{func(ctx context.Context) error { return nil }, nil, "is not a host task"},
		{settingsTask, nil, "takes 2 arguments"},
		{settingsTask, []any{3}, "argument 1 is a int, want string"},
		{settingsTask, []any{"v1", "x", 4}, "argument 3 is a int, want string"},
		{testNS.Migrate, []any{"three"}, "argument 1 is a string, want int"},
	} {
		err := loom.Execute(ctx, c.fn, c.args...).Err()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Execute(%T, %v): %v, want %q", c.fn, c.args, err, c.want)
		}
	}
	// Without a Launcher, roles cannot be resolved.
	if err := loom.Execute(ctx, settingsTask, "v1").Err(); err == nil || !strings.Contains(err.Error(), "inventory") {
		t.Errorf("roles without a launcher: %v", err)
	}
	if _, err := loom.NewGroup(ctx); err == nil || !strings.Contains(err.Error(), "no hosts") {
		t.Errorf("NewGroup with no hosts: %v", err)
	}
	g, err := loom.NewGroup(ctx, loom.OnHosts("a", "b", "c"), loom.Once(), loom.Parallel(3))
	if err != nil || len(g.Hosts) != 1 || g.Hosts[0].Name != "a" || g.Parallel != 3 {
		t.Errorf("NewGroup with Once: %+v %v", g, err)
	}
}

func TestExecuteRunsOnTheLaunchersGroup(t *testing.T) {
	servers, d, cleanup := exampleHosts(3)
	defer cleanup()
	var got loom.Settings
	var gotFn any
	ctx := taskrt.WithLauncher(context.Background(), func(ctx context.Context, s, fn any) (any, error) {
		got, gotFn = s.(loom.Settings), fn
		return &loom.Group{Dialer: d, Hosts: loom.Hosts(servers[0].Addr(), servers[1].Addr(), servers[2].Addr())}, nil
	})
	rs := loom.Execute(ctx, settingsTask, "v2", "a", "b")
	if err := rs.Err(); err != nil || len(rs.OK()) != 3 {
		t.Fatalf("Execute: %v", err)
	}
	if k, _ := taskrt.FuncKey(gotFn); !strings.HasSuffix(k, ".settingsTask") || !slices.Equal(got.Roles, []string{"web"}) || got.Parallel != 5 {
		t.Fatalf("the launcher got %+v, want settingsTask's settings", got)
	}
	if out := rs.Hosts[1].Result.Stdout; out != "v2 a b\n" {
		t.Fatalf("the task's arguments: %q", out)
	}
	if err := loom.Execute(ctx, testNS.Migrate, 3).Err(); err != nil {
		t.Fatalf("a namespace method: %v", err)
	}
}

// A local task runs a function on a group and gets each host's value.
func ExampleMap() {
	servers, d, cleanup := exampleHosts(2)
	defer cleanup()
	g := &loom.Group{Dialer: d, Hosts: loom.Hosts(servers[0].Addr(), servers[1].Addr())}
	sums, rs := loom.Map(context.Background(), g, func(c *loom.Conn) (int, error) {
		var n int
		_, err := fmt.Sscan(c.Shell("echo $((40 + 2))").Stdout, &n)
		return n, err
	})
	fmt.Println(rs.Err(), sums[servers[0].Addr()], sums[servers[1].Addr()])
	// Output: <nil> 42 42
}

// Deps runs a dependency once however many tasks and hosts ask for it.
func ExampleDeps() {
	build := func() error { fmt.Println("building"); return nil }
	ctx := context.Background()
	for range 3 {
		if err := loom.Deps(ctx, build); err != nil {
			fmt.Println(err)
		}
	}
	// Output: building
}
