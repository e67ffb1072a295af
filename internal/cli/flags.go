package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/hostlist"
)

// Exit statuses (DESIGN.md; keep them stable).
const (
	ExitOK          = 0   // every host succeeded
	ExitFailed      = 1   // a command failed (non-zero exit, timeout, lost connection) on some host
	ExitUsage       = 2   // bad flags, bad config: nothing was run
	ExitUnreachable = 3   // some host could not be reached, authenticated or trusted, and no command failed
	ExitInterrupted = 130 // interrupted (Ctrl-C)
)

// listFlag collects a repeatable flag; with comma set, each value may hold
// a comma list (commas inside [ranges] stay).
type listFlag struct {
	vals  []string
	comma bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }
func (l *listFlag) Set(v string) error {
	if l.comma {
		l.vals = append(l.vals, hostlist.Split(v)...)
		return nil
	}
	l.vals = append(l.vals, v)
	return nil
}

// limitFlag is a count or a percentage.
type limitFlag struct{ l loom.Limit }

func (f *limitFlag) String() string { return f.l.String() }
func (f *limitFlag) Set(v string) error {
	l, err := loom.ParseLimit(v)
	f.l = l
	return err
}

// options are the parsed command line.
type options struct {
	hosts          listFlag
	roles          listFlag
	excludes       listFlag
	inventory      string
	configFile     string
	identities     listFlag
	user           string
	port           int
	sshOpts        listFlag
	connectTimeout time.Duration
	cmdTimeout     time.Duration
	hostTimeout    time.Duration
	parallel       int
	handshakes     int
	batch          limitFlag
	maxFail        limitFlag
	failFast       bool
	retries        int
	persist        time.Duration // --persist: hold connections for the next runs (persist.go)
	persistStop    bool          // --persist-stop
	sudo           bool
	sudoPassStdin  bool
	stdinAll       bool // --stdin: read stdin once, give it to every host
	noStdin        bool // -n: give the command no stdin, like ssh -n
	forwardAgent   bool
	agentKeys      listFlag
	agentHosts     listFlag
	pty            bool
	gather         bool
	mode           string
	owner          string
	fileExcludes   listFlag
	checksum       bool
	deleteExtra    bool
	check          bool
	overwrite      bool
	json           bool
	logDir         string
	dryRun         bool
	verbose        bool
	version        bool
	help           bool
	list           bool
	taskFile       string
	compile        string
	command        bool // the arguments came after --: a command, not tasks
	set            map[string]bool
	args           []string
}

const usageText = `Usage:
  loom [flags] -H HOSTS -- COMMAND [ARG...]   run a command on each host
  loom [flags] -R ROLE -- COMMAND [ARG...]    ... on the hosts of a role in loom.yaml
  loom put [flags] -H HOSTS LOCAL... REMOTE   upload files or trees (atomic; --sudo, --mode, --owner)
  loom get [flags] -H HOSTS REMOTE LOCAL      download; LOCAL is a template: 'logs/{host}/{basename}'
  loom sync [flags] -H HOSTS LOCAL_DIR REMOTE_DIR   send what changed (--delete, --checksum, --check)
  loom [flags] TASK [ARG...] [TASK [ARG...]]  run the tasks of the loomfile (loomfile.go or loomfiles/)
  loom -l | loom -h TASK                      list the loomfile's tasks / show one
  loom init                                   write a starter loomfile.go here
  loom --compile OUT                          build the tasks into a standalone program
  loom demo                                   try Loom on throwaway local SSH hosts

Flags come before the first task or the --. Words without a -- before them
are tasks and their arguments; a command goes after --.
With one word after --, COMMAND is shell text ('uptime | cut -d, -f1');
with several, each is a separate argument, quoted for the remote shell.
HOSTS: comma lists, ranges (web[01-20].example.com, 10.0.[1-3].[1-254]),
@FILE (one host a line). Hosts are resolved through ssh_config, like ssh.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*options, *flag.FlagSet, error) {
	o := &options{hosts: listFlag{comma: true}, roles: listFlag{comma: true}, excludes: listFlag{comma: true}, agentHosts: listFlag{comma: true}}
	fs := flag.NewFlagSet("loom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.hosts, "H", "`hosts`: comma list, ranges, @FILE; repeatable")
	fs.Var(&o.roles, "R", "`roles` from the inventory (comma list); repeatable")
	fs.Var(&o.excludes, "x", "exclude `hosts` (names, ranges or globs like web*); repeatable")
	fs.StringVar(&o.inventory, "I", "", "inventory `file` (default: loom.yaml found upward from the working directory, if yours; \"none\" for none)")
	fs.StringVar(&o.configFile, "F", "", "ssh_config `file` (default ~/.ssh/config then /etc/ssh/ssh_config; \"none\" for none)")
	fs.Var(&o.identities, "i", "identity (private key) `file`, tried before ssh_config's; repeatable")
	fs.StringVar(&o.user, "u", "", "remote `user` (overrides ssh_config; a user in the host or the inventory wins)")
	fs.IntVar(&o.port, "p", 0, "remote `port` (overrides ssh_config)")
	fs.Var(&o.sshOpts, "o", "ssh_config `option=value`, like ssh -o (e.g. StrictHostKeyChecking=accept-new); repeatable")
	fs.IntVar(&o.parallel, "P", loom.DefaultParallel, "hosts worked on at `at once`")
	fs.IntVar(&o.handshakes, "handshakes", 0, "connections being set up at once (`N`; default: like -P, at most 64)")
	fs.Var(&o.batch, "batch", "rolling batches of `N` hosts or N% of them; a batch finishes before the next starts")
	fs.Var(&o.maxFail, "max-fail", "once more than `N` hosts (or N% of them) failed, start no new host")
	fs.BoolVar(&o.failFast, "fail-fast", false, "at the first failure start no new host and interrupt the running ones")
	fs.IntVar(&o.retries, "retries", 0, "try a refused or timed-out connection this many `times` more")
	fs.DurationVar(&o.persist, "persist", 0, "keep the connections for later runs, in a background holder, until idle for `duration` (e.g. 10m; see docs/connections.md)")
	fs.BoolVar(&o.persistStop, "persist-stop", false, "stop the background holder of --persist, closing the connections it holds")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "TCP connect `timeout` (the SSH handshake gets twice as long)")
	fs.DurationVar(&o.cmdTimeout, "timeout", 0, "stop the command after this `duration` on a host (0: no limit)")
	fs.DurationVar(&o.hostTimeout, "host-timeout", 0, "bound each host's whole turn, connecting included (`duration`; 0: no limit)")
	fs.BoolVar(&o.forwardAgent, "A", false, "forward your ssh-agent (list and sign only; every request logged with -v and in --json)")
	fs.Var(&o.agentKeys, "agent-key", "forward only this `key` (SHA256 fingerprint or comment glob); repeatable")
	fs.Var(&o.agentHosts, "agent-hosts", "forward the agent only to these `hosts` (globs, comma list)")
	fs.BoolVar(&o.sudoPassStdin, "sudo-password-stdin", false, "read the sudo password from the first line of stdin (for scripts; never give it in argv)")
	fs.BoolVar(&o.stdinAll, "stdin", false, "read stdin once and give all of it to the command on every host (spooled to a private temporary file past 8 MiB)")
	fs.BoolVar(&o.noStdin, "n", false, "give the command no stdin (like ssh -n): piped input is not read")
	fs.BoolVar(&o.sudo, "sudo", false, "run the command with sudo (the password is asked once if sudo needs it)")
	fs.BoolVar(&o.pty, "t", false, "give the command a pseudo-terminal")
	fs.StringVar(&o.mode, "mode", "", "put/sync: file `mode` in octal (default: the local file's)")
	fs.StringVar(&o.owner, "owner", "", "put/sync: chown to `user[:group]` (with --sudo unless you may)")
	fs.Var(&o.fileExcludes, "exclude", "put/get/sync: skip files matching this `glob` (relative path); repeatable")
	fs.BoolVar(&o.checksum, "checksum", false, "sync: compare files by SHA-256 instead of size and time")
	fs.BoolVar(&o.deleteExtra, "delete", false, "sync: remove remote files that are gone locally")
	fs.BoolVar(&o.check, "check", false, "sync: list what would change, change nothing")
	fs.BoolVar(&o.overwrite, "overwrite", false, "get: replace local files that already exist (without it get refuses, before writing anything)")
	fs.BoolVar(&o.gather, "gather", false, "print identical outputs once, under the folded list of their hosts")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per host on stdout (and nothing else there)")
	fs.StringVar(&o.logDir, "log-dir", "", "write each host's full output to `dir`/HOST.log")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the hosts and what would run on each; connect nowhere")
	fs.BoolVar(&o.verbose, "v", false, "verbose: connection details on stderr")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.help, "h", false, "show this help; -h TASK shows a task's help")
	fs.BoolVar(&o.list, "l", false, "list the tasks of the loomfile (loomfile.go or loomfiles/, found upward)")
	fs.StringVar(&o.compile, "compile", "", "build the loomfile's tasks into a standalone program at `path` (the loom command with the tasks built in) and exit")
	fs.StringVar(&o.taskFile, "f", "", "the loomfile `path` (a .go file or a directory) instead of searching upward")
	usage := func() {
		fs.SetOutput(stderr)
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
		fmt.Fprint(stderr, exitText)
	}
	// A mistake in the flags is one line naming the flag, not the whole
	// help: the flag package's own message and usage go nowhere, and the
	// error is printed here.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return nil, fs, err
	case err != nil:
		fmt.Fprintf(stderr, "loom: %v (loom -h lists the flags)\n", err)
		return nil, fs, err
	}
	fs.SetOutput(stderr)
	o.args = fs.Args()
	if n := len(args) - len(o.args); n > 0 && args[n-1] == "--" {
		o.command = true
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	return o, fs, nil
}

const exitText = `
Exit status: 0 all hosts succeeded; 1 a command failed on some host (non-zero
exit, timeout, lost connection); 3 some host could not be reached,
authenticated or trusted (host key) and no command failed; 2 usage or
configuration error; 130 interrupted.
`
