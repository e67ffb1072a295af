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

	"github.com/loomssh/loom/internal/remotefs"
	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/taskrt"
	"github.com/loomssh/loom/internal/transport"
)

// runner starts commands on one host: over SSH, or on this machine.
type runner interface {
	start(ctx context.Context, cmd string, pty bool, stdout, stderr io.Writer) (process, error)
	close() error
	// sftp starts an SFTP server for file operations (files_host.go).
	sftp(ctx context.Context) (remotefs.Pipe, error)
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
type sshRunner struct {
	c   *transport.Client
	env []sshconfig.EnvVar // sent with each command (ssh_config SendEnv, SetEnv)
}

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
	sendEnv(s, r.env)
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

// sendEnv sends env on s as ssh does: "env" requests without waiting for
// a reply (no round trip); the server keeps those its AcceptEnv allows. A
// failure to send is the connection's, and the command's start reports it.
func sendEnv(s *ssh.Session, env []sshconfig.EnvVar) {
	for _, e := range env {
		s.SendRequest("env", false, ssh.Marshal(&struct{ Name, Value string }{e.Name, e.Value}))
	}
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

// lost reports whether the connection went away, for a channel that ended
// without an exit status. The transport may take a moment to notice a
// connection that dropped, so unless it already has, the server is asked
// (a keepalive request): on a dead connection the request fails, on a live
// one it is answered — a round trip, not a guess against a timer.
func (p *sshProc) lost() bool {
	select {
	case <-p.r.c.Done():
		return true
	default:
	}
	answered := make(chan error, 1)
	go func() {
		_, _, err := p.r.c.Client.SendRequest("keepalive@openssh.com", true, nil)
		answered <- err
	}()
	select {
	case <-p.r.c.Done():
		return true
	case err := <-answered:
		return err != nil
	case <-time.After(15 * time.Second): // a server that stopped answering is as good as gone
		return true
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
//
// Under the loom command (a loomfile's tasks) its commands' output is shown
// live, as Fabric's local() shows it: passed through when no host is
// running, prefixed "local" among the hosts' lines otherwise. In a program
// of your own nothing is shown unless you ask with Stream; either way the
// output is in the Result. Local().Stdin(os.Stdin) lets a command read the
// terminal; the reading ends with the command, so later prompts get what
// is typed for them.
func Local() *Conn {
	c := (&Dialer{Echo: taskrt.Echo}).Local()
	if f := taskrt.LocalOutput; f != nil {
		c = c.Stream(f())
	}
	return c
}

// Local returns a Conn for this machine that shares the Dialer's secrets
// and prompter (for Sudo).
func (d *Dialer) Local() *Conn { return newConn("local", d, localRunner{}, nil) }

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
