// Package cli is the loom command: flags, the run over hosts, the summary
// and the exit status. Run takes its streams so the whole CLI is testable
// in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
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
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Prompt asks for passwords; nil means no terminal.
	Prompt loom.Prompter
}

// Run runs the loom command with args (without the program name) and
// returns the exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) > 0 && args[0] == "demo" {
		return Demo(ctx, args[1:], env)
	}
	o, fs, err := parseFlags(args, env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitUsage
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
		fmt.Fprintln(env.Stderr, "Run 'loom -h' for help.")
		return ExitUsage
	}
	hosts, err := readHosts(o.hosts.vals)
	if err != nil {
		return usage("%v", err)
	}
	if len(hosts) == 0 {
		return usage("no hosts: give some with -H")
	}
	if len(o.args) == 0 {
		return usage("no command: give it after --, e.g. loom -H %s -- uptime", hosts[0])
	}
	d := &loom.Dialer{
		ConfigFile:     o.configFile,
		User:           o.user,
		Port:           o.port,
		IdentityFiles:  o.identities.vals,
		Options:        o.sshOpts.vals,
		Prompt:         env.Prompt,
		ConnectTimeout: o.connectTimeout,
		Stderr:         env.Stderr,
	}
	if o.verbose {
		sink := output.NewSink(env.Stderr)
		d.Logf = func(format string, a ...any) { sink.WriteLine("debug: ", []byte(fmt.Sprintf(format, a...))) }
	}
	defer d.Close()
	// Resolve every host first: a config error is a usage error, found
	// before anything runs.
	for _, h := range hosts {
		if _, err := d.Resolve(h); err != nil {
			fmt.Fprintf(env.Stderr, "loom: %v\n", err)
			return ExitUsage
		}
	}

	job := &job{o: o, d: d, env: env, single: len(hosts) == 1}
	job.out = output.NewSink(env.Stdout)
	job.errs = output.NewSink(env.Stderr)
	width := 0
	for _, h := range hosts {
		width = max(width, len(h))
	}
	results := make([]hostResult, 0, len(hosts))
	for _, h := range hosts {
		if ctx.Err() != nil {
			results = append(results, hostResult{host: h, status: notStarted})
			continue
		}
		results = append(results, job.runHost(ctx, h, width))
	}
	return summarize(results, job, ctx.Err() != nil)
}

// job is one ad-hoc command run over the hosts.
type job struct {
	o         *options
	d         *loom.Dialer
	env       Env
	single    bool
	out, errs *output.Sink
}

type status int

const (
	succeeded   status = iota
	failed             // the command failed
	unreachable        // could not connect, authenticate or trust the host
	interrupted
	notStarted
)

type hostResult struct {
	host     string
	status   status
	err      error
	exitCode int
	duration time.Duration
}

// runHost connects to one host and runs the command there.
func (j *job) runHost(ctx context.Context, host string, width int) hostResult {
	start := time.Now()
	r := hostResult{host: host}
	c, err := j.d.Dial(ctx, host)
	if err != nil {
		r.err, r.status = err, unreachable
		if ctx.Err() != nil {
			r.status = interrupted
		}
		r.duration = time.Since(start)
		return r
	}
	defer c.Close()
	var stdout, stderr io.Writer = j.out, j.errs
	var lines []*output.Lines
	if !j.single {
		pad := strings.Repeat(" ", width-len(host))
		lo := &output.Lines{Sink: j.out, Prefix: host + pad + " | "}
		le := &output.Lines{Sink: j.errs, Prefix: host + pad + " ! "}
		stdout, stderr, lines = lo, le, []*output.Lines{lo, le}
	}
	c = c.WithContext(ctx).Stream(stdout, stderr).Timeout(j.o.cmdTimeout)
	if j.single && j.env.Stdin != nil {
		c = c.Stdin(j.env.Stdin) // like ssh; many hosts cannot share one stdin
	}
	if j.o.pty {
		c = c.Pty()
	}
	var res *loom.Result
	args := j.o.args
	switch {
	case j.o.sudo && len(args) == 1:
		res = c.SudoShell(args[0])
	case j.o.sudo:
		res = c.Sudo(args...)
	case len(args) == 1:
		res = c.Shell(args[0])
	default:
		res = c.Run(args...)
	}
	for _, l := range lines {
		l.Close()
	}
	r.duration, r.exitCode, r.err = time.Since(start), res.ExitCode, res.Err
	switch {
	case res.Err == nil:
		r.status = succeeded
	case ctx.Err() != nil && errors.Is(res.Err, context.Canceled):
		r.status = interrupted
	default:
		r.status = failed
	}
	return r
}

// summarize prints what happened where and returns the exit status:
// 130 if interrupted; else 1 if a command failed anywhere; else 3 if a host
// could not be reached; else 0.
func summarize(results []hostResult, j *job, wasInterrupted bool) int {
	var n [notStarted + 1]int
	for _, r := range results {
		n[r.status]++
	}
	w := j.env.Stderr
	if j.single {
		r := results[0]
		if r.err != nil && !(r.status == failed && isExit(r.err)) {
			fmt.Fprintf(w, "loom: %v\n", r.err)
		}
	} else {
		for _, r := range results {
			switch r.status {
			case failed, unreachable, interrupted:
				fmt.Fprintf(w, "loom: %s: %s: %v\n", r.host, label(r.status), trimHost(r.err, r.host))
			}
		}
		fmt.Fprintf(w, "loom: %d hosts: %d ok, %d failed, %d unreachable", len(results), n[succeeded], n[failed], n[unreachable])
		if n[interrupted]+n[notStarted] > 0 {
			fmt.Fprintf(w, ", %d interrupted, %d not started", n[interrupted], n[notStarted])
		}
		fmt.Fprintln(w)
	}
	switch {
	case wasInterrupted || n[interrupted] > 0:
		return ExitInterrupted
	case n[failed] > 0:
		return ExitFailed
	case n[unreachable] > 0:
		return ExitUnreachable
	}
	return ExitOK
}

func isExit(err error) bool {
	var ee *loom.ExitError
	return errors.As(err, &ee)
}

func label(s status) string {
	switch s {
	case failed:
		return "failed"
	case unreachable:
		return "unreachable"
	case interrupted:
		return "interrupted"
	}
	return "ok"
}

// trimHost drops the "host: " an error starts with, since the summary line
// already names the host.
func trimHost(err error, host string) string {
	return strings.TrimPrefix(err.Error(), host+": ")
}
