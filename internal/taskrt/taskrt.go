// Package taskrt is the plumbing between package loom's task runtime (Task,
// Deps, Execute, NewGroup) and the loom command that runs a loomfile's
// tasks. It keeps that plumbing out of loom's public API: the loom command
// reads the settings loomfiles register, and installs the launcher that
// makes their groups on its flags, connections and output, through here.
//
// Package loom sets the hooks below in its init; this package cannot name
// loom's types (loom imports it), so the values cross as any and are
// asserted by the two ends, which do know them.
package taskrt

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
)

// Hooks set by package loom.
var (
	// SettingsOf returns the loom.Settings registered with loom.Task for
	// the function fn, and whether there were any.
	SettingsOf func(fn any) (settings any, ok bool)
	// Errors returns the mistakes made in calls of loom.Task.
	Errors func() error
)

// LocalOutput, set by the loom command, gives loom.Local() its live output:
// a task's local commands are shown as they run, as Fabric's local() shows
// them. Nil (a program of your own): Local shows nothing unless asked with
// Stream. A writer with an EndOfCommand method is told when each command
// ends, so that a last line without a newline is shown then.
var LocalOutput func() (stdout, stderr io.Writer)

// Echo, set by the loom command with --echo, is the Dialer.Echo of the
// Conns loom.Local() returns: a task's local commands are shown as they
// start, like the hosts'.
var Echo func(host, cmd string)

// A Launcher makes the group of a loom.NewGroup or loom.Execute: settings
// is the loom.Settings asked for, fn the task that Execute runs (nil for
// NewGroup), and the result a *loom.Group.
type Launcher func(ctx context.Context, settings any, fn any) (group any, err error)

type launcherKey struct{}

// WithLauncher returns a context in which loom.NewGroup and loom.Execute
// make their groups with l.
func WithLauncher(ctx context.Context, l Launcher) context.Context {
	return context.WithValue(ctx, launcherKey{}, l)
}

// LauncherOf returns the Launcher of ctx, or nil.
func LauncherOf(ctx context.Context) Launcher {
	l, _ := ctx.Value(launcherKey{}).(Launcher)
	return l
}

// FuncKey identifies a function: its name as the runtime knows it, with a
// method's receiver written the same whether it is a value or a pointer,
// and a method value named as its method, so that Deploy, DB.Migrate,
// (*DB).Migrate and new(DB).Migrate each name one task. ok is false when fn
// is not a function.
func FuncKey(fn any) (key string, ok bool) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "", false
	}
	f := runtime.FuncForPC(v.Pointer())
	if f == nil {
		return fmt.Sprintf("func@%#x", v.Pointer()), true
	}
	name := strings.TrimSuffix(f.Name(), "-fm")
	name = strings.Replace(name, "(*", "", 1)
	name = strings.Replace(name, ").", ".", 1)
	return name, true
}

// FuncName is fn's Go name without its package: "Deploy", "DB.Migrate".
func FuncName(fn any) string {
	k, ok := FuncKey(fn)
	if !ok {
		return fmt.Sprintf("%T", fn)
	}
	if i := strings.LastIndex(k, "/"); i >= 0 {
		k = k[i+1:]
	}
	if i := strings.Index(k, "."); i >= 0 {
		k = k[i+1:]
	}
	return k
}
