package loom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/remotefs"
	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/transport"
)

// Connections held across runs by the background holder (internal/holder,
// docs/connections.md). The loom command attaches a holder client to its
// Dialer with holder.Use; the Dialer then sends each host's commands
// through the holder, which keeps the host's connection for the next run.
// What the holder cannot do yet is done directly, as without it: hosts
// that forward the agent, use a ProxyCommand, or log in with a key held
// in memory or a password the run was given, and hosts the holder could
// not log in to without asking (a password, a passphrase): the run then
// asks and connects itself. On a held host, file operations and port
// forwarding fail (the Conn has no SSH client of its own: Client is nil).

func init() {
	holder.Use = func(d any, c *holder.Client) { d.(*Dialer).holder = c }
}

// dialHolder connects to h through the holder. direct is true when h is
// better dialled by the run itself (see above).
func (d *Dialer) dialHolder(ctx context.Context, h *sshconfig.Host) (c *Conn, direct bool, err error) {
	if d.ForwardAgent || h.ForwardAgent || h.ProxyCommandLine != "" || len(d.Signers) > 0 || !d.Password.IsZero() {
		return nil, true, nil
	}
	t, err := d.holderTarget(h)
	if err != nil {
		return nil, false, err
	}
	if err := d.holder.Dial(ctx, t); err != nil {
		var he *holder.Error
		if errors.As(err, &he) && he.Kind == "connect" && transport.Reason(he.Reason) == transport.Auth {
			d.logf("%s: the connection holder cannot log in without asking (%s); connecting directly", h.Alias, he.Msg)
			return nil, true, nil
		}
		return nil, false, holderErr(h, err)
	}
	return newConn(h.Alias, d, &holderRunner{cl: d.holder, t: t}, nil), false, nil
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

// holderRunner runs a host's commands on the holder's connection.
type holderRunner struct {
	cl *holder.Client
	t  holder.Target
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

// sftp: file operations do not go through the holder (yet): a held host's
// Put, Get and Sync fail, saying so.
func (r *holderRunner) sftp(context.Context) (remotefs.Pipe, error) {
	return remotefs.Pipe{}, errors.New("file operations do not go through the --persist holder: run them without --persist")
}
