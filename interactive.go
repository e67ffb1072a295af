package loom

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/loomssh/loom/internal/input"
)

// Interactive runs command on the host with this process's terminal, as
// ssh does (Fabric's open_shell): an empty command is the login shell.
// When stdin is a terminal the command gets a pseudo-terminal of the same
// size and TERM, the local terminal is put in raw mode (restored after),
// every key typed is sent, and window-size changes follow; otherwise
// stdin is forwarded as it is. Output goes straight to stdout (and
// stderr without a terminal). The Result has the exit status and no
// output; a non-zero status is an *ExitError, as for Run. The Conn's Cd,
// Env and Prefix apply; Sudo, Timeout and Stdin do not. On a host whose
// commands go through the connection holder or an OpenSSH master, the
// session connects directly for itself (one login, closed at its end).
func (c *Conn) Interactive(command string) *Result {
	return c.interactive(os.Stdin, os.Stdout, os.Stderr, command)
}

func (c *Conn) interactive(in *os.File, out, errOut io.Writer, command string) *Result {
	start := time.Now()
	res := &Result{Host: c.Host(), Cmd: command, ExitCode: -1}
	fail := func(err error) *Result {
		res.Err = c.Fail(err)
		res.Duration = time.Since(start)
		return res
	}
	if err := c.Err(); err != nil {
		res.Err = fmt.Errorf("%s: %w (an earlier operation failed: %v)", c.Host(), ErrSkipped, err)
		return res
	}
	if c.sc.err != nil {
		return fail(fmt.Errorf("%s: %w", c.Host(), c.sc.err))
	}
	// The Conn's scope (Cd, Env, Prefix) applies; the login shell under a
	// scope is started by the shell text that does the rest.
	remote := command
	if steps := c.sc.shell().Steps(); len(steps) > 0 {
		if remote == "" {
			remote = `exec "${SHELL:-/bin/sh}" -l`
		}
		remote = c.sc.compose(remote, false)
	}
	cl := c.Client()
	if cl == nil && c.h.direct != nil {
		// Commands go through the holder or an OpenSSH master, which
		// carry no terminal of the user's: this session gets a connection
		// of its own (one login), closed when it ends.
		c.h.d.logf("%s: an interactive session connects directly (held connections and OpenSSH masters carry commands, not the terminal)", c.Host())
		tc, err := c.h.direct(c.Context())
		if err != nil {
			return fail(err)
		}
		defer tc.Close()
		cl = tc.Client
	}
	if cl == nil {
		return fail(fmt.Errorf("%s: an interactive session needs an SSH connection", c.Host()))
	}
	sess, err := cl.NewSession()
	if err != nil {
		return fail(fmt.Errorf("%s: interactive session: %w", c.Host(), err))
	}
	defer sess.Close()
	fd := int(in.Fd())
	tty := term.IsTerminal(fd)
	if tty {
		w, h, err := term.GetSize(fd)
		if err != nil {
			w, h = 80, 24
		}
		t := os.Getenv("TERM")
		if t == "" {
			t = "xterm"
		}
		modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
		if err := sess.RequestPty(t, h, w, modes); err != nil {
			return fail(fmt.Errorf("%s: pseudo-terminal: %w", c.Host(), err))
		}
	}
	sess.Stdout, sess.Stderr = out, errOut
	stdin, err := sess.StdinPipe()
	if err != nil {
		return fail(fmt.Errorf("%s: interactive session: %w", c.Host(), err))
	}
	if remote == "" {
		err = sess.Shell()
	} else {
		err = sess.Start(remote)
	}
	if err != nil {
		return fail(fmt.Errorf("%s: interactive session: %w", c.Host(), err))
	}
	if tty {
		old, err := term.MakeRaw(fd)
		if err == nil {
			defer term.Restore(fd, old)
		}
		stopResize := watchResize(fd, func(w, h int) { sess.WindowChange(h, w) })
		defer stopResize()
	}
	// Keys are copied until the command ends; then the pending read is
	// ended, so that what is typed next is not lost to the finished session.
	rd, stop, waits := input.Stoppable(in)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(stdin, rd)
		if !tty {
			stdin.Close() // end of the piped input: EOF for the command
		}
	}()
	err = sess.Wait()
	stop()
	if waits {
		<-copied
	}
	res.Duration = time.Since(start)
	var ee *ssh.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &ee) && ee.Signal() != "":
		res.Signal = ee.Signal()
		res.Err = c.Fail(&ExitError{Host: c.Host(), Cmd: command, Code: -1, Signal: ee.Signal()})
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitStatus()
		res.Err = c.Fail(&ExitError{Host: c.Host(), Cmd: command, Code: ee.ExitStatus()})
	default:
		res.Err = c.Fail(fmt.Errorf("%s: interactive session: %w: %v", c.Host(), ErrConnLost, err))
	}
	return res
}
