package loom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/loomssh/loom/internal/transport"
)

// runner starts commands on one host: over SSH, or on this machine.
type runner interface {
	start(ctx context.Context, cmd string, pty bool, stdout, stderr io.Writer) (process, error)
	close() error
}

// process is one running command.
type process interface {
	stdin() io.WriteCloser
	// wait returns when the command has exited and its output is drained.
	wait() (code int, signal string, err error)
	signal(sig ssh.Signal, pty bool)
	kill()
}

// sshRunner runs commands as sessions on one SSH connection.
type sshRunner struct{ c *transport.Client }

func (r *sshRunner) close() error { return r.c.Close() }

func (r *sshRunner) start(ctx context.Context, cmd string, pty bool, stdout, stderr io.Writer) (process, error) {
	s, release, err := r.c.NewSession(ctx)
	if err != nil {
		return nil, err
	}
	if pty {
		w, h := 80, 24
		if tw, th, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
			w, h = tw, th
		}
		t := os.Getenv("TERM")
		if t == "" {
			t = "xterm"
		}
		modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
		if err := s.RequestPty(t, h, w, modes); err != nil {
			s.Close()
			release()
			return nil, fmt.Errorf("pty request refused: %w", err)
		}
	}
	s.Stdout, s.Stderr = stdout, stderr
	in, err := s.StdinPipe()
	if err == nil {
		err = s.Start(cmd)
	}
	if err != nil {
		s.Close()
		release()
		if r.c.Closed() {
			return nil, fmt.Errorf("%w: %v", ErrConnLost, err)
		}
		return nil, err
	}
	return &sshProc{r: r, s: s, in: in, release: release}, nil
}

type sshProc struct {
	r       *sshRunner
	s       *ssh.Session
	in      io.WriteCloser
	release func()
}

func (p *sshProc) stdin() io.WriteCloser { return p.in }

func (p *sshProc) wait() (int, string, error) {
	err := p.s.Wait()
	p.s.Close()
	p.release()
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, "", nil
	case errors.As(err, &ee):
		if sig := ee.Signal(); sig != "" {
			return -1, strings.TrimPrefix(sig, "SIG"), nil
		}
		return ee.ExitStatus(), "", nil
	case errors.As(err, &missing) && !p.lost():
		return -1, "", ErrNoExitStatus
	case !p.lost():
		// The channel ended in a way x/crypto could not read as an exit
		// (a malformed exit-status, say), but the connection is alive.
		return -1, "", fmt.Errorf("%w: %v", ErrNoExitStatus, err)
	}
	if dead := p.r.c.DeadErr(); dead != nil {
		return -1, "", fmt.Errorf("%w: %v", ErrConnLost, dead)
	}
	return -1, "", ErrConnLost
}

// lost reports whether the connection went away (it may take a moment after
// the channel closes for the transport to notice).
func (p *sshProc) lost() bool {
	select {
	case <-p.r.c.Done():
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func (p *sshProc) signal(sig ssh.Signal, pty bool) {
	if pty && sig == ssh.SIGINT {
		p.in.Write([]byte{3}) // ^C through the terminal, for servers that ignore signal requests
	}
	p.s.Signal(sig)
}

func (p *sshProc) kill() { p.s.Close() }

// Local returns a Conn for this machine, with the same operations and scopes
// as a remote one (its own, not shared with any remote Conn). Commands run
// with /bin/sh -c; on Windows with sh.exe -c, from PATH or Git for Windows
// (see docs/platforms.md). It uses a Dialer of default settings: no prompts.
func Local() *Conn { return (&Dialer{}).Local() }

// Local returns a Conn for this machine that shares the Dialer's secrets
// and prompter (for Sudo).
func (d *Dialer) Local() *Conn { return newConn("local", d, localRunner{}) }

type localRunner struct{}

func (localRunner) close() error { return nil }

func (localRunner) start(ctx context.Context, cmd string, pty bool, stdout, stderr io.Writer) (process, error) {
	if pty {
		return nil, errors.New("a pty is not supported for local commands")
	}
	c, err := localShell(cmd)
	if err != nil {
		return nil, err
	}
	c.Stdout, c.Stderr = stdout, stderr
	c.WaitDelay = 5 * time.Second
	in, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	g, err := startGroup(c)
	if err != nil {
		return nil, err
	}
	return &localProc{g: g, in: in}, nil
}

type localProc struct {
	g  procGroup
	in io.WriteCloser
}

func (p *localProc) stdin() io.WriteCloser { return p.in }

func (p *localProc) wait() (int, string, error) { return p.g.Wait() }

func (p *localProc) signal(sig ssh.Signal, _ bool) { signalGroup(p.g, sig) }

func (p *localProc) kill() { killGroup(p.g) }
