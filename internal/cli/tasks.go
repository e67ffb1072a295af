package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/hostlist"
	"github.com/loomssh/loom/internal/loomfile"
	"github.com/loomssh/loom/internal/output"
	"github.com/loomssh/loom/internal/shquote"
	"github.com/loomssh/loom/internal/taskrt"
)

// tasks answers -l (list the loomfile's tasks) and -h TASK (one task's
// help): from the compiled program's table when there is one, else by
// parsing the loomfile, without compiling it.
func tasks(o *options, env Env, prog *program) int {
	var info *loomfile.Info
	if prog != nil {
		info = prog.info
	} else {
		_, i, err := findLoomfile(o)
		if err != nil {
			fmt.Fprintf(env.Stderr, "loom: %v\n", err)
			return ExitUsage
		}
		info = i
	}
	if o.list {
		info.List(env.Stdout)
		return ExitOK
	}
	if err := info.Help(env.Stdout, o.args[0]); err != nil {
		fmt.Fprintf(env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	return ExitOK
}

// checkList refuses -l with a command or arguments: ssh users write -l
// USER, which is -u here.
func checkList(o *options) error {
	if o.list && (o.command || len(o.args) > 0) {
		what := "a command"
		if !o.command {
			what = o.args[0]
		}
		return fmt.Errorf("-l lists the loomfile's tasks and takes no arguments (got %s); for the remote user (ssh's -l USER) use -u USER", what)
	}
	return nil
}

// findLoomfile finds the loomfile (-f, or upward from the working
// directory) and parses it.
func findLoomfile(o *options) (*loomfile.Project, *loomfile.Info, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, nil, err
	}
	p, err := loomfile.Find(wd, o.taskFile)
	if err != nil {
		return nil, nil, err
	}
	info, err := loomfile.Parse(p)
	if err != nil {
		return nil, nil, err
	}
	return p, info, nil
}

// taskCall is one task named on the command line, with its arguments.
type taskCall struct {
	t    *loomfile.Task
	vals []loomfile.Value
}

// bindCalls splits the words after the flags into task calls: a task
// name (or alias), then its arguments (see loomfile.Bind), then the next
// task. No words: the default task.
func bindCalls(info *loomfile.Info, words []string) ([]taskCall, error) {
	if len(words) == 0 {
		t, err := info.Resolve("")
		if err != nil {
			return nil, fmt.Errorf("%v; loom -l lists the tasks, and a command goes after --", err)
		}
		vals, _, err := loomfile.Bind(t, nil)
		if err != nil {
			return nil, err
		}
		return []taskCall{{t, vals}}, nil
	}
	var calls []taskCall
	for len(words) > 0 {
		w := words[0]
		if strings.HasPrefix(w, "-") {
			if len(calls) == 0 {
				return nil, fmt.Errorf("%s: not a task", w)
			}
			return nil, fmt.Errorf("%s: loom's flags go before the first task (loom -R web deploy v2), a task's own after its name", w)
		}
		t, err := info.Resolve(w)
		if err != nil {
			if len(calls) == 0 {
				return nil, fmt.Errorf("%v; a command goes after --: loom -H HOST -- %s", err, shquote.Join(words))
			}
			return nil, err
		}
		vals, rest, err := loomfile.Bind(t, words[1:])
		if err != nil {
			return nil, err
		}
		calls = append(calls, taskCall{t, vals})
		words = rest
	}
	return calls, nil
}

// runTasks runs the tasks named on the command line, in order, each to
// its end before the next starts; the first that fails ends the run. A
// host task runs on its hosts through the fan-out engine, with the
// command line's flags winning over the task's settings; a local task is
// called once, with a context whose NewGroup and Execute share this run's
// connections and output.
func runTasks(ctx context.Context, o *options, env Env, prog *program) int {
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "loom: "+format+"\n", a...)
		return ExitUsage
	}
	if o.mode != "" || o.owner != "" || o.check || o.deleteExtra || o.checksum || o.overwrite || len(o.fileExcludes.vals) > 0 {
		return usage("--mode, --owner, --exclude, --checksum, --delete, --check and --overwrite are for put, get and sync")
	}
	calls, err := bindCalls(prog.info, o.args)
	if err != nil {
		return usage("%v", err)
	}
	args := make([][]reflect.Value, len(calls))
	for i, c := range calls {
		if args[i], err = prog.args(c.t, c.vals); err != nil {
			return usage("%v", err)
		}
	}
	e, err := newEngine(o, env)
	if err != nil {
		return usage("%v", err)
	}
	defer e.close()
	tr := &taskRun{engine: e, prog: prog, many: len(calls) > 1}
	ctx = taskrt.WithLauncher(ctx, tr.launch)
	taskrt.LocalOutput = tr.localOutput
	if e.d.Echo != nil {
		taskrt.Echo = e.d.Echo
		defer func() { taskrt.Echo = nil }()
	}
	for i, c := range calls {
		var code int
		if c.t.Kind == loomfile.Host {
			code = tr.hostTask(ctx, c, args[i])
		} else {
			code = tr.localTask(ctx, c, args[i])
		}
		if code != ExitOK {
			return code
		}
		if ctx.Err() != nil {
			return ExitInterrupted
		}
	}
	return ExitOK
}

// taskRun is one run of a compiled loomfile's tasks.
type taskRun struct {
	*engine
	prog *program
	many bool // several tasks: each gets a header line
}

// settings returns the settings the loomfile gave fn with loom.Task.
func settings(fn reflect.Value) loom.Settings {
	s, _ := taskrt.SettingsOf(fn.Interface())
	v, _ := s.(loom.Settings)
	return v
}

// hosts selects the hosts of a task or group: the command line's -H and
// -R when given, else the settings' hosts and roles.
//
// With narrow (a group a local task opens) the command line only narrows
// the hosts the settings name: the group runs on those of its own hosts
// that -H/-R also name, never on another, so that a task opening a canary
// group and then one for the rest cannot run the canary twice with
// -H canary. A group whose settings name no hosts takes the command line's.
func (tr *taskRun) hosts(ctx context.Context, what string, s loom.Settings, narrow bool) ([]loom.Host, error) {
	o := tr.o
	flagged := len(o.hosts.vals) > 0 || len(o.roles.vals) > 0
	own := len(s.Hosts) > 0 || len(s.Roles) > 0
	if !flagged && !own {
		return nil, fmt.Errorf("%s: no hosts: give some with -H or -R, or in the loomfile: loom.Task(Fn, loom.OnRoles(\"web\"))", what)
	}
	sel := o
	if !flagged || narrow && own {
		oc := *o
		oc.hosts = listFlag{vals: s.Hosts}
		oc.roles = listFlag{vals: s.Roles}
		sel = &oc
	}
	hosts, err := selectHosts(ctx, sel)
	if errors.Is(err, errNoInventory) && sel != o && flagged {
		// The group's roles cannot be known without an inventory: the
		// command line's hosts are all there is to go by. Said, not guessed.
		tr.p.Printf(true, "loom: %s: its roles (%s) need an inventory, and there is none: it runs on the hosts -H names\n", what, strings.Join(s.Roles, ","))
		sel, narrow = o, false
		hosts, err = selectHosts(ctx, o)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if narrow && own && flagged {
		named, err := selectHosts(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		in := map[string]bool{}
		for _, h := range named {
			in[h.Name] = true
		}
		kept := hosts[:0]
		for _, h := range hosts {
			if in[h.Name] {
				kept = append(kept, h)
			}
		}
		if len(kept) == 0 {
			tr.p.Printf(true, "loom: %s: -H/-R name none of its hosts (%s): it runs on none\n", what, hostlist.Fold(hostNames(hosts)))
			return nil, nil
		}
		hosts = kept
	} else if len(hosts) == 0 {
		if len(o.excludes.vals) > 0 {
			return nil, fmt.Errorf("%s: no hosts left to run on: -x excluded every one", what)
		}
		return nil, fmt.Errorf("%s: no hosts to run on", what)
	}
	if hosts, err = pickHosts(tr.env.Stderr, o, hosts); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if s.Once {
		hosts = hosts[:1]
	}
	if s.ForwardAgent {
		for i := range hosts {
			hosts[i].ForwardAgent = true
		}
	}
	return hosts, nil
}

// taskGroup is a Group on hosts with the settings, under the flags: a
// flag given on the command line wins.
func (tr *taskRun) taskGroup(hosts []loom.Host, s loom.Settings) *loom.Group {
	g := tr.group(hosts)
	if tr.o.set["P"] {
		s.Parallel = 0
	}
	if tr.o.set["batch"] {
		s.Batches = nil
	}
	if tr.o.set["pause"] {
		s.Pause = 0
	}
	if tr.o.set["max-fail"] {
		s.MaxFail = loom.Limit{}
	}
	if tr.o.set["max-fail-batch"] {
		s.MaxFailBatch = loom.Limit{}
	}
	if tr.o.set["fail-fast"] {
		s.FailFast = false
	}
	s.Apply(g)
	return g
}

// pauseWithoutBatches refuses --pause for a group that runs in one batch:
// the pause would never happen.
func pauseWithoutBatches(what string, g *loom.Group) error {
	if g.Pause > 0 && !g.Batch.IsSet() && len(g.Batches) == 0 {
		return fmt.Errorf("%s: --pause %v waits between batches, and it runs in one: give --batch too (or loom.Batches in the loomfile)", what, g.Pause)
	}
	return nil
}

// hostTask runs a host task on its hosts and returns the exit status.
func (tr *taskRun) hostTask(ctx context.Context, c taskCall, args []reflect.Value) int {
	fn := tr.prog.funcs[c.t.Name]
	s := settings(fn)
	hosts, err := tr.hosts(ctx, c.t.Name, s, false)
	if err != nil {
		fmt.Fprintf(tr.env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	if _, err := tr.resolve(hosts); err != nil {
		fmt.Fprintf(tr.env.Stderr, "loom: %s: %v\n", c.t.Name, err)
		return ExitUsage
	}
	g := tr.taskGroup(hosts, s)
	if err := pauseWithoutBatches(c.t.Name, g); err != nil {
		fmt.Fprintf(tr.env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	what := describe(c.t, c.vals)
	if tr.o.dryRun {
		fmt.Fprintf(tr.env.Stdout, "%s on %s (-P %d)\n", what, hostlist.Fold(hostNames(hosts)), g.Parallel)
		return ExitOK
	}
	if tr.many {
		tr.p.Printf(true, "── %s on %d host%s\n", what, len(hosts), plural(len(hosts)))
	}
	return tr.runGroup(ctx, "task", g, func(*report) func(*loom.Conn) error {
		return func(conn *loom.Conn) error {
			conn = tr.scope(conn, false)
			val, err := tr.prog.callValue(c.t, reflect.ValueOf(conn), args)
			if err == nil && val.IsValid() {
				conn.Printf("%v", val.Interface()) // the host's answer, through its output
			}
			return err
		}
	})
}

// localTask calls a local task once and returns the exit status.
func (tr *taskRun) localTask(ctx context.Context, c taskCall, args []reflect.Value) int {
	what := describe(c.t, c.vals)
	if tr.o.dryRun {
		fmt.Fprintf(tr.env.Stdout, "%s (a local task: not run with --dry-run)\n", what)
		return ExitOK
	}
	if tr.many {
		tr.p.Printf(true, "── %s\n", what)
	}
	var first reflect.Value
	if c.t.TakesContext {
		first = reflect.ValueOf(ctx)
	}
	if err := tr.prog.call(c.t, first, args); err != nil {
		if ctx.Err() != nil {
			if !errors.Is(err, context.Canceled) { // the interrupt was already said
				tr.p.Printf(true, "loom: %s: %v\n", c.t.Name, err)
			}
			return ExitInterrupted
		}
		tr.p.Printf(true, "loom: %s: %v\n", c.t.Name, err)
		return ExitFailed
	}
	return ExitOK
}

// localOutput is where loom.Local() shows its commands' output in a task:
// passed through when no host is at work, prefixed "local" among the
// hosts' lines, and on stderr when stdout is for --json or --gather.
func (tr *taskRun) localOutput() (io.Writer, io.Writer) {
	stdout, stderr := tr.localStreams()
	if tr.o.hidden("stdout") {
		stdout = io.Discard
	}
	if tr.o.hidden("stderr") {
		stderr = io.Discard
	}
	return stdout, stderr
}

func (tr *taskRun) localStreams() (io.Writer, io.Writer) {
	if tr.o.json || tr.o.gather {
		return endLines{&output.Lines{P: tr.p, Stderr: true, Prefix: "local | "}}, endLines{&output.Lines{P: tr.p, Stderr: true, Prefix: "local ! "}}
	}
	if hostsRunning.Load() == 0 {
		return rawWriter{tr.p, false}, rawWriter{tr.p, true}
	}
	return endLines{&output.Lines{P: tr.p, Prefix: "local | "}}, endLines{&output.Lines{P: tr.p, Stderr: true, Prefix: "local ! "}}
}

// endLines shows a command's last line without a newline when the command
// ends (loom calls EndOfCommand).
type endLines struct{ *output.Lines }

func (l endLines) EndOfCommand() { l.Close() }

// launch makes the groups of loom.NewGroup and loom.Execute in a local
// task: the command line's hosts or the settings', this run's Dialer,
// and live output with a line for each host that fails.
func (tr *taskRun) launch(ctx context.Context, settings, fn any) (any, error) {
	s, _ := settings.(loom.Settings)
	what := "group"
	if fn != nil {
		what = taskName(tr.prog, reflect.ValueOf(fn))
	}
	hosts, err := tr.hosts(ctx, what, s, true)
	if err != nil {
		return nil, err
	}
	if _, err := tr.resolve(hosts); err != nil {
		return nil, err
	}
	g := tr.taskGroup(hosts, s)
	if err := pauseWithoutBatches(what, g); err != nil {
		return nil, err
	}
	// A task reads its groups' results: their output is kept (each stream
	// bounded by the Conn's MaxOutput), unlike the command's own runs,
	// whose output has been printed.
	g.DiscardOutput = false
	r := newReport(tr.o, tr.p, tr.env, hosts)
	r.sub = "task"
	g.Output, g.OnStart = r.output, r.started
	g.OnDone = func(hr *loom.HostResult) {
		r.done(hr)
		if hr.Status != loom.StatusOK && hr.Status != loom.StatusNotStarted && !tr.o.json {
			msg := hr.Reason()
			if hr.Err != nil {
				msg = strings.TrimPrefix(hr.Err.Error(), hr.Host+": ")
			}
			tr.p.Printf(true, "%s | loom: %s\n", hr.Host, oneLine(msg))
		}
	}
	return g, nil
}

// taskName is the name of the task whose function is fn, or its Go name.
func taskName(prog *program, fn reflect.Value) string {
	for name, f := range prog.funcs {
		if k, _ := taskrt.FuncKey(f.Interface()); k == mustKey(fn) {
			return name
		}
	}
	if f := runtime.FuncForPC(fn.Pointer()); f != nil {
		return strings.TrimPrefix(f.Name(), "main.")
	}
	return fn.Type().String()
}

func mustKey(fn reflect.Value) string {
	k, _ := taskrt.FuncKey(fn.Interface())
	return k
}

func hostNames(hosts []loom.Host) []string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return names
}
