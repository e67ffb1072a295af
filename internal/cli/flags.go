package cli

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
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

// rampFlag is --batch: one size, or a ramp of sizes (1,5,25%) whose last
// size repeats.
type rampFlag struct{ ls []loom.Limit }

func (f *rampFlag) String() string {
	s := make([]string, len(f.ls))
	for i, l := range f.ls {
		s[i] = l.String()
	}
	return strings.Join(s, ",")
}

func (f *rampFlag) Set(v string) error {
	f.ls = nil
	for _, part := range strings.Split(v, ",") {
		l, err := loom.ParseLimit(part)
		if err != nil {
			return err
		}
		if l == loom.Count(0) || l == loom.Percent(0) {
			return fmt.Errorf("a batch of %s: want at least 1 host, or a percentage above 0%%", l)
		}
		f.ls = append(f.ls, l)
	}
	return nil
}

// streamsFlag is --hide or --show: a comma list of stdout, stderr and
// echo.
type streamsFlag struct{ words []string }

func (f *streamsFlag) String() string { return strings.Join(f.words, ",") }

func (f *streamsFlag) Set(v string) error {
	for _, w := range strings.Split(v, ",") {
		switch w {
		case "stdout", "stderr", "echo":
			f.words = append(f.words, w)
		default:
			return fmt.Errorf("want stdout, stderr or echo (a comma list), not %q", w)
		}
	}
	return nil
}

func (f *streamsFlag) has(w string) bool { return slices.Contains(f.words, w) }

// options are the parsed command line.
type options struct {
	sub             string // run, put, get, sync, ssh, last, completion or help
	name            string // the program's name in messages: loom, or the compiled loomfile's
	hosts           listFlag
	roles           listFlag
	excludes        listFlag
	inventory       string
	configFile      string
	identities      listFlag
	user            string
	port            int
	sshOpts         listFlag
	jump            string
	localFwds       listFlag
	remoteFwds      listFlag
	envs            listFlag
	connectTimeout  time.Duration
	cmdTimeout      time.Duration
	hostTimeout     time.Duration
	parallel        int
	handshakes      int
	batch           rampFlag
	pause           time.Duration
	maxFail         limitFlag
	maxFailBatch    limitFlag
	failFast        bool
	retries         int
	persist         time.Duration // --persist: hold connections for the next runs (persist.go)
	persistStop     bool          // --persist-stop
	sudo            bool
	sudoUser        string
	sudoPassStdin   bool
	stdinAll        bool // --stdin: read stdin once, give it to every host
	noStdin         bool // -n: give the command no stdin, like ssh -n
	yes             bool // --yes: every loom.Confirm of a task is answered yes
	forwardAgent    bool
	agentKeys       listFlag
	agentHosts      listFlag
	pty             bool
	gather          bool
	echo            bool        // --echo: host $ command as each command starts
	hide, show      streamsFlag // --hide, --show
	mode            string
	owner           string
	fileExcludes    listFlag
	checksum        bool
	deleteExtra     bool
	check           bool
	overwrite       bool
	json            bool
	logDir          string
	dryRun          bool
	verbose         bool
	version         bool
	help            bool
	list            bool
	taskFile        string
	compile         string
	command         bool // the arguments came after --: a command, not tasks
	set             map[string]bool
	args            []string
	table           *flagTable
	rerunFailed     bool
	sources         []setting // where the settings' values came from (-v)
	sudoUserDefault string    // settings' sudo-user: the user of --sudo
	pick            limitFlag // --pick: a random sample of the hosts
	seed            uint64    // --seed, or a random one: the sample's
}

// usageText is the top of the help; NAME is the program's name.
const usageText = `Usage:
  NAME [flags] -H HOSTS -- COMMAND [ARG...]   run a command on each host
  NAME [flags] -R ROLE -- COMMAND [ARG...]    ... on the hosts of a role in loom.yaml
  NAME put [flags] -H HOSTS LOCAL... REMOTE   upload files or trees (atomic; --sudo, --mode, --owner)
  NAME get [flags] -H HOSTS REMOTE LOCAL      download; LOCAL is a template: 'logs/{host}/{basename}'
  NAME sync [flags] -H HOSTS LOCAL_DIR REMOTE_DIR   send what changed (--delete, --checksum, --check)
  NAME [flags] TASK [ARG...] [TASK [ARG...]]  run the tasks of TASKSOURCE
  NAME ssh [flags] HOST [COMMAND...]          an interactive shell (or COMMAND) on one host, like ssh
  NAME last                                   show the last run's record (hosts, status, reason)
  NAME completion bash|zsh|fish               print a completion script: source <(NAME completion bash)
  NAME -l | NAME help [TASK]                  list the tasks / show one (also -h TASK)
INITDEMO
Flags come before the first task or the --, and may come before the
subcommand too (NAME -F cfg put ...). One-letter flags combine (-At) and
take their value joined or apart (-p22, -p 22); long ones are --name VALUE
or --name=VALUE. Words without a -- before them are tasks and their
arguments; a command goes after --.
With one word after --, COMMAND is shell text ('uptime | cut -d, -f1');
with several, each is a separate argument, quoted for the remote shell.
HOSTS: comma lists, ranges (web[01-20].example.com, 10.0.[1-3].[1-254]),
@FILE (one host a line), and from the last run's record @failed (not ok),
@unreachable and @last (all its hosts). Hosts are resolved through ssh_config, like ssh.
`

const initDemoText = `  loom init                                   write a starter loomfile.go here
  loom --compile OUT                          build the tasks into a standalone program
  loom demo                                   try Loom on throwaway local SSH hosts
`

// helpSections orders the flags in the help; every flag is in one.
var helpSections = []struct {
	title string
	names []string
}{
	{"Hosts", []string{"H", "R", "x", "I", "pick", "seed", "rerun-failed"}},
	{"Connecting", []string{"u", "p", "i", "F", "o", "J", "A", "agent-key", "agent-hosts", "connect-timeout", "retries", "handshakes", "persist", "persist-stop"}},
	{"Running", []string{"sudo", "sudo-user", "sudo-password-stdin", "e", "t", "stdin", "n", "L", "remote-forward", "timeout", "host-timeout"}},
	{"Rolling out", []string{"P", "batch", "pause", "max-fail", "max-fail-batch", "fail-fast"}},
	{"Output", []string{"gather", "json", "echo", "hide", "show", "log-dir", "dry-run", "v"}},
	{"Files (put, get, sync)", []string{"mode", "owner", "exclude", "checksum", "delete", "check", "overwrite"}},
	{"Tasks and the program", []string{"f", "l", "yes", "compile", "h", "version"}},
}

// longNames are the long spellings of the one-letter flags.
var longNames = [][2]string{
	{"H", "hosts"}, {"R", "roles"}, {"x", "exclude-hosts"}, {"I", "inventory"}, {"F", "config"},
	{"i", "identity"}, {"u", "user"}, {"p", "port"}, {"o", "option"}, {"J", "jump"}, {"A", "forward-agent"},
	{"e", "env"}, {"t", "tty"}, {"n", "no-stdin"}, {"L", "local-forward"}, {"P", "parallel"},
	{"v", "verbose"}, {"f", "loomfile"}, {"l", "list"}, {"h", "help"},
}

// newFlags defines the flags on o.
func newFlags(o *options) *flagTable {
	fs := flag.NewFlagSet("loom", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(&o.hosts, "H", "`hosts`: comma list, ranges, @FILE; repeatable")
	fs.Var(&o.roles, "R", "`roles` from the inventory: web,db is either, web&staging both, !db not db; also all, inventory hosts, ranges and globs (web*); repeatable (docs/hosts.md)")
	fs.Var(&o.pick, "pick", "run on a random sample of `N` (or N%) of the selected hosts (-v says the seed)")
	fs.Uint64Var(&o.seed, "seed", 0, "the `number` --pick draws its sample with, for the same sample again")
	fs.Var(&o.excludes, "x", "exclude `hosts` (names, ranges or globs like web*); repeatable")
	fs.BoolVar(&o.rerunFailed, "rerun-failed", false, "run on the hosts that were not ok in the last run (its record is what the last subcommand shows); the same as -H @failed")
	fs.StringVar(&o.inventory, "I", "", "inventory `file` (default: loom.yaml found upward from the working directory, if yours; \"none\" for none)")
	fs.StringVar(&o.configFile, "F", "", "ssh_config `file` (default ~/.ssh/config then /etc/ssh/ssh_config; \"none\" for none)")
	fs.Var(&o.identities, "i", "identity (private key) `file`, tried before ssh_config's; repeatable")
	fs.StringVar(&o.user, "u", "", "remote `user` (overrides ssh_config; a user in the host or the inventory wins)")
	fs.IntVar(&o.port, "p", 0, "remote `port` (overrides ssh_config)")
	fs.Var(&o.sshOpts, "o", "ssh_config `option=value`, like ssh -o (e.g. StrictHostKeyChecking=accept-new); repeatable")
	fs.StringVar(&o.jump, "J", "", "reach the hosts through these jump `hosts` (comma list, first hop first), like ssh -J; same as -o ProxyJump=HOSTS")
	fs.IntVar(&o.parallel, "P", loom.DefaultParallel, "`N` hosts worked on at once")
	fs.IntVar(&o.handshakes, "handshakes", 0, "connections being set up at once (`N`; default: like -P, at most 64)")
	fs.Var(&o.batch, "batch", "rolling batches of `N` hosts or N% of them; a batch finishes before the next starts; a list (1,5,25%) is a ramp whose last size repeats, as Ansible's serial")
	fs.DurationVar(&o.pause, "pause", 0, "wait this `duration` between batches (with --batch)")
	fs.Var(&o.maxFail, "max-fail", "once more than `N` hosts (or N% of them) failed, start no new host")
	fs.Var(&o.maxFailBatch, "max-fail-batch", "once more than `N` hosts of a batch (or N% of the batch) failed, start no new host: Ansible's max_fail_percentage")
	fs.BoolVar(&o.failFast, "fail-fast", false, "at the first failure start no new host and interrupt the running ones")
	fs.IntVar(&o.retries, "retries", 0, "try a refused or timed-out connection this many `times` more")
	fs.DurationVar(&o.persist, "persist", 0, "keep the connections for later runs, in a background holder, until each is unused for `duration` (e.g. 10m; also ssh_config ControlMaster+ControlPersist, loom.yaml settings: persist:; see docs/connections.md)")
	fs.BoolVar(&o.persistStop, "persist-stop", false, "stop the background holder of --persist, closing the connections it holds; with -H/-R, close only those hosts' held connections (like ssh -O exit)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "TCP connect `timeout` (the SSH handshake gets twice as long)")
	fs.DurationVar(&o.cmdTimeout, "timeout", 0, "stop the command after this `duration` on a host (0: no limit)")
	fs.DurationVar(&o.hostTimeout, "host-timeout", 0, "bound each host's whole turn, connecting included (`duration`; 0: no limit)")
	fs.BoolVar(&o.forwardAgent, "A", false, "forward your ssh-agent (list and sign only; every request logged with -v and in --json)")
	fs.Var(&o.agentKeys, "agent-key", "forward only this `key` (SHA256 fingerprint or comment glob); repeatable")
	fs.Var(&o.agentHosts, "agent-hosts", "forward the agent only to these `hosts` (globs, comma list)")
	fs.BoolVar(&o.sudoPassStdin, "sudo-password-stdin", false, "read the sudo password from the first line of stdin (for scripts; never give it in argv)")
	fs.BoolVar(&o.stdinAll, "stdin", false, "read stdin once and give all of it to the command on every host (spooled to a private temporary file past 8 MiB)")
	fs.BoolVar(&o.noStdin, "n", false, "give the command no stdin (like ssh -n): piped input is not read")
	fs.BoolVar(&o.yes, "yes", false, "answer yes to every question a task asks with loom.Confirm (LOOM_YES=1); for CI")
	fs.BoolVar(&o.sudo, "sudo", false, "run the command with sudo (the password is asked once if sudo needs it)")
	fs.StringVar(&o.sudoUser, "sudo-user", "", "run the command with sudo as `user` instead of root (implies --sudo)")
	fs.Var(&o.envs, "e", "set `NAME=VALUE` in the command's environment (also under sudo); repeatable")
	fs.Var(&o.localFwds, "L", "forward `[bind:]port:host:hostport` here to host:hostport as the host sees it, for the run, like ssh -L (one host); repeatable")
	fs.Var(&o.remoteFwds, "remote-forward", "have each host listen on `[bind:]port:host:hostport` and carry it back to host:hostport here, like ssh -R (loom's -R is roles); repeatable")
	fs.BoolVar(&o.pty, "t", false, "give the command a pseudo-terminal")
	fs.StringVar(&o.mode, "mode", "", "put/sync: file `mode` in octal (default: the local file's)")
	fs.StringVar(&o.owner, "owner", "", "put/sync: chown to `user[:group]` (with --sudo unless you may)")
	fs.Var(&o.fileExcludes, "exclude", "put/get/sync: skip files matching this `glob` (relative path); repeatable")
	fs.BoolVar(&o.checksum, "checksum", false, "sync: compare files by SHA-256 instead of size and time")
	fs.BoolVar(&o.deleteExtra, "delete", false, "sync: remove remote files that are gone locally")
	fs.BoolVar(&o.check, "check", false, "sync: list what would change, change nothing")
	fs.BoolVar(&o.overwrite, "overwrite", false, "get: replace local files that already exist (without it get refuses, before writing anything)")
	fs.BoolVar(&o.gather, "gather", false, "print identical outputs once, under the folded list of their hosts")
	fs.BoolVar(&o.echo, "echo", false, "print 'HOST $ COMMAND' on stderr as each command starts, a task's included (also with -v)")
	fs.Var(&o.hide, "hide", "leave `streams` out of the live output: stdout, stderr, echo (comma list; --log-dir still gets all)")
	fs.Var(&o.show, "show", "put `streams` back in the live output (stdout, stderr, echo), over --hide and the settings; --show echo is --echo")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per host on stdout (and nothing else there)")
	fs.StringVar(&o.logDir, "log-dir", "", "write each host's full output to `dir`/HOST.log")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the hosts and what would run on each; connect nowhere")
	fs.BoolVar(&o.verbose, "v", false, "verbose: connection details on stderr")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.help, "h", false, "show this help (on stdout); -h TASK shows a task's help")
	fs.BoolVar(&o.list, "l", false, "list the tasks of the loomfile (loomfile.go or loomfiles/, found upward)")
	fs.StringVar(&o.compile, "compile", "", "build the loomfile's tasks into a standalone program at `path` (the loom command with the tasks built in) and exit")
	fs.StringVar(&o.taskFile, "f", "", "the loomfile `path` (a .go file or a directory) instead of searching upward")
	t := &flagTable{fs: fs, alias: map[string]string{}, other: map[string]string{}}
	for _, l := range longNames {
		t.long(l[0], l[1])
	}
	return t
}

// subcommandNames are the words that name a subcommand, before the flags
// or after them.
var subcommandNames = map[string]bool{"put": true, "get": true, "sync": true, "ssh": true, "last": true, "help": true}

// parseFlags parses the command line (without the program's name). A
// subcommand may come first or after the flags before it; its own flags
// follow it. A mistake is one line on stderr naming the flag, and a
// *flagError.
func parseFlags(args []string, stderr io.Writer) (*options, *flagTable, error) {
	return parseFlagsAs("loom", args, stderr)
}

func parseFlagsAs(name string, args []string, stderr io.Writer) (*options, *flagTable, error) {
	o := &options{name: name, hosts: listFlag{comma: true}, roles: listFlag{comma: true}, excludes: listFlag{comma: true}, agentHosts: listFlag{comma: true}}
	t := newFlags(o)
	o.table = t
	rest, dashdash, err := t.scan(args)
	for err == nil && !dashdash && len(rest) > 0 && o.sub == "" && subcommandNames[rest[0]] {
		o.sub = rest[0]
		rest, dashdash, err = t.scan(rest[1:])
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v; see %s -h\n", name, err, name)
		return nil, t, err
	}
	if o.sub == "" {
		o.sub = "run"
	}
	if o.sub == "help" {
		o.help = true
		o.sub = "run"
	}
	o.args, o.command = rest, dashdash
	if o.args == nil {
		o.args = []string{}
	}
	o.set = map[string]bool{}
	t.fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if !o.set["seed"] {
		o.seed = rand.Uint64()
	}
	return o, t, nil
}

// usage writes the help to w: for the loom command, or for a compiled
// loomfile (prog set), which says its own name and has no init or demo.
func (t *flagTable) usage(w io.Writer, name string, compiled bool) {
	text := usageText
	if compiled {
		text = strings.ReplaceAll(text, "INITDEMO\n", "\n")
		text = strings.ReplaceAll(text, "TASKSOURCE", "this program")
	} else {
		text = strings.ReplaceAll(text, "INITDEMO\n", initDemoText+"\n")
		text = strings.ReplaceAll(text, "TASKSOURCE", "the loomfile (loomfile.go or loomfiles/)")
	}
	fmt.Fprint(w, strings.ReplaceAll(text, "NAME", name))
	for _, s := range helpSections {
		fmt.Fprintf(w, "\n%s:\n", s.title)
		for _, n := range s.names {
			if compiled && n == "compile" {
				continue
			}
			f := t.fs.Lookup(n)
			what, help := flag.UnquoteUsage(f)
			line := "  " + spell(n)
			if o, ok := t.other[n]; ok {
				line += ", " + spell(o)
			}
			if what != "" {
				line += " " + what
			}
			if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "0s" && d != "none" {
				help += fmt.Sprintf(" (default %s)", d)
			}
			fmt.Fprintf(w, "%s\n    \t%s\n", line, help)
		}
	}
	fmt.Fprint(w, exitText)
}

const exitText = `
Exit status: 0 all hosts succeeded; 1 a command failed on some host (non-zero
exit, timeout, lost connection); 3 some host could not be reached,
authenticated or trusted (host key) and no command failed; 2 usage or
configuration error; 130 interrupted.
`

// hidden reports whether stream (stdout, stderr or echo) is left out of
// the live output: --hide names it and --show does not. Echo is shown
// with --echo, -v or --show echo.
func (o *options) hidden(stream string) bool {
	if o.show.has(stream) {
		return false
	}
	if stream == "echo" {
		return o.hide.has("echo") || !o.echo && !o.verbose
	}
	return o.hide.has(stream)
}
