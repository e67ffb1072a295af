package loom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/loomssh/loom/internal/remotefs"
)

// fileHost is a Conn as the file engine sees it (remotefs.Host): its name,
// scope, commands and SFTP slot.
type fileHost struct{ c *Conn }

func (h fileHost) Name() string                                        { return h.c.h.name }
func (h fileHost) Context() context.Context                            { return h.c.Context() }
func (h fileHost) Timeout() time.Duration                              { return h.c.sc.timeout }
func (h fileHost) Dir() string                                         { return h.c.sc.dir }
func (h fileHost) Slot() *remotefs.Slot                                { return &h.c.h.files.Slot }
func (h fileHost) OpenSFTP(ctx context.Context) (remotefs.Pipe, error) { return h.c.h.r.sftp(ctx) }

// Run runs an engine command on a Conn of its own: the same connection,
// ctx, but none of the caller's cd, env, prefixes, output streams or
// responders, no MaxOutput cap (a sudo Get reads whole files through
// stdout), and its own error state, so that a failing step is reported
// once, as the operation's FileError. The As user applies to the sudo
// commands only: an operation without UseSudo is the login user's.
func (h fileHost) Run(ctx context.Context, cmd remotefs.Cmd) remotefs.Result {
	c := h.c
	sc := scope{ctx: ctx, stdin: cmd.Stdin, maxOutput: -1}
	if cmd.Sudo {
		sc.user = c.sc.user
	}
	own := &Conn{h: &host{name: c.h.name, d: c.h.d, r: c.h.r, vars: c.h.vars}, sc: sc}
	var r *Result
	switch {
	case cmd.Args != nil && cmd.Sudo:
		r = own.Sudo(cmd.Args...)
	case cmd.Args != nil:
		r = own.Run(cmd.Args...)
	case cmd.Sudo:
		r = own.SudoShell(cmd.Script)
	default:
		r = own.Shell(cmd.Script)
	}
	var ee *ExitError
	return remotefs.Result{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Err: r.Err, Exited: errors.As(r.Err, &ee)}
}

// sftpSlot holds a connection's SFTP client (host.files).
type sftpSlot struct{ remotefs.Slot }

func (s *sftpSlot) close() { s.Slot.Close() }

// sftp starts the sftp subsystem on a session of the connection (so it
// counts against the per-connection session cap), with the janitor on
// another session.
func (r *sshRunner) sftp(ctx context.Context) (remotefs.Pipe, error) {
	sess, release, err := r.c.NewSession(ctx)
	if err != nil {
		return remotefs.Pipe{}, err
	}
	w, err1 := sess.StdinPipe()
	o, err2 := sess.StdoutPipe()
	sess.Stderr = io.Discard
	err = errors.Join(err1, err2)
	if err == nil {
		err = sess.RequestSubsystem("sftp")
	}
	if err != nil {
		sess.Close()
		release()
		if r.c.Closed() {
			return remotefs.Pipe{}, fmt.Errorf("%w: %v", ErrConnLost, err)
		}
		return remotefs.Pipe{}, fmt.Errorf("cannot start the sftp subsystem: %w", err)
	}
	return remotefs.Pipe{
		R: o, W: w, Close: func() { sess.Close(); release() },
		BigPackets:   strings.Contains(string(r.c.ServerVersion()), "OpenSSH"),
		StartJanitor: r.startJanitor,
	}, nil
}

// startJanitor runs the file engine's janitor script on a session of its
// own.
func (r *sshRunner) startJanitor(ctx context.Context, script string) (io.WriteCloser, func(), error) {
	s, release, err := r.c.NewSession(ctx)
	if err != nil {
		return nil, nil, err
	}
	in, err := s.StdinPipe()
	if err == nil {
		err = s.Start(script)
	}
	if err != nil {
		s.Close()
		release()
		return nil, nil, err
	}
	return in, func() {
		in.Close()
		done := make(chan struct{})
		go func() { s.Wait(); close(done) }()
		select { // let the list be checked before the connection closes
		case <-done:
		case <-time.After(5 * time.Second):
		}
		s.Close()
		release()
	}, nil
}

// sftp is an in-process SFTP server on this machine's file system.
func (localRunner) sftp(context.Context) (remotefs.Pipe, error) { return remotefs.LocalPipe() }
