//go:build unix

package loom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/loomssh/loom/internal/remotefs"
	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/sshmux"
	"github.com/loomssh/loom/internal/transport"
)

// OpenSSH's own masters (docs/connections.md, "OpenSSH masters"). When a
// host's ssh_config ControlPath names a live OpenSSH ControlMaster socket
// (the user ran ssh with ControlMaster), the host's commands and file
// operations run as sessions of that master, through OpenSSH's mux
// protocol (internal/sshmux): no TCP connect, no key exchange, no login —
// the master checked the host key and logged in when it connected. Each
// command is one control connection and one passenger session, its
// stdin, stdout and stderr pipes (a pty's terminal side, for a pty) whose
// far ends are passed to the master.
//
// The master is used only when it is safe and it answers: the socket must
// be a socket owned by this user (another's is refused, with a warning
// naming it), and it must answer the hello and an alive check. A missing
// or dead socket (a master that was killed) means the host is connected
// as without it: through Loom's holder or directly (-v says so). All of
// that happens before a command is sent; a command sent to the master is
// never run again elsewhere.
//
// As ssh does, the master is used with ControlMaster no, auto or autoask
// (ssh -M, "yes" or "ask", makes a new master instead: Loom then goes on
// as without a master). A host with agent forwarding is not run through
// the master: Loom's agent filter and audit would not see the requests.
// Port forwarding needs an SSH connection of Loom's own (Conn.Client is
// nil), as on a held host.

// dialMux returns a Conn running on h's OpenSSH master; ok is false when
// h has none to use (see above) and is to be connected as usual.
func (d *Dialer) dialMux(ctx context.Context, h *sshconfig.Host) (c *Conn, ok bool, err error) {
	if h.ControlPath == "" {
		return nil, false, nil
	}
	switch h.ControlMaster {
	case "yes", "ask":
		d.logf("%s: ControlMaster %s makes a new master in ssh, never a client of %s: not using it", h.Alias, h.ControlMaster, h.ControlPath)
		return nil, false, nil
	}
	if d.ForwardAgent || h.ForwardAgent {
		d.logf("%s: agent forwarding is not done through OpenSSH's master (Loom's filter and audit would not see it): not using %s", h.Alias, h.ControlPath)
		return nil, false, nil
	}
	for _, path := range []string{h.ControlPath, h.ControlPathLegacy} {
		if path == "" {
			continue
		}
		err := sshmux.CheckSocket(path)
		if errors.Is(err, fs.ErrNotExist) {
			d.logf("%s: no OpenSSH master at %s", h.Alias, path)
			continue
		}
		var mc *sshmux.Client
		if err == nil {
			mc, err = sshmux.Dial(ctx, path)
		}
		var ue *sshmux.UntrustedError
		if errors.As(err, &ue) {
			if _, warned := d.muxWarned.LoadOrStore(path, true); !warned {
				d.t.Warnf("%s: ssh_config ControlPath %s: %s: not used (connecting as without it)", h.Alias, path, ue.Reason)
			}
			return nil, false, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, true, ctx.Err()
			}
			d.logf("%s: the OpenSSH master at %s does not answer (%v): connecting as without it", h.Alias, path, err)
			return nil, false, nil
		}
		mc.Close()
		d.logf("%s: through OpenSSH's master at %s (pid %d): no new connection, no login", h.Alias, path, mc.PID)
		n := d.MaxSessions
		if n == 0 {
			n = transport.DefaultMaxSessions
		}
		c := newConn(h.Alias, d, &muxRunner{path: path, pid: mc.PID, slots: make(chan struct{}, n), env: muxEnv(h)}, nil)
		c.h.direct = d.directDial(h)
		return c, true, nil
	}
	return nil, false, nil
}

// muxRunner runs a host's commands as sessions of an OpenSSH master.
type muxRunner struct {
	path  string
	pid   int           // the master's, when it was found
	slots chan struct{} // sessions at once, as on a connection of Loom's
	// env is what ssh -S sends the master: the local variables SendEnv
	// names ("NAME=value"); the master passes on those its own SendEnv
	// allows, and adds its SetEnv.
	env []string
}

func (r *muxRunner) close() error { return nil } // the master is the user's

// session opens a session on the master running req with the given far
// ends of its streams; it holds a slot until done is called.
func (r *muxRunner) session(ctx context.Context, req sshmux.SessionRequest, in, out, errw *os.File) (s *sshmux.Session, done func(), err error) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	release := sync.OnceFunc(func() { <-r.slots })
	c, err := sshmux.Dial(ctx, r.path)
	if err == nil {
		s, err = c.NewSession(ctx, req, in, out, errw)
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		release()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		var re *sshmux.RefusedError
		if errors.As(err, &re) {
			return nil, nil, fmt.Errorf("OpenSSH master at %s: %w", r.path, err)
		}
		return nil, nil, fmt.Errorf("%w: OpenSSH master at %s: %v", ErrConnLost, r.path, err)
	}
	return s, release, nil
}

// pipes returns n pipes.
func pipes(n int) (rs, ws []*os.File, err error) {
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			closeFiles(rs...)
			closeFiles(ws...)
			return nil, nil, err
		}
		rs, ws = append(rs, r), append(ws, w)
	}
	return rs, ws, nil
}

func closeFiles(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

func (r *muxRunner) start(ctx context.Context, cmd string, pty bool, stdout, stderr io.Writer) (process, error) {
	if pty {
		return r.startPty(ctx, cmd, stdout)
	}
	rs, ws, err := pipes(3)
	if err != nil {
		return nil, err
	}
	s, done, err := r.session(ctx, sshmux.SessionRequest{Command: cmd, Env: r.env}, rs[0], ws[1], ws[2])
	closeFiles(rs[0], ws[1], ws[2]) // the master has its own copies
	if err != nil {
		closeFiles(ws[0], rs[1], rs[2])
		return nil, err
	}
	p := &muxProc{r: r, s: s, done: done, in: ws[0]}
	p.copy(stdout, rs[1])
	p.copy(stderr, rs[2])
	return p, nil
}

// muxProc is one command on the master.
type muxProc struct {
	r      *muxRunner
	s      *sshmux.Session
	done   func()
	in     io.WriteCloser
	output sync.WaitGroup
}

// copy copies what the master writes to f into w, until the master
// closes its end (the session's channel closed).
func (p *muxProc) copy(w io.Writer, f *os.File) {
	p.output.Add(1)
	go func() {
		defer p.output.Done()
		io.Copy(w, f) // a pty's terminal ends with EIO once the master closed it
		f.Close()
	}()
}

func (p *muxProc) stdin() io.WriteCloser { return p.in }

func (p *muxProc) wait() (int, string, error) {
	code, err := p.s.Wait()
	p.s.Close()
	p.output.Wait()
	p.done()
	switch {
	case err == nil:
		return code, "", nil
	case errors.Is(err, sshmux.ErrNoExitStatus):
		// The master closed the session without an exit status: the
		// command was killed by a signal (the protocol carries none), or
		// the master itself went away. Ask it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := sshmux.Dial(ctx, p.r.path); err == nil {
			c.Close()
			if c.PID == p.r.pid {
				return -1, "", ErrNoExitStatus
			}
		}
		return -1, "", fmt.Errorf("%w: the OpenSSH master at %s (pid %d) is gone", ErrConnLost, p.r.path, p.r.pid)
	}
	return -1, "", fmt.Errorf("%w: OpenSSH master at %s: %v", ErrConnLost, p.r.path, err)
}

// signal: the mux protocol has no signal message. A pty gets ^C written
// to it for SIGINT, as the other runners do; any other stop ends the
// session at once, as kill does (the signal cannot be delivered, so
// waiting for the command to act on it would change nothing).
func (p *muxProc) signal(sig ssh.Signal, pty bool) {
	if pty && sig == ssh.SIGINT {
		p.in.Write([]byte{3})
		return
	}
	p.kill()
}

// kill ends the session: closing the control connection makes the master
// close the session's channel.
func (p *muxProc) kill() {
	p.s.Close()
	p.in.Close()
}

// ptySize is the size of the local terminal, else 80x24.
func ptySize() (w, h int) {
	w, h = 80, 24
	if tw, th, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
		w, h = tw, th
	}
	return w, h
}

// ptyTerm is $TERM, else xterm.
func ptyTerm() string {
	if t := os.Getenv("TERM"); t != "" {
		return t
	}
	return "xterm"
}

// sftp runs the sftp subsystem as a session of the master.
func (r *muxRunner) sftp(ctx context.Context) (remotefs.Pipe, error) {
	rs, ws, err := pipes(2)
	if err != nil {
		return remotefs.Pipe{}, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		closeFiles(rs...)
		closeFiles(ws...)
		return remotefs.Pipe{}, err
	}
	s, done, err := r.session(ctx, sshmux.SessionRequest{Command: "sftp", Subsystem: true}, rs[0], ws[1], null)
	closeFiles(rs[0], ws[1], null)
	if err != nil {
		closeFiles(ws[0], rs[1])
		return remotefs.Pipe{}, fmt.Errorf("cannot start the sftp subsystem: %w", err)
	}
	end := sync.OnceFunc(func() {
		ws[0].Close()
		s.Close()
		rs[1].Close()
		done()
	})
	return remotefs.Pipe{R: rs[1], W: ws[0], Close: end, StartJanitor: r.startFed}, nil
}

// startFed starts script on the master with its stdin to feed; end closes
// the stdin, lets the script finish (5 s at most) and ends the session.
func (r *muxRunner) startFed(ctx context.Context, script string) (io.WriteCloser, func(), error) {
	p, err := r.start(ctx, script, false, io.Discard, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	return p.stdin(), func() {
		p.stdin().Close()
		finished := make(chan struct{})
		go func() { p.wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			p.kill()
		}
	}, nil
}

// muxEnv is the environment a mux client sends for h: its SendEnv
// variables, as ssh -S sends them (SetEnv is the master's own).
func muxEnv(h *sshconfig.Host) []string {
	hc := *h
	hc.SetEnv = nil
	var out []string
	for _, e := range hc.Env(os.Environ()) {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}
