package loom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/loomssh/loom/internal/agentfwd"
	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/remotefs"
	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/transport"
)

// Connections held across runs by the background holder (internal/holder,
// docs/connections.md). The loom command attaches a holder client to its
// Dialer with holder.Use; the Dialer then sends the commands and file
// operations of each held host through the holder, which keeps the host's
// connection for the next run. A host is held when the client's Persist
// says so for every host (--persist, loom.yaml), or when its ssh_config
// does (ControlMaster yes/auto with ControlPersist).
// A held host that forwards the agent gets it through the holder: the
// holder relays the host's agent channels to this run, which answers them
// with the same filtering agent a direct connection has (AgentKeys,
// AgentHosts, AgentEvents), one per host per Dialer. Port forwards
// (ForwardLocal, ForwardRemote) are channels relayed by the holder too.
// What the holder cannot do is done directly, as without it: hosts that
// use a ProxyCommand, or log in with a key held in memory or a password
// the run was given, and hosts the holder could not log in to without
// asking (a password, a passphrase): the run then asks and connects
// itself. A held host's Conn has no SSH client of its own: Client is nil.

func init() {
	holder.Use = func(d any, c *holder.Client) { d.(*Dialer).holder = c }
}

// dialHolder connects to h through the holder. direct is true when h is
// better dialled by the run itself (see above).
func (d *Dialer) dialHolder(ctx context.Context, h *sshconfig.Host) (c *Conn, direct bool, err error) {
	persist := d.holdFor(h)
	if persist <= 0 {
		return nil, true, nil
	}
	if h.ProxyCommandLine != "" || len(d.Signers) > 0 || !d.Password.IsZero() {
		d.logf("%s: not held (a ProxyCommand, a key in memory or a password go direct); connecting directly", h.Alias)
		return nil, true, nil
	}
	if err := d.holder.Ready(ctx); err != nil {
		return nil, true, nil // said once, by the holder client's Warn
	}
	t, err := d.holderTarget(h)
	if err != nil {
		return nil, false, err
	}
	t.Persist = persist
	ag, id := d.heldAgent(h)
	t.Agent = id
	dd, err := d.holder.Dial(ctx, t)
	if err != nil {
		var he *holder.Error
		if errors.As(err, &he) && he.Kind == "connect" && transport.Reason(he.Reason) == transport.Auth {
			d.logf("%s: the connection holder cannot log in without asking (%s); connecting directly", h.Alias, he.Msg)
			return nil, true, nil
		}
		return nil, false, holderErr(h, err)
	}
	c = newConn(h.Alias, d, &holderRunner{cl: d.holder, t: t, openSSH: strings.Contains(dd.ServerVersion, "OpenSSH"), agent: ag}, nil)
	c.h.direct = d.directDial(h)
	if ag != nil {
		c.h.taken = time.Now() // AgentEvents: this Conn's, not an earlier one's of the run
	}
	return c, false, nil
}

// heldAgents are the filtering agents of a Dialer's held hosts: one per
// host as resolved, serving the agent channels the holder relays for it.
type heldAgents struct {
	mu sync.Mutex
	m  map[string]heldAgent
}

type heldAgent struct {
	a  *agentfwd.Agent
	id uint32 // its number with the holder (holder.Target.Agent)
}

// heldAgent returns the filtering agent h gets through the holder, and
// its number there: the transport's decision and filter, as a direct
// connection's (AgentHosts, AgentKeys, no agent: a warning). Nil, 0: h
// does not get the agent.
func (d *Dialer) heldAgent(h *sshconfig.Host) (*agentfwd.Agent, uint32) {
	if !d.ForwardAgent && !h.ForwardAgent {
		return nil, 0
	}
	k := fmt.Sprintf("%#v", *h)
	d.agents.mu.Lock()
	defer d.agents.mu.Unlock()
	if ha, ok := d.agents.m[k]; ok {
		return ha.a, ha.id
	}
	var ha heldAgent
	if ha.a = d.t.AgentFor(h); ha.a != nil {
		a := ha.a
		ha.id = d.holder.ServeAgent(func(rw io.ReadWriteCloser) {
			defer rw.Close()
			a.ServeStream(context.Background(), rw)
		})
	}
	if d.agents.m == nil {
		d.agents.m = map[string]heldAgent{}
	}
	d.agents.m[k] = ha
	return ha.a, ha.id
}

// holdFor says how long h's connection is held after this run: the
// holder client's Persist (--persist) wins for every host; else what h's
// ssh_config asks (ControlMaster yes or auto with ControlPersist). 0:
// not held.
func (d *Dialer) holdFor(h *sshconfig.Host) time.Duration {
	if p := d.holder.Persist(); p > 0 {
		return p
	}
	cp, ok := h.Hold()
	if !ok {
		d.holder.WarnOnce(fmt.Sprintf("%s: ssh_config ControlMaster %s asks to confirm each use of the connection; Loom cannot ask, so it does not hold it", h.Alias, h.ControlMaster))
		return 0
	}
	return cp
}

// holderTarget is h as the holder needs it: resolved, with its jump hosts
// resolved too, and the run's settings that shape a connection.
func (d *Dialer) holderTarget(h *sshconfig.Host) (holder.Target, error) {
	agent := d.AgentSocket
	if agent == "" {
		agent = os.Getenv("SSH_AUTH_SOCK")
	}
	t := holder.Target{
		Settings: holder.Settings{
			HostKeyPolicy:    d.t.HostKeyPolicy,
			ConnectTimeout:   d.t.ConnectTimeout,
			HandshakeTimeout: d.t.HandshakeTimeout,
			MaxSessions:      d.t.MaxSessions,
			Retries:          d.t.Retries,
			AgentSocket:      agent,
		},
		Host: h,
		Env:  h.Env(os.Environ()),
	}
	if h.ControlMaster != "" || h.ControlPersist != 0 || h.ControlPath != "" || h.ControlPathLegacy != "" || h.ForwardAgent || h.ForwardAgentSocket != "" {
		// How long a connection is held travels as Target.Persist: a
		// changed ControlPersist keeps the connection held. Whether the
		// agent is forwarded travels as Target.Agent: the holder's own
		// dial never forwards one (the run's filter answers, through it).
		hc := *h
		hc.ControlMaster, hc.ControlPersist = "", 0
		hc.ControlPath, hc.ControlPathLegacy = "", "" // OpenSSH's socket: nothing to the holder
		hc.ForwardAgent, hc.ForwardAgentSocket = false, ""
		t.Host = &hc
	}
	for cur, n := h, 0; len(cur.ProxyJump) > 0 && n <= 8; n++ {
		k := len(cur.ProxyJump)
		hop, err := d.resolveHop(cur.ProxyJump[k-1], cur.ProxyJump[:k-1])
		if err != nil {
			return t, fmt.Errorf("%s: jump host %s: %w", h.Alias, cur.ProxyJump[k-1], err)
		}
		t.Hops = append(t.Hops, holder.Hop{Name: cur.ProxyJump[k-1], Via: cur.ProxyJump[:k-1], Host: hop})
		cur = hop
	}
	return t, nil
}

// holderErr turns the holder's error into the one a direct dial gives.
func holderErr(h *sshconfig.Host, err error) error {
	var he *holder.Error
	if !errors.As(err, &he) || he.Kind != "connect" {
		return &ConnectError{Host: h.Alias, Addr: h.Addr(), Reason: ReasonUnreachable, Err: err}
	}
	return publicErr(&transport.ConnectError{Host: he.Host, Addr: he.Addr, Via: he.Via, Reason: transport.Reason(he.Reason), Err: errors.New(he.Msg)})
}

// holderRunner runs a host's commands and file operations on the
// holder's connection.
type holderRunner struct {
	cl      *holder.Client
	t       holder.Target
	openSSH bool            // the host says it is OpenSSH
	agent   *agentfwd.Agent // the filtering agent forwarded to the host, or nil
}

func (r *holderRunner) close() error { return nil } // the holder keeps the connection

func (r *holderRunner) start(ctx context.Context, cmd string, pty bool, stdout, stderr io.Writer) (process, error) {
	var p *holder.Pty
	if pty {
		p = &holder.Pty{Term: os.Getenv("TERM"), Width: 80, Height: 24}
		if tw, th, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
			p.Width, p.Height = tw, th
		}
		if p.Term == "" {
			p.Term = "xterm"
		}
	}
	proc, err := r.cl.Start(ctx, r.t, cmd, p, stdout, stderr)
	if err != nil {
		var he *holder.Error
		if errors.As(err, &he) && he.Kind == "lost" {
			return nil, fmt.Errorf("%w: %s", ErrConnLost, he.Msg)
		}
		return nil, err
	}
	return holderProc{proc}, nil
}

type holderProc struct{ p *holder.Proc }

func (p holderProc) stdin() io.WriteCloser { return p.p.Stdin() }

func (p holderProc) wait() (int, string, error) {
	e := p.p.Wait()
	switch {
	case e.Lost != "":
		return -1, "", fmt.Errorf("%w: %s", ErrConnLost, e.Lost)
	case e.NoStatus:
		return -1, "", ErrNoExitStatus
	}
	return e.Code, e.Signal, nil
}

func (p holderProc) signal(sig ssh.Signal, pty bool) {
	if pty && sig == ssh.SIGINT {
		p.p.Stdin().Write([]byte{3}) // ^C through the terminal, as sshProc does
	}
	p.p.Signal(string(sig))
}

func (p holderProc) kill() { p.p.Kill() }

// sftp opens the sftp subsystem on the held connection: a stream of the
// holder's like a command's, as sshRunner.sftp does on a direct one.
func (r *holderRunner) sftp(ctx context.Context) (remotefs.Pipe, error) {
	w, o, closeFn, err := r.cl.Subsystem(ctx, r.t, "sftp")
	if err != nil {
		var he *holder.Error
		if errors.As(err, &he) && he.Kind == "lost" {
			return remotefs.Pipe{}, fmt.Errorf("%w: %s", ErrConnLost, he.Msg)
		}
		return remotefs.Pipe{}, fmt.Errorf("cannot start the sftp subsystem: %w", err)
	}
	return remotefs.Pipe{R: o, W: w, Close: closeFn, BigPackets: r.openSSH, StartJanitor: func(ctx context.Context, script string) (io.WriteCloser, func(), error) {
		return r.cl.StartFed(ctx, r.t, script)
	}}, nil
}
