package loom

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/agentfwd"
	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/transport"
)

// HostKeyCheck says how host keys are checked. The zero value follows
// ssh_config's StrictHostKeyChecking, which defaults to strict.
type HostKeyCheck int

const (
	// HostKeysFromConfig uses StrictHostKeyChecking from ssh_config
	// ("ask" and unset are treated as strict: Loom never asks).
	HostKeysFromConfig HostKeyCheck = iota
	// StrictHostKeys refuses hosts whose key is not in known_hosts.
	StrictHostKeys
	// AcceptNewHostKeys records keys of hosts not seen before in the user's
	// known_hosts file, and refuses keys that changed.
	AcceptNewHostKeys
	// InsecureIgnoreHostKeys accepts any host key. Anyone on the path can
	// then read and change everything the run sends, passwords included.
	InsecureIgnoreHostKeys
)

func (h HostKeyCheck) policy() string {
	switch h {
	case StrictHostKeys:
		return "yes"
	case AcceptNewHostKeys:
		return "accept-new"
	case InsecureIgnoreHostKeys:
		return "no"
	}
	return ""
}

// A Dialer opens connections for one run. Everything that should happen
// once per run lives here: ssh_config is read once, each password and key
// passphrase is asked once, known_hosts is shared (and appended to under a
// lock), and one connection to each jump host serves every target behind
// it. The zero value is ready to use: ~/.ssh/config, the user's agent and
// keys, strict host keys, no prompts.
//
// Set the fields before the first Dial. A Dialer is safe for concurrent use.
// A setting out of its range (a negative timeout or count, a port above
// 65535) makes every Dial fail with an error naming it.
type Dialer struct {
	// ConfigFile is the ssh_config to read, like ssh -F. Empty: the user's
	// ~/.ssh/config then /etc/ssh/ssh_config. "none": no file at all.
	ConfigFile string
	// User, Port and IdentityFiles override ssh_config, like ssh -l, -p, -i.
	User          string
	Port          int
	IdentityFiles []string
	// Options are ssh_config settings that override the files, like ssh -o:
	// "Keyword=value" each (e.g. "StrictHostKeyChecking=accept-new").
	Options []string
	// HostKeyCheck overrides StrictHostKeyChecking.
	HostKeyCheck HostKeyCheck
	// Signers are keys held in memory, offered after the key files.
	Signers []ssh.Signer
	// AgentSocket overrides $SSH_AUTH_SOCK.
	AgentSocket string
	// Password is the login password for password and keyboard-interactive
	// authentication; when empty, Prompt is asked once per user if needed.
	Password Secret
	// SudoPassword is given to sudo when it asks; when empty, Prompt is
	// asked once per run the first time a sudo asks.
	SudoPassword Secret
	// Prompt asks for secrets that were not given. Nil: never ask (a needed
	// secret is an error wrapping ErrNoTerminal). Questions are asked one
	// at a time, and a host waiting for an answer (its own question's or
	// another host's for the same secret) has its handshake deadline
	// paused. A host whose ssh_config sets BatchMode is never asked while
	// connecting: its error says what was not asked.
	Prompt Prompter
	// ConnectTimeout bounds the TCP connect when ssh_config has no
	// ConnectTimeout (default 10s). The SSH handshake gets twice as long.
	ConnectTimeout time.Duration
	// MaxSessions caps commands running at once on one connection (default 8,
	// below sshd's MaxSessions of 10).
	MaxSessions int
	// MaxHandshakes caps connections being set up at once (TCP connect, key
	// exchange, authentication), separately from how many hosts run at once:
	// sshd's MaxStartups drops unauthenticated connections beyond 10 by
	// default, and a jump host sees every handshake behind it. 0: no cap.
	// Handshakes a server drops before they begin are retried with backoff.
	MaxHandshakes int
	// Retries is how many more times a refused or timed-out connection is
	// tried, with backoff (ssh_config ConnectionAttempts also counts).
	Retries int
	// ForwardAgent forwards your ssh-agent to every host, like ssh -A; it
	// is off by default, and ssh_config's ForwardAgent turns it on per host
	// (Host.ForwardAgent too). The remote never gets the agent itself: a
	// filter in this process lets it list keys and ask for signatures, and
	// nothing else, and records every request (AgentEvents). Jump hosts
	// never get it. See docs/agent-forwarding.md for what it exposes.
	ForwardAgent bool
	// AgentKeys limits the forwarded keys: each entry is a SHA256
	// fingerprint ("SHA256:...") or a comment, * matching anything.
	AgentKeys []string
	// AgentHosts limits the hosts that get the agent at all (globs on the
	// host name as given, or its HostName).
	AgentHosts []string
	// Logf receives verbose diagnostics. Nil discards them.
	Logf func(format string, args ...any)
	// Echo, if set, is called as each command of a Conn of this Dialer
	// starts (Run, Shell, Sudo, SudoShell, and the helpers file operations
	// run), with the host's name and the command as given ("sudo " before
	// a sudo one), without the Cd, Env and Prefix scopes: Fabric's
	// "[host] run: ...". Calls may come from several goroutines at once.
	Echo func(host, cmd string)
	// Stderr receives warnings (a changed key accepted under
	// InsecureIgnoreHostKeys, say). Nil: os.Stderr.
	Stderr io.Writer
	// ShareConnections keeps one connection per host for the Dialer's
	// life: every Dial and DialHost of a host (and so every Group run on
	// this Dialer) reuses it, and Conn.Close leaves it open for the next;
	// Close closes them. See dialer_share.go. The loom command sets it.
	ShareConnections bool

	once    sync.Once
	initErr error
	cfg     *sshconfig.Config
	t       *transport.Dialer
	holder  *holder.Client // connections held across runs (dialer_holder.go); nil: direct
	agents  heldAgents     // the filtering agents of held hosts (dialer_holder.go)

	muxWarned sync.Map // ControlPath sockets refused, warned about once (dialer_mux.go)
}

// secrets are the run's passwords and passphrases, asked once (sudo's
// among them).
func (d *Dialer) secrets() *transport.Secrets {
	d.init()
	return &d.t.Secrets
}

func (d *Dialer) init() error {
	d.once.Do(func() {
		d.cfg, d.initErr = loadConfig(d.ConfigFile)
		if err := d.check(); err != nil && d.initErr == nil {
			d.initErr = err
		}
		if err := (agentfwd.Policy{Keys: d.AgentKeys}).Validate(); err != nil && d.initErr == nil {
			d.initErr = err
		}
		t := &transport.Dialer{
			Signers:        d.Signers,
			AgentSocket:    d.AgentSocket,
			HostKeyPolicy:  d.HostKeyCheck.policy(),
			ConnectTimeout: d.ConnectTimeout,
			MaxSessions:    d.MaxSessions,
			MaxHandshakes:  d.MaxHandshakes,
			Retries:        d.Retries,
			ForwardAgent:   d.ForwardAgent,
			AgentKeys:      d.AgentKeys,
			AgentHosts:     d.AgentHosts,
			ShareTargets:   d.ShareConnections,
			Logf:           d.Logf,
			Warnf: func(format string, args ...any) {
				w := d.Stderr
				if w == nil {
					w = os.Stderr
				}
				fmt.Fprintf(w, "warning: "+format+"\n", args...)
			},
		}
		if d.ConnectTimeout > 0 {
			t.HandshakeTimeout = 2 * d.ConnectTimeout
		}
		if d.Prompt != nil {
			t.Secrets.Ask = d.Prompt.Prompt
		}
		if !d.Password.IsZero() {
			t.Secrets.Set("password", d.Password.Reveal())
		}
		if !d.SudoPassword.IsZero() {
			t.Secrets.Set(sudoKey, d.SudoPassword.Reveal())
		}
		t.Resolve = d.resolveHop
		d.t = t
	})
	return d.initErr
}

// check refuses settings that have no sensible meaning, rather than
// reading them as a default: a port outside 1–65535, negative counts or
// timeouts.
func (d *Dialer) check() error {
	switch {
	case d.Port < 0 || d.Port > 65535:
		return fmt.Errorf("dialer: Port %d: want a port from 1 to 65535 (0: ssh_config's)", d.Port)
	case d.ConnectTimeout < 0:
		return fmt.Errorf("dialer: ConnectTimeout %v: want a positive duration (0: the default, 10s)", d.ConnectTimeout)
	case d.MaxSessions < 0:
		return fmt.Errorf("dialer: MaxSessions %d: want at least 1 (0: the default, 8)", d.MaxSessions)
	case d.MaxHandshakes < 0:
		return fmt.Errorf("dialer: MaxHandshakes %d: want at least 1 (0: no cap)", d.MaxHandshakes)
	case d.Retries < 0:
		return fmt.Errorf("dialer: Retries %d: want 0 or more", d.Retries)
	}
	return nil
}

// loadConfig reads the ssh_config files as ssh would: the given file only,
// or ~/.ssh/config then /etc/ssh/ssh_config.
func loadConfig(file string) (*sshconfig.Config, error) {
	return sshconfig.Load("", sshconfig.Files("", file)...)
}

func (d *Dialer) options() sshconfig.Options {
	return sshconfig.Options{
		User:          d.User,
		Port:          d.Port,
		IdentityFiles: d.IdentityFiles,
		Set:           d.Options,
	}
}

// Resolve returns the settings ssh would use for target (host, user@host,
// host:port, [v6addr]:port) after ssh_config and the Dialer's overrides.
func (d *Dialer) Resolve(target string) (*HostConfig, error) {
	return d.resolve(target, nil)
}

func (d *Dialer) resolve(target string, set []string) (*HostConfig, error) {
	h, err := d.resolveRaw(target, set)
	if err != nil {
		return nil, err
	}
	if err := d.t.CheckJumps(h); err != nil {
		return nil, err
	}
	return hostConfig(h), nil
}

// resolveRaw resolves target with extra -o settings in front of the Dialer's.
func (d *Dialer) resolveRaw(target string, set []string) (*sshconfig.Host, error) {
	if err := d.init(); err != nil {
		return nil, err
	}
	o := d.options()
	if len(set) > 0 {
		o.Set = append(append([]string(nil), set...), o.Set...)
	}
	return d.cfg.Resolve(target, o)
}

// resolveHop resolves a jump host: its own ssh_config applies, with the rest
// of the chain in front of it, and without the target's -l/-p/ProxyJump
// overrides (as ssh -J does).
func (d *Dialer) resolveHop(hop string, via []string) (*sshconfig.Host, error) {
	o := sshconfig.Options{IdentityFiles: d.IdentityFiles}
	if len(via) > 0 {
		o.Set = append(o.Set, "ProxyJump="+strings.Join(via, ","))
	}
	for _, kv := range d.Options {
		k, _, _ := strings.Cut(strings.TrimSpace(kv), "=")
		k, _, _ = strings.Cut(k, " ")
		switch strings.ToLower(k) {
		case "proxyjump", "user", "port", "hostname":
		default:
			o.Set = append(o.Set, kv)
		}
	}
	return d.cfg.Resolve(hop, o)
}

// Dial connects to target and returns its Conn. Operations on the Conn run
// over this one connection.
func (d *Dialer) Dial(ctx context.Context, target string) (*Conn, error) {
	return d.dial(ctx, target, nil)
}

func (d *Dialer) dial(ctx context.Context, target string, set []string) (*Conn, error) {
	h, err := d.resolveRaw(target, set)
	if err != nil {
		return nil, err
	}
	d.sayUnsupported(h)
	if c, ok, err := d.dialMux(ctx, h); ok { // the user's OpenSSH master wins
		return c, err
	}
	if d.holder != nil {
		if c, direct, err := d.dialHolder(ctx, h); !direct {
			return c, err
		}
	}
	c, err := d.t.Dial(ctx, h)
	if err != nil {
		return nil, publicErr(err)
	}
	conn := d.sharedConn(newConn(h.Alias, d, &sshRunner{c: c, env: h.Env(os.Environ())}, c))
	conn.h.redial = func(ctx context.Context) (*transport.Client, error) { // Reconnect
		c, err := d.t.Dial(ctx, h)
		return c, publicErr(err)
	}
	return conn, nil
}

// Close closes the connections the Dialer keeps for the run: jump hosts,
// and with ShareConnections every target. Other Conns are closed by their
// own Close.
func (d *Dialer) Close() error {
	if d.t != nil {
		return d.t.Close()
	}
	return nil
}

func (d *Dialer) logf(format string, args ...any) {
	if d.Logf != nil {
		d.Logf(format, args...)
	}
}

// Dial connects to target with a Dialer of default settings. Close the Conn
// when done; it closes its jump connections too.
func Dial(ctx context.Context, target string) (*Conn, error) {
	d := &Dialer{}
	c, err := d.Dial(ctx, target)
	if err != nil {
		d.Close()
		return nil, err
	}
	c.h.ownDialer = true
	return c, nil
}

// HostConfig is what ssh_config resolved for one host.
type HostConfig struct {
	Alias          string // as named by the user
	HostName       string // the address connected to
	User           string
	Port           int
	IdentityFiles  []string
	ProxyJump      []string // jump hosts, first hop first
	ForwardAgent   bool
	StrictHostKeys string   // yes, accept-new or no
	KnownHosts     []string // the user known_hosts files
	Unsupported    []string // ssh_config directives Loom ignored for this host
}

func hostConfig(h *sshconfig.Host) *HostConfig {
	return &HostConfig{
		Alias: h.Alias, HostName: h.HostName, User: h.User, Port: h.Port,
		IdentityFiles: h.IdentityFiles, ProxyJump: h.ProxyJump, ForwardAgent: h.ForwardAgent,
		StrictHostKeys: h.StrictHostKeyChecking, KnownHosts: h.UserKnownHostsFiles,
		Unsupported: h.Unsupported,
	}
}

// AgentEvent is one request a host made of the forwarded agent: a listing,
// a signature (with the key used), or a refused operation.
type AgentEvent = agentfwd.Event

// AgentEvents returns what this host asked of the forwarded agent so far
// (nil when the agent is not forwarded to it).
func (c *Conn) AgentEvents() []AgentEvent {
	if c.h.tc != nil && c.h.tc.Agent() != nil {
		return sinceTaken(c.h, c.h.tc.Agent().Events())
	}
	if hr, ok := c.h.r.(*holderRunner); ok && hr.agent != nil {
		return sinceTaken(c.h, hr.agent.Events())
	}
	return nil
}

// sayUnsupported says which of h's ssh_config directives Loom ignores:
// with -v each one for each host; without, once per run for each that
// changes what the user asked for (sshconfig.QuietUnsupported), naming
// the first host it applied to.
func (d *Dialer) sayUnsupported(h *sshconfig.Host) {
	for _, u := range h.Unsupported {
		d.logf("%s: ssh_config %s is not supported by Loom and is ignored", h.Alias, u)
		if !sshconfig.QuietUnsupported(u) {
			d.t.WarnOnce("unsupported "+strings.ToLower(u), fmt.Sprintf("%s: ssh_config %s is not supported by Loom and is ignored (for every host it applies to; docs/ssh_config.md#unsupported-directives)", h.Alias, u))
		}
	}
}

// directDial dials h as a direct run does: for what a holder or an
// OpenSSH master cannot carry (an interactive terminal session).
func (d *Dialer) directDial(h *sshconfig.Host) func(context.Context) (*transport.Client, error) {
	return func(ctx context.Context) (*transport.Client, error) {
		c, err := d.t.Dial(ctx, h)
		return c, publicErr(err)
	}
}
