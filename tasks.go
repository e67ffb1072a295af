package loom

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loomssh/loom/internal/taskrt"
)

// Namespace is the type a loomfile declares its namespaces from:
//
//	type DB loom.Namespace
//
//	// Migrate applies the pending migrations.
//	func (DB) Migrate(c *loom.Conn) error { ... } // loom db:migrate
type Namespace struct{}

// Settings say which hosts a task or a group works on, and how: the
// defaults a loomfile gives a task with Task, or asks of NewGroup. Flags
// given to the loom command (-H, -R, -P, --batch, --pause, --max-fail,
// --max-fail-batch, --fail-fast) win over them.
type Settings struct {
	// Hosts and Roles are the targets when the command line names none:
	// the hosts as given, and the hosts of each role in the inventory.
	Hosts []string
	Roles []string
	// Parallel is how many hosts are worked on at once (0: the default).
	Parallel int
	// Batches are the batch sizes, as Group.Batches (one size: batches of
	// that size); Pause, MaxFail and MaxFailBatch are as in Group.
	Batches      []Limit
	Pause        time.Duration
	MaxFail      Limit
	MaxFailBatch Limit
	// FailFast is as in Group.
	FailFast bool
	// Once runs a host task on one host only: the first of those selected.
	Once bool
	// ForwardAgent forwards your agent to the hosts, as -A does.
	ForwardAgent bool
	// Defaults are the defaults of a task's arguments, by name, as text.
	Defaults map[string]string
}

// Apply sets g's Parallel, batches (Batches replace g's Batch and
// Batches), Pause, MaxFail, MaxFailBatch and FailFast from those that s
// sets, leaving the others as they are: this is how a task's settings
// become its group's, under NewGroup and under the loom command (whose
// flags then win).
func (s Settings) Apply(g *Group) {
	if s.Parallel > 0 {
		g.Parallel = s.Parallel
	}
	if len(s.Batches) > 0 {
		g.Batch, g.Batches = Limit{}, slices.Clone(s.Batches)
	}
	if s.Pause != 0 {
		g.Pause = s.Pause
	}
	if s.MaxFail.IsSet() {
		g.MaxFail = s.MaxFail
	}
	if s.MaxFailBatch.IsSet() {
		g.MaxFailBatch = s.MaxFailBatch
	}
	if s.FailFast {
		g.FailFast = true
	}
}

// An Option sets one of a task's or a group's Settings.
type Option func(*Settings)

// OnHosts targets these hosts (names as for Dial) by default.
func OnHosts(hosts ...string) Option {
	return func(s *Settings) { s.Hosts = append(s.Hosts, hosts...) }
}

// OnRoles targets the hosts of these inventory roles by default.
func OnRoles(roles ...string) Option {
	return func(s *Settings) { s.Roles = append(s.Roles, roles...) }
}

// Parallel works on at most n hosts at once (Fabric's @parallel(pool_size)).
func Parallel(n int) Option { return func(s *Settings) { s.Parallel = n } }

// Serial works on one host at a time (Fabric's @serial).
func Serial() Option { return Parallel(1) }

// Batches works in rolling batches of this size: a batch finishes before
// the next one starts. Several sizes are a ramp, as Ansible's serial list:
// the first batch has the first size, the next the second, and the last
// size repeats (Batches(Count(1), Count(5), Percent(25)): a canary, then
// five, then a quarter of the hosts at a time).
func Batches(sizes ...Limit) Option {
	return func(s *Settings) { s.Batches = slices.Clone(sizes) }
}

// Pause waits d between batches (Batches): time to watch a canary's
// dashboards before the next batch starts.
func Pause(d time.Duration) Option { return func(s *Settings) { s.Pause = d } }

// MaxFailures starts no new host once more than n hosts have failed.
func MaxFailures(n Limit) Option { return func(s *Settings) { s.MaxFail = n } }

// MaxFailuresPerBatch starts no new host once more than n hosts of one
// batch have failed, a percentage being of that batch's hosts (Ansible's
// max_fail_percentage; see Group.MaxFailBatch).
func MaxFailuresPerBatch(n Limit) Option { return func(s *Settings) { s.MaxFailBatch = n } }

// FailFast stops at the first failure and interrupts the running hosts.
func FailFast() Option { return func(s *Settings) { s.FailFast = true } }

// Once runs a host task on one host only, the first selected (Fabric's
// @runs_once): a database migration, say, on one of the web hosts.
func Once() Option { return func(s *Settings) { s.Once = true } }

// ForwardAgent forwards your ssh-agent to the task's hosts, as -A does:
// through Loom's filtering agent, which only lists keys and signs, so that
// a remote git pull can use your keys. --agent-key and --agent-hosts still
// apply.
func ForwardAgent() Option { return func(s *Settings) { s.ForwardAgent = true } }

// ArgDefault gives a task's argument a default: the argument becomes
// optional (given by name, --wait=10s) and value is used, as if typed on
// the command line, when it is left out. The loom command reads it from
// the loomfile's source, so name and value must be string literals.
func ArgDefault(name, value string) Option {
	return func(s *Settings) {
		if s.Defaults == nil {
			s.Defaults = map[string]string{}
		}
		s.Defaults[name] = value
	}
}

// registry holds what loomfiles registered with Task, and the Deps that
// ran. The loom command runs one invocation per process.
var registry struct {
	mu    sync.Mutex
	tasks map[string]*Settings
	errs  []error
}

// Task gives a loomfile's task its settings, in an init function:
//
//	func init() {
//		loom.Task(Deploy, loom.OnRoles("web"), loom.Parallel(5), loom.Batches(loom.Percent(25)))
//		loom.Task(DB.Migrate, loom.OnRoles("web"), loom.Once())
//	}
//
// This is where Fabric has decorators (@roles, @parallel, @serial,
// @runs_once). The loom command reads literal settings from the source for
// its help and uses the registered ones when it runs the task; flags on
// the command line win over both.
func Task(fn any, opts ...Option) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	k, ok := taskrt.FuncKey(fn)
	if !ok {
		registry.errs = append(registry.errs, fmt.Errorf("loom.Task: %T is not a function", fn))
		return
	}
	if registry.tasks == nil {
		registry.tasks = map[string]*Settings{}
	}
	if _, dup := registry.tasks[k]; dup {
		registry.errs = append(registry.errs, fmt.Errorf("loom.Task: %s is given settings twice", taskrt.FuncName(fn)))
		return
	}
	s := &Settings{}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	registry.tasks[k] = s
}

func init() {
	taskrt.SettingsOf = func(fn any) (any, bool) { return taskSettings(fn) }
	taskrt.Errors = taskErrors
}

// taskSettings returns the settings given to the task fn with Task, and
// whether it was given any.
func taskSettings(fn any) (Settings, bool) {
	k, ok := taskrt.FuncKey(fn)
	if !ok {
		return Settings{}, false
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s, ok := registry.tasks[k]
	if !ok {
		return Settings{}, false
	}
	return *s, true
}

// taskErrors returns the mistakes made in calls of Task (a value that is
// not a function, a task given settings twice), for the program running
// the tasks to report before it runs any.
func taskErrors() error {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return errors.Join(registry.errs...)
}

// NewGroup returns a Group for the settings opts make. Under the loom
// command the group shares the command's connections and output; a group
// with OnHosts or OnRoles keeps its own hosts, which -H and -R only narrow
// (it runs on those they also name, on none if they name none), so a task
// that opens a canary group and then one for the rest never runs the
// canary twice; a group without them runs on the command line's. Elsewhere it is a Group with a Dialer of default
// settings on the OnHosts hosts; OnRoles then is an error, since roles come
// from an inventory.
func NewGroup(ctx context.Context, opts ...Option) (*Group, error) {
	var s Settings
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	return newGroup(ctx, s, nil)
}

// newGroup makes the group of NewGroup, or of Execute running fn: through
// the loom command's launcher when there is one.
func newGroup(ctx context.Context, s Settings, fn any) (*Group, error) {
	if l := taskrt.LauncherOf(ctx); l != nil {
		g, err := l(ctx, s, fn)
		if err != nil {
			return nil, err
		}
		return g.(*Group), nil
	}
	if len(s.Roles) > 0 {
		return nil, fmt.Errorf("roles %s: roles come from an inventory: run under the loom command or install a Launcher", strings.Join(s.Roles, ","))
	}
	if len(s.Hosts) == 0 {
		return nil, errors.New("no hosts: give some with OnHosts")
	}
	hosts := Hosts(s.Hosts...)
	if s.Once {
		hosts = hosts[:1]
	}
	for i := range hosts {
		hosts[i].ForwardAgent = s.ForwardAgent
	}
	g := &Group{Hosts: hosts}
	s.Apply(g)
	return g, nil
}

var connType = reflect.TypeFor[*Conn]()

// Execute runs the host task fn with args on its own hosts, as the loom
// command would run it (Fabric's execute): with the settings given to it
// with Task, under the command line's flags. A local task uses it to run
// host tasks in order:
//
//	func Release(ctx context.Context, version string) error {
//		if err := loom.Execute(ctx, Upload, version).Err(); err != nil {
//			return err
//		}
//		return loom.Execute(ctx, Restart).Err()
//	}
//
// args must match fn's parameters after the *Conn. A call that cannot be
// made (fn is not a host task, wrong arguments, no hosts) returns Results
// whose Err says why, with no hosts.
func Execute(ctx context.Context, fn any, args ...any) *Results {
	call, err := taskrt.Bind("loom.Execute", fn, connType, args)
	if err != nil {
		return &Results{err: err}
	}
	s, _ := taskSettings(fn)
	g, err := newGroup(ctx, s, fn)
	if err != nil {
		return &Results{err: fmt.Errorf("%s: %w", taskrt.FuncName(fn), err)}
	}
	return g.Each(ctx, func(c *Conn) error {
		_, err := call(reflect.ValueOf(c))
		return err
	})
}

// ExecuteMap runs the host task fn with args as Execute does and returns
// the value it returned on each host that succeeded, by host name, with the
// Results of all of them: a task like
//
//	// Stamp is the version each host runs.
//	func Stamp(c *loom.Conn) (string, error) {
//		return c.Run("cat", "/srv/app/VERSION").Text(), c.Err()
//	}
//
// is both a task (loom stamp shows each host's value) and a function a
// local task gets the values of:
//
//	stamps, rs := loom.ExecuteMap[string](ctx, Stamp)
//
// fn must return a T and an error; another type is an error in the Results.
func ExecuteMap[T any](ctx context.Context, fn any, args ...any) (map[string]T, *Results) {
	call, err := taskrt.Bind("loom.ExecuteMap", fn, connType, args)
	if err == nil {
		if t := reflect.TypeOf(fn); t.NumOut() != 2 || !t.Out(0).AssignableTo(reflect.TypeFor[T]()) {
			err = fmt.Errorf("loom.ExecuteMap: %s returns %v, want (%v, error)", taskrt.FuncName(fn), typesOut(t), reflect.TypeFor[T]())
		}
	}
	if err != nil {
		return nil, &Results{err: err}
	}
	s, _ := taskSettings(fn)
	g, err := newGroup(ctx, s, fn)
	if err != nil {
		return nil, &Results{err: fmt.Errorf("%s: %w", taskrt.FuncName(fn), err)}
	}
	return Map(ctx, g, func(c *Conn) (T, error) {
		var zero T
		val, err := call(reflect.ValueOf(c))
		if err != nil || !val.IsValid() {
			return zero, err
		}
		return val.Interface().(T), nil
	})
}

func typesOut(t reflect.Type) []reflect.Type {
	ts := make([]reflect.Type, t.NumOut())
	for i := range ts {
		ts[i] = t.Out(i)
	}
	return ts
}

// Deps runs each of fns that has not yet run in this process, in order,
// and returns the first error (mage's Deps). A dependency runs once
// however many tasks and hosts ask for it; those that ask while it runs
// wait for it, and all get its error. fns are local tasks: func(),
// func() error, func(context.Context) or func(context.Context) error.
//
//	func Deploy(c *loom.Conn, version string) error {
//		if err := loom.Deps(c.Context(), Build); err != nil { // built once, for all hosts
//			return err
//		}
//		...
//	}
//
// A dependency is known by its function: the closures one func literal
// makes are one dependency, whatever they capture. A dependency must not
// (even indirectly) depend on itself.
func Deps(ctx context.Context, fns ...any) error {
	for _, fn := range fns {
		if err := taskrt.RunDep(ctx, fn, isHostTask); err != nil {
			return err
		}
	}
	return nil
}

// isHostTask reports whether t is a host task's type: a *Conn first.
func isHostTask(t reflect.Type) bool { return t.NumIn() > 0 && t.In(0) == connType }

// Map calls fn with each host's Conn of g, as Each does, and returns the
// value fn returned for each host that succeeded, by host name, with the
// Results of all of them:
//
//	free, rs := loom.Map(ctx, g, func(c *loom.Conn) (int, error) {
//		out := c.Shell("df --output=avail -k / | tail -1").Stdout
//		return strconv.Atoi(strings.TrimSpace(out))
//	})
func Map[T any](ctx context.Context, g *Group, fn func(*Conn) (T, error)) (map[string]T, *Results) {
	var mu sync.Mutex
	values := map[string]T{}
	rs := g.Each(ctx, func(c *Conn) error {
		v, err := fn(c)
		if err != nil {
			return err
		}
		if c.Err() == nil {
			mu.Lock()
			values[c.Host()] = v
			mu.Unlock()
		}
		return nil
	})
	return values, rs
}
