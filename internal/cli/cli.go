// Package cli is the loom command: flags, host selection, the run over the
// hosts, live output, the summary and the exit status. Run takes its
// streams so the whole CLI is testable in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/output"
	"github.com/loomssh/loom/internal/prompt"
	"github.com/loomssh/loom/internal/shquote"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3";
// otherwise the module version from the build info is used.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Env is what the CLI takes from its process, so tests can run it in-process.
type Env struct {
	Stdin          io.Reader // forwarded to the command when there is one host; nil: none
	Stdout, Stderr io.Writer
	Prompt         loom.Prompter // asks for passwords; nil: no terminal
	Color          bool          // colour the host prefixes
	Progress       bool          // stderr is a terminal: show a progress line
	// Terminal is set when stdin is a terminal: loom ssh HOST and -t on
	// one host then give the command this process's terminal (os.Stdin).
	Terminal bool
	// Exec runs the compiled loomfile at path with args and returns its
	// exit status (the loom command replaces itself with it). Nil: run it
	// as a child process on these streams.
	Exec func(path string, args []string) int
}

// demo is "loom demo" (internal/demo), set by the loom command's main with
// SetDemo: the in-process test servers it needs are linked into the loom
// command only, not into every compiled loomfile.
var demo func(ctx context.Context, args []string, env Env) int

// SetDemo installs "loom demo".
func SetDemo(f func(ctx context.Context, args []string, env Env) int) { demo = f }

// maxHandshakes is the default cap on connections set up at once.
const maxHandshakes = 64

// Run runs the loom command with args (without the program name) and
// returns the exit status.
func Run(ctx context.Context, args []string, env Env) int {
	return runWith(ctx, args, env, nil)
}

// runWith runs the loom command; prog is the compiled loomfile whose tasks
// are built in, or nil for the plain loom command, which builds the
// loomfile it finds and runs that.
func runWith(ctx context.Context, args []string, env Env, prog *program) int {
	if len(args) > 0 && args[0] == holder.ServeArg {
		return holder.Main(args[1:]) // the background holder of --persist
	}
	name := "loom"
	if prog != nil {
		name = prog.name
	}
	if len(args) > 0 && args[0] == "demo" && prog == nil {
		if demo == nil {
			fmt.Fprintln(env.Stderr, "loom: demo is not built into this program")
			return ExitUsage
		}
		return demo(ctx, args[1:], env)
	}
	if len(args) > 0 && (args[0] == "completion" || args[0] == "__complete") {
		return completionMain(args, env, prog, name)
	}
	if prog == nil && len(args) > 0 && args[0] == "init" {
		return initLoomfile(args[1:], env)
	}
	o, t, err := parseFlagsAs(name, args, env.Stderr)
	if err != nil {
		return ExitUsage
	}
	sub := o.sub
	if sub == "last" {
		if len(o.args) > 0 || o.command {
			fmt.Fprintf(env.Stderr, "%s: last takes no arguments; it shows the last run's record\n", name)
			return ExitUsage
		}
		if err := showLast(env.Stdout); err != nil {
			fmt.Fprintf(env.Stderr, "%s: last: %v\n", name, err)
			return ExitUsage
		}
		return ExitOK
	}
	if o.rerunFailed {
		if len(o.hosts.vals) > 0 || len(o.roles.vals) > 0 {
			fmt.Fprintf(env.Stderr, "%s: --rerun-failed selects the hosts itself (the last run's not ok); leave out -H and -R, or write -H @failed with others\n", name)
			return ExitUsage
		}
		o.hosts.vals = []string{"@failed"}
	}
	if o.help && len(o.args) == 0 {
		t.usage(env.Stdout, name, prog != nil)
		return ExitOK
	}
	if o.list || o.help {
		if err := checkList(o); err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
			return ExitUsage
		}
		return tasks(o, env, prog)
	}
	if o.version {
		fmt.Fprintln(env.Stdout, name, version())
		return ExitOK
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, name+": "+format+"\n", a...)
		return ExitUsage
	}
	if err := applySettings(o, t, os.Getenv, os.Environ(), env.Stderr); err != nil {
		return usage("%v", err)
	}
	if err := checkFlags(o); err != nil {
		return usage("%v", err)
	}
	if err := checkHabits(o); err != nil {
		return usage("%v", err)
	}
	if o.yes {
		os.Setenv("LOOM_YES", "1") // read by loom.Confirm, here and in the compiled loomfile
	}
	if code, done := persistFlags(ctx, o, env); done {
		return code
	}
	if o.sudo && o.sudoUser == "" {
		o.sudoUser = o.sudoUserDefault
	}
	if prog != nil || o.command || sub != "run" {
		showSettings(env.Stderr, o) // a loomfile's program says them itself
	}
	interactive, shellCmd := false, ""
	if sub == "ssh" {
		if _, shellCmd, err = sshUsage(o); err != nil {
			return usage("%v", err)
		}
		sub, interactive, o.command, o.args = "run", true, true, []string{"ssh"}
	}
	if o.logDir != "" && !o.dryRun && o.compile == "" {
		if err := makeLogDir(o.logDir); err != nil {
			return usage("--log-dir %s: %v", o.logDir, err)
		}
	}
	if o.compile != "" {
		if sub != "run" || o.command {
			return usage("--compile builds the loomfile's tasks; it takes no command")
		}
		return compile(ctx, o, env)
	}
	if sub == "run" && !o.command && (o.stdinAll || o.noStdin) {
		return usage("--stdin and -n are for a command after --; a task reads its input itself (loom.Local().Stdin(os.Stdin), say)")
	}
	if sub == "run" && !o.command && o.sudoUser != "" {
		return usage("--sudo-user is for a command after -- and for put, get and sync; a task says c.As(%q).Sudo(...)", o.sudoUser)
	}
	if sub == "run" && !o.command {
		if prog != nil {
			return runTasks(ctx, o, env, prog)
		}
		return buildAndRun(ctx, o, env, args)
	}
	switch {
	case len(o.hosts.vals) == 0 && len(o.roles.vals) == 0:
		return usage("no hosts: give some with -H (or -R ROLE with an inventory); see loom -h")
	case sub == "run" && len(o.args) == 0:
		return usage("no command: give it after --, e.g. loom -H host -- uptime")
	case o.pause > 0 && len(o.batch.ls) == 0:
		return usage("--pause %v waits between batches: give --batch too (e.g. --batch 1,5,25%%)", o.pause)
	}
	if sub != "run" {
		if err := fileUsage(sub, o); err != nil {
			return usage("%v", err)
		}
	} else if o.mode != "" || o.owner != "" || o.check || o.deleteExtra || o.checksum || o.overwrite || len(o.fileExcludes.vals) > 0 {
		return usage("--mode, --owner, --exclude, --checksum, --delete, --check and --overwrite are for put, get and sync")
	}
	hosts, err := selectHosts(ctx, o)
	if err != nil {
		return usage("%v", err)
	}
	if len(hosts) == 0 {
		if len(o.excludes.vals) > 0 {
			return usage("no hosts left to run on: -x excluded every one")
		}
		return usage("no hosts to run on")
	}
	if hosts, err = pickHosts(env.Stderr, o, hosts); err != nil {
		return usage("%v", err)
	}
	if err := getShared(sub, o, hosts); err != nil {
		return usage("%v", err)
	}
	e, err := newEngine(o, env)
	if err != nil {
		return usage("%v", err)
	}
	defer e.close()
	// Resolve every host first: a config error is a usage error, found
	// before anything runs.
	configs, err := e.resolve(hosts)
	if err != nil {
		return usage("%v", err)
	}
	warnHabits(env.Stderr, o, len(hosts))
	hosts, configs = dedupe(env.Stderr, name, hosts, configs)
	if len(o.localFwds.vals) > 0 && len(hosts) > 1 {
		return usage("-L %s: a local forward listens on one port here, so it is for one host (got %d); --remote-forward works on many", o.localFwds.vals[0], len(hosts))
	}
	if o.dryRun {
		dryRun(env.Stdout, sub, o, hosts, configs)
		return ExitOK
	}
	single := len(hosts) == 1
	if interactive && !single {
		return usage("ssh: one host at a time (got %d); to run a command on many, loom -H HOSTS -- COMMAND", len(hosts))
	}
	if !interactive && sub == "run" && o.pty && single && env.Terminal && !o.json && !o.gather && !o.stdinAll && !o.noStdin {
		interactive, shellCmd = true, shquote.Join(o.args)
		if len(o.args) == 1 {
			shellCmd = o.args[0]
		}
	}
	if interactive {
		if o.sudo {
			sudo := "sudo "
			if o.sudoUser != "" {
				sudo += "-u " + o.sudoUser + " "
			}
			if shellCmd == "" {
				shellCmd = sudo + "-i"
			} else {
				shellCmd = sudo + "-- sh -c " + shquote.Quote(shellCmd)
			}
		}
		return e.interactive(ctx, hosts, shellCmd)
	}
	if err := checkStdin(sub, o, e.env, len(hosts)); err != nil {
		return usage("%v", err)
	}
	if sub != "run" {
		var progress io.Writer
		if env.Progress && single {
			progress = env.Stderr
		}
		opts, _ := o.fileOptions(progress)
		return e.runGroup(ctx, sub, e.group(hosts), func(r *report) func(*loom.Conn) error {
			return fileWork(sub, o, opts, &r.transfers)
		})
	}
	return e.runGroup(ctx, sub, e.group(hosts), func(*report) func(*loom.Conn) error {
		return func(c *loom.Conn) error {
			c = e.scope(c, single)
			args := o.args
			switch {
			case o.sudo && len(args) == 1:
				return c.SudoShell(args[0]).Err
			case o.sudo:
				return c.Sudo(args...).Err
			case len(args) == 1:
				return c.Shell(args[0]).Err
			}
			return c.Run(args...).Err
		}
	})
}

// pickHosts applies --pick, saying the sample's seed with -v.
func pickHosts(stderr io.Writer, o *options, hosts []loom.Host) ([]loom.Host, error) {
	picked, err := pick(o, hosts)
	if err == nil && o.pick.l.IsSet() && o.verbose {
		fmt.Fprintf(stderr, "%s: --pick %s: %d of %d hosts (--seed %d for the same again)\n", o.name, o.pick.l, len(picked), len(hosts), o.seed)
	}
	return picked, err
}

// checkStdin refuses what would drop piped input without a word: several
// hosts cannot share one stream, so it goes to every host with --stdin, to
// none with -n, and is otherwise a usage error.
func checkStdin(sub string, o *options, env Env, hosts int) error {
	switch {
	case o.stdinAll && o.noStdin:
		return errors.New("--stdin and -n cannot be used together")
	case o.stdinAll && sub != "run":
		return fmt.Errorf("--stdin is for a command after --, not for %s", sub)
	case o.stdinAll && env.Stdin == nil:
		return errors.New("--stdin: nothing is piped in (stdin is a terminal or /dev/null); pipe or redirect the input")
	case sub == "run" && hosts > 1 && env.Stdin != nil && !o.stdinAll && !o.noStdin:
		return fmt.Errorf("stdin is piped in but the command runs on %d hosts: give --stdin to send all of it to every host, or -n to send none", hosts)
	}
	return nil
}

// checkFlags checks the flags that do not depend on what is run. A value
// that makes no sense (a negative timeout, port 0, batches of no host) is
// a usage error naming the flag and what it wants, never a silent default.
func checkFlags(o *options) error {
	switch {
	case o.json && o.gather:
		return errors.New("--json and --gather cannot be used together")
	case o.parallel < 1:
		return fmt.Errorf("-P %d: want at least 1 host at once", o.parallel)
	case o.set["p"] && (o.port < 1 || o.port > 65535):
		return fmt.Errorf("-p %d: want a port from 1 to 65535", o.port)
	case o.set["handshakes"] && o.handshakes < 1:
		return fmt.Errorf("--handshakes %d: want at least 1 (leave it out for the default: like -P, at most %d)", o.handshakes, maxHandshakes)
	case o.retries < 0:
		return fmt.Errorf("--retries %d: want 0 or more", o.retries)
	case o.connectTimeout <= 0:
		return fmt.Errorf("--connect-timeout %v: want a positive duration, like 10s", o.connectTimeout)
	case o.cmdTimeout < 0:
		return fmt.Errorf("--timeout %v: want a positive duration, like 30s (0: no limit)", o.cmdTimeout)
	case o.hostTimeout < 0:
		return fmt.Errorf("--host-timeout %v: want a positive duration, like 5m (0: no limit)", o.hostTimeout)
	case o.json && (o.hide.has("stdout") || o.hide.has("stderr")):
		return fmt.Errorf("--hide %s: --json has no live output to hide, and holds each host's whole output", o.hide.String())
	case o.set["pick"] && (o.pick.l == loom.Count(0) || o.pick.l == loom.Percent(0)):
		return fmt.Errorf("--pick %s: want at least 1 host, or a percentage above 0%%", o.pick.l)
	case o.set["seed"] && !o.set["pick"]:
		return errors.New("--seed is the seed of --pick's sample: give --pick N too")
	case o.pause < 0:
		return fmt.Errorf("--pause %v: want a positive duration, like 30s", o.pause)
	}
	return nil
}

// makeLogDir makes the --log-dir directory (0700: logs hold whatever the
// commands printed) if it is missing, and checks that a file can be
// created in it, so that no run starts whose logs would be lost.
func makeLogDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".loom-log-check-*")
	if err != nil {
		return fmt.Errorf("cannot create files in it: %v", unwrapPathErr(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// unwrapPathErr drops the "op PATH: " of an *os.PathError whose path the
// message already names.
func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// engine is what one loom command shares across the groups it runs: the
// Dialer (connections, asked-once secrets), the printer and the flags.
type engine struct {
	o      *options
	env    Env
	d      *loom.Dialer
	p      *output.Printer
	in     *loom.Input // --stdin: replayed to every host
	unhold func()      // stops holding output back for prompts

	rec       *runRecord // this run's record, written after each group
	recWarned bool
	held      io.Closer // the run's connection to the --persist holder, or nil
}

// newEngine makes the Dialer from the flags; with --sudo-password-stdin it
// reads the password from the first line of stdin.
func newEngine(o *options, env Env) (eng *engine, err error) {
	handshakes := o.handshakes
	if handshakes == 0 {
		handshakes = min(o.parallel, maxHandshakes)
	}
	var sudoPass loom.Secret
	if o.sudoPassStdin {
		if env.Stdin == nil {
			return nil, errors.New("--sudo-password-stdin: stdin is a terminal or closed; pipe the password in")
		}
		line, err := prompt.ReadLine(env.Stdin)
		if err != nil || line == "" {
			return nil, errors.New("--sudo-password-stdin: no password on stdin")
		}
		sudoPass = loom.NewSecret(line)
		if !o.stdinAll && !o.noStdin {
			// The rest of stdin goes to the command only with --stdin:
			// more than the password's line is refused, not dropped.
			more, known := inputLeft(env.Stdin)
			if more {
				return nil, errors.New("--sudo-password-stdin: stdin has more than the password's line; give --stdin to send the rest to the command, or -n to send it none")
			}
			if !known {
				rest := env.Stdin
				defer func() {
					if e := eng; e != nil {
						watchLeft(rest, func() {
							e.p.Printf(true, "loom: warning: --sudo-password-stdin: more input came after the password's line; it is not sent to the command (give --stdin to send it)\n")
						})
					}
				}()
			}
			env.Stdin = nil
		}
	}
	if o.noStdin {
		env.Stdin = nil
	}
	sshOpts := o.sshOpts.vals
	if o.jump != "" {
		sshOpts = append([]string{"ProxyJump=" + o.jump}, sshOpts...)
	}
	d := &loom.Dialer{
		SudoPassword:   sudoPass,
		ConfigFile:     o.configFile,
		User:           o.user,
		Port:           o.port,
		IdentityFiles:  o.identities.vals,
		Options:        sshOpts,
		Prompt:         env.Prompt,
		ConnectTimeout: o.connectTimeout,
		MaxHandshakes:  handshakes,
		Retries:        o.retries,
		ForwardAgent:   o.forwardAgent,
		AgentKeys:      o.agentKeys.vals,
		AgentHosts:     o.agentHosts.vals,
		// Tasks: one login per host for the whole invocation — every
		// task, Execute and NewGroup of it shares the connection (closed
		// by engine.close). A command, put, get or sync runs each host
		// once: its connection closes when the host is done, so memory
		// grows with -P, not with the number of hosts.
		ShareConnections: o.sub == "run" && !o.command,
	}
	p := output.NewPrinter(env.Stdout, env.Stderr)
	d.Stderr = rawWriter{p, true} // warnings, too, keep clear of the progress line and prompts
	if o.verbose {
		d.Logf = func(format string, a ...any) { p.Line(true, "debug: ", []byte(fmt.Sprintf(format, a...))) }
	}
	// While a prompt (a passphrase, a password, sudo, a task's own) is on
	// the terminal, the progress line is cleared and output held back.
	unhold := prompt.Listen(func(on bool) {
		if on {
			p.Hold()
		} else {
			p.Release()
		}
	})
	e := &engine{o: o, env: env, d: d, p: p, unhold: unhold}
	if !o.hidden("echo") {
		d.Echo = e.echo
	}
	if o.stdinAll && env.Stdin != nil {
		e.in = loom.NewInput(env.Stdin)
	}
	e.persist()
	return e, nil
}

// echo prints "HOST $ COMMAND" on stderr as a command starts (--echo):
// a script of several lines shows its first, then "…".
func (e *engine) echo(host, cmd string) {
	line := cmd
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i] + " …"
	}
	name := host
	if e.env.Color {
		name = palette[hashName(host)%uint32(len(palette))] + host + reset
	}
	e.p.Printf(true, "%s $ %s\n", name, output.Sanitize([]byte(line)))
}

func (e *engine) close() {
	e.unhold()
	if e.in != nil {
		e.in.Close()
	}
	e.d.Close()
	if e.held != nil {
		e.held.Close()
	}
}

// resolve resolves every host through ssh_config.
func (e *engine) resolve(hosts []loom.Host) ([]*loom.HostConfig, error) {
	var configs []*loom.HostConfig
	for _, h := range hosts {
		hc, err := e.d.ResolveHost(h)
		if err != nil {
			return nil, err
		}
		configs = append(configs, hc)
	}
	return configs, nil
}

// group returns a Group on hosts with the flags' limits.
func (e *engine) group(hosts []loom.Host) *loom.Group {
	return &loom.Group{
		Dialer:        e.d,
		Hosts:         hosts,
		Parallel:      e.o.parallel,
		Batches:       e.o.batch.ls,
		Pause:         e.o.pause,
		MaxFail:       e.o.maxFail.l,
		MaxFailBatch:  e.o.maxFailBatch.l,
		FailFast:      e.o.failFast,
		HostTimeout:   e.o.hostTimeout,
		DiscardOutput: !e.o.gather,
		Stdin:         e.in,
	}
}

// scope applies the per-command flags (--timeout, -t, stdin) to a host's Conn.
func (e *engine) scope(c *loom.Conn, single bool) *loom.Conn {
	c = c.Timeout(e.o.cmdTimeout)
	if !e.o.json && !e.o.gather {
		// Live output has been printed: keep only what error messages need.
		c = c.MaxOutput(64 << 10)
	}
	if e.o.pty {
		c = c.Pty()
	}
	for _, v := range e.o.envs.vals {
		name, value, _ := strings.Cut(v, "=")
		c = c.Env(name, value)
	}
	if e.o.sudoUser != "" {
		c = c.As(e.o.sudoUser)
	}
	if single && e.env.Stdin != nil && e.in == nil {
		c = c.Stdin(e.env.Stdin) // like ssh: one host reads the stream itself
	}
	return c
}

// runGroup runs work on g's hosts with live output, a progress line and
// the closing summary, and returns the exit status.
func (e *engine) runGroup(ctx context.Context, sub string, g *loom.Group, work func(*report) func(*loom.Conn) error) int {
	r := newReport(e.o, e.p, e.env, g.Hosts)
	r.sub = sub
	g.DiscardOutput = !e.o.gather
	g.Output, g.OnStart, g.OnDone = r.output, r.started, r.done
	if e.env.Progress && !r.single {
		stop := e.p.Progress(250*time.Millisecond, r.progress)
		defer stop()
	}
	rs := g.Each(ctx, e.withForwards(work(r)))
	code := r.finish(rs, ctx.Err() != nil)
	e.record(sub, rs)
	return code
}

// dryRun prints the resolved hosts and what would run on each.
func dryRun(w io.Writer, sub string, o *options, hosts []loom.Host, configs []*loom.HostConfig) {
	cmd := shquote.Join(o.args)
	if len(o.args) == 1 {
		cmd = o.args[0]
	}
	if sub != "run" {
		cmd = "loom " + sub + " " + cmd
	}
	if o.sudo {
		cmd = "sudo " + cmd
	}
	width := 0
	for _, h := range hosts {
		width = max(width, len(h.Name))
	}
	for i, h := range hosts {
		c := configs[i]
		addr := fmt.Sprintf("%s@%s:%d", c.User, c.HostName, c.Port)
		if len(c.ProxyJump) > 0 {
			addr += " via " + strings.Join(c.ProxyJump, ",")
		}
		fmt.Fprintf(w, "%-*s  %s  $ %s\n", width, h.Name, addr, cmd)
	}
	fmt.Fprintf(w, "# %d hosts, -P %d", len(hosts), o.parallel)
	if len(o.batch.ls) > 0 {
		g := loom.Group{Hosts: hosts, Batches: o.batch.ls}
		fmt.Fprintf(w, ", batches of %s", plan(g.Plan()))
		if o.pause > 0 {
			fmt.Fprintf(w, " with %v between", o.pause)
		}
	}
	if o.maxFailBatch.l.IsSet() {
		fmt.Fprintf(w, ", stop after more than %s of a batch failed", o.maxFailBatch.l)
	}
	if o.maxFail.l.IsSet() || o.failFast {
		n := o.maxFail.l.Of(len(hosts))
		if o.failFast {
			n = 0
		}
		fmt.Fprintf(w, ", stop after %d failed", n+1)
	}
	fmt.Fprintln(w, "; nothing was run")
}

// counters for the progress line.
type counters struct {
	started, done, failed atomic.Int64
}

// plan writes batch sizes short: "1, 5, 10 ×3, 4".
func plan(sizes []int) string {
	var parts []string
	for i := 0; i < len(sizes); {
		j := i
		for j < len(sizes) && sizes[j] == sizes[i] {
			j++
		}
		if j-i > 1 {
			parts = append(parts, fmt.Sprintf("%d ×%d", sizes[i], j-i))
		} else {
			parts = append(parts, fmt.Sprint(sizes[i]))
		}
		i = j
	}
	return strings.Join(parts, ", ")
}
