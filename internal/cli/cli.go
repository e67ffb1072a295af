// Package cli is the loom command: flags, host selection, the run over the
// hosts, live output, the summary and the exit status. Run takes its
// streams so the whole CLI is testable in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/output"
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
}

// maxHandshakes is the default cap on connections set up at once.
const maxHandshakes = 64

// Run runs the loom command with args (without the program name) and
// returns the exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) > 0 && args[0] == "demo" {
		return Demo(ctx, args[1:], env)
	}
	sub := "run"
	if len(args) > 0 {
		switch args[0] {
		case "put", "get", "sync":
			sub, args = args[0], args[1:]
		}
	}
	o, fs, err := parseFlags(args, env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitUsage
	}
	if o.list || (o.help && len(o.args) > 0) {
		return tasks(o, env)
	}
	if o.help {
		fs.Usage()
		return ExitOK
	}
	if o.version {
		fmt.Fprintln(env.Stdout, "loom", version())
		return ExitOK
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "loom: "+format+"\n", a...)
		return ExitUsage
	}
	switch {
	case len(o.hosts.vals) == 0 && len(o.roles.vals) == 0:
		return usage("no hosts: give some with -H (or -R ROLE with an inventory); see loom -h")
	case sub == "run" && len(o.args) == 0:
		return usage("no command: give it after --, e.g. loom -H host -- uptime")
	case o.json && o.gather:
		return usage("--json and --gather cannot be used together")
	case o.parallel < 1:
		return usage("-P %d: want at least 1", o.parallel)
	case o.retries < 0 || o.handshakes < 0:
		return usage("--retries and --handshakes cannot be negative")
	}
	if sub != "run" {
		if err := fileUsage(sub, o); err != nil {
			return usage("%v", err)
		}
	} else if o.mode != "" || o.owner != "" || o.check || o.deleteExtra || o.checksum || len(o.fileExcludes.vals) > 0 {
		return usage("--mode, --owner, --exclude, --checksum, --delete and --check are for put, get and sync")
	}
	hosts, err := selectHosts(ctx, o)
	if err != nil {
		return usage("%v", err)
	}
	if len(hosts) == 0 {
		return usage("no hosts left to run on (after -x)")
	}
	handshakes := o.handshakes
	if handshakes == 0 {
		handshakes = min(o.parallel, maxHandshakes)
	}
	var sudoPass loom.Secret
	if o.sudoPassStdin {
		if env.Stdin == nil {
			return usage("--sudo-password-stdin: stdin is a terminal or closed; pipe the password in")
		}
		line, err := readLine(env.Stdin)
		if err != nil || line == "" {
			return usage("--sudo-password-stdin: no password on stdin")
		}
		sudoPass, env.Stdin = loom.NewSecret(line), nil // the rest of stdin is not forwarded
	}
	d := &loom.Dialer{
		SudoPassword:   sudoPass,
		ConfigFile:     o.configFile,
		User:           o.user,
		Port:           o.port,
		IdentityFiles:  o.identities.vals,
		Options:        o.sshOpts.vals,
		Prompt:         env.Prompt,
		ConnectTimeout: o.connectTimeout,
		MaxHandshakes:  handshakes,
		Retries:        o.retries,
		ForwardAgent:   o.forwardAgent,
		AgentKeys:      o.agentKeys.vals,
		AgentHosts:     o.agentHosts.vals,
		Stderr:         env.Stderr,
	}
	defer d.Close()
	p := output.NewPrinter(env.Stdout, env.Stderr)
	if o.verbose {
		d.Logf = func(format string, a ...any) { p.Line(true, "debug: ", []byte(fmt.Sprintf(format, a...))) }
	}
	// Resolve every host first: a config error is a usage error, found
	// before anything runs.
	var configs []*loom.HostConfig // kept only for --dry-run
	for _, h := range hosts {
		hc, err := d.ResolveHost(h)
		if err != nil {
			return usage("%v", err)
		}
		if o.dryRun {
			configs = append(configs, hc)
		}
	}
	if o.dryRun {
		dryRun(env.Stdout, sub, o, hosts, configs)
		return ExitOK
	}
	r := newReport(o, p, env, hosts)
	r.sub = sub
	g := &loom.Group{
		Dialer:        d,
		Hosts:         hosts,
		Parallel:      o.parallel,
		Batch:         o.batch.l,
		MaxFail:       o.maxFail.l,
		FailFast:      o.failFast,
		HostTimeout:   o.hostTimeout,
		Output:        r.output,
		OnStart:       r.started,
		OnDone:        r.done,
		DiscardOutput: !o.gather,
	}
	if env.Progress && !r.single {
		stop := p.Progress(250*time.Millisecond, r.progress)
		defer stop()
	}
	single := len(hosts) == 1
	if sub != "run" {
		var progress io.Writer
		if env.Progress && single {
			progress = env.Stderr
		}
		opts, _ := o.fileOptions(progress)
		return r.finish(g.Each(ctx, fileWork(sub, o, opts, &r.transfers)), ctx.Err() != nil)
	}
	results := g.Each(ctx, func(c *loom.Conn) error {
		c = c.Timeout(o.cmdTimeout)
		if !o.json && !o.gather {
			// Live output has been printed: keep only what error messages need.
			c = c.MaxOutput(64 << 10)
		}
		if o.pty {
			c = c.Pty()
		}
		if single && env.Stdin != nil {
			c = c.Stdin(env.Stdin) // like ssh; many hosts cannot share one stdin
		}
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
	})
	return r.finish(results, ctx.Err() != nil)
}

// dryRun prints the resolved hosts and what would run on each.
func dryRun(w io.Writer, sub string, o *options, hosts []loom.Host, configs []*loom.HostConfig) {
	cmd := strings.Join(quoteArgs(o.args), " ")
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
	if o.batch.l.IsSet() {
		fmt.Fprintf(w, ", batches of %d", max(1, o.batch.l.Of(len(hosts))))
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

// readLine reads one line byte by byte, so nothing after it is consumed.
func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 4096 {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
		}
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				break
			}
			return "", err
		}
	}
	return strings.TrimSuffix(string(b), "\r"), nil
}
