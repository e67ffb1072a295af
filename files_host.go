package loom

import (
	"context"
	"errors"
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
	w, o, closeFn, err := r.c.Subsystem(ctx, "sftp") // a lost connection wraps ErrConnLost
	if err != nil {
		return remotefs.Pipe{}, err
	}
	return remotefs.Pipe{R: o, W: w, Close: closeFn, BigPackets: r.c.OpenSSH(), StartJanitor: r.c.StartFed}, nil
}

// sftp is an in-process SFTP server on this machine's file system.
func (localRunner) sftp(context.Context) (remotefs.Pipe, error) { return remotefs.LocalPipe() }
