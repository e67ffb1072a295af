package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Exit statuses (DESIGN.md; keep them stable).
const (
	ExitOK          = 0   // every host succeeded
	ExitFailed      = 1   // a command failed (non-zero exit, timeout, lost connection) on some host
	ExitUsage       = 2   // bad flags, bad config: nothing was run
	ExitUnreachable = 3   // some host could not be reached, authenticated or trusted, and no command failed
	ExitInterrupted = 130 // interrupted (Ctrl-C)
)

// listFlag collects a repeatable flag; each value may hold a comma list.
type listFlag struct {
	vals  []string
	comma bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }
func (l *listFlag) Set(v string) error {
	if l.comma {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				l.vals = append(l.vals, s)
			}
		}
		return nil
	}
	l.vals = append(l.vals, v)
	return nil
}

// options are the parsed command line.
type options struct {
	hosts          listFlag
	configFile     string
	identities     listFlag
	user           string
	port           int
	sshOpts        listFlag
	connectTimeout time.Duration
	cmdTimeout     time.Duration
	sudo           bool
	pty            bool
	verbose        bool
	version        bool
	help           bool
	args           []string
}

const usageText = `Usage:
  loom [flags] -H HOSTS -- COMMAND [ARG...]   run a command on each host
  loom demo                                   try Loom on throwaway local SSH hosts

With one word after --, COMMAND is shell text ('uptime | cut -d, -f1');
with several, each is a separate argument, quoted for the remote shell.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*options, *flag.FlagSet, error) {
	o := &options{hosts: listFlag{comma: true}}
	fs := flag.NewFlagSet("loom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.hosts, "H", "hosts: `host[,user@host:port...]`, repeatable; @FILE reads one host a line")
	fs.StringVar(&o.configFile, "F", "", "ssh_config `file` (default ~/.ssh/config then /etc/ssh/ssh_config; \"none\" for none)")
	fs.Var(&o.identities, "i", "identity (private key) `file`, tried before ssh_config's; repeatable")
	fs.StringVar(&o.user, "u", "", "remote `user` (overrides ssh_config)")
	fs.IntVar(&o.port, "p", 0, "remote `port` (overrides ssh_config)")
	fs.Var(&o.sshOpts, "o", "ssh_config `option=value`, like ssh -o (e.g. StrictHostKeyChecking=accept-new); repeatable")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "TCP connect `timeout` (the SSH handshake gets twice as long)")
	fs.DurationVar(&o.cmdTimeout, "timeout", 0, "stop the command after this `duration` on a host (0: no limit)")
	fs.BoolVar(&o.sudo, "sudo", false, "run the command with sudo (the password is asked once if sudo needs it)")
	fs.BoolVar(&o.pty, "t", false, "give the command a pseudo-terminal")
	fs.BoolVar(&o.verbose, "v", false, "verbose: connection details on stderr")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.help, "h", false, "show this help")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
		fmt.Fprint(stderr, exitText)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	o.args = fs.Args()
	return o, fs, nil
}

const exitText = `
Exit status: 0 all hosts succeeded; 1 a command failed on some host (non-zero
exit, timeout, lost connection); 3 some host could not be reached,
authenticated or trusted (host key) and no command failed; 2 usage or
configuration error; 130 interrupted.
`

// readHosts expands @FILE entries (one host a line; # comments).
func readHosts(vals []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, v := range vals {
		if !strings.HasPrefix(v, "@") {
			add(v)
			continue
		}
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, fmt.Errorf("-H %s: %w", v, err)
		}
		for _, ln := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(ln, '#'); i >= 0 {
				ln = ln[:i]
			}
			for _, f := range strings.Fields(ln) {
				add(f)
			}
		}
	}
	return out, nil
}
