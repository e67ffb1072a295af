// Package remotefs is Loom's file engine: Put, Get, Sync, Template and the
// file helpers, over a Host that can run commands and open an SFTP
// session. It stages every write in a temporary file next to its target
// and commits it by rename, plans a Sync before it applies it, streams sudo
// writes as a tar archive to a script that stages and renames the same
// way, reads with sudo through tar, and keeps a janitor shell on the host
// that removes the temporary files of a Loom that died mid-upload.
//
// The root package loom holds the vocabulary (Conn, Transfer, FileError,
// FileOption); it gives this package a Host for a Conn and converts what
// comes back. This package knows nothing of Conn, scopes or sticky errors.
package remotefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Host is what the engine needs from a host.
type Host interface {
	// Name is the host's name, for messages, progress lines and Get's
	// {host}.
	Name() string
	// Context is the operation's context; Timeout, if not 0, bounds the
	// whole operation.
	Context() context.Context
	Timeout() time.Duration
	// Dir is the working directory of the operation's scope (Cd), the
	// base of relative remote paths ("" for none).
	Dir() string
	// Run runs a command on the host: Args (each quoted) or Script (shell
	// text), with Sudo as root or the scope's As user, reading Stdin. It
	// has none of the scope's cd, env, prefixes or output streams, keeps
	// all of its output, and its failure is only returned, not recorded
	// on the host.
	Run(ctx context.Context, cmd Cmd) Result
	// Slot is the host's SFTP client slot, shared by every operation on
	// the connection.
	Slot() *Slot
	// OpenSFTP starts an SFTP server for the slot to talk to (the sftp
	// subsystem over SSH, or an in-process server for this machine).
	OpenSFTP(ctx context.Context) (Pipe, error)
}

// Cmd is a command the engine runs on the host.
type Cmd struct {
	Args   []string // a program and its arguments; or:
	Script string   // shell text
	Sudo   bool
	Stdin  io.Reader // nil: empty
}

// Result is what a Cmd did.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
	// Err is nil on success; Exited tells that it is a non-zero exit
	// status (the command ran), not a failure to run it.
	Err    error
	Exited bool
}

// Pipe is the transport of an SFTP session.
type Pipe struct {
	R     io.Reader      // from the server
	W     io.WriteCloser // to the server
	Close func()         // ends the session
	// BigPackets: the server takes messages up to 256 KiB (OpenSSH).
	BigPackets bool
	// Local: the server is this machine, whose home is the user's own.
	Local bool
	// StartJanitor, if not nil, starts a shell running script on the same
	// connection, whose stdin the engine writes (see Janitor); end closes
	// its stdin, waits a little for it to finish and ends its session.
	StartJanitor func(ctx context.Context, script string) (in io.WriteCloser, end func(), err error)
}

// Error is a failed file operation on one file: the operation, the local
// and remote paths involved and the cause. The root package adds the host
// (loom.FileError).
type Error struct {
	Op     string
	Local  string
	Remote string
	Err    error
}

// Describe is an operation and its paths as errors name them: "put
// LOCAL -> REMOTE", "get REMOTE -> LOCAL", or the one path there is.
func Describe(op, local, remote string) string {
	switch {
	case local != "" && remote != "" && op == "get":
		return op + " " + remote + " -> " + local
	case local != "" && remote != "":
		return op + " " + local + " -> " + remote
	case remote != "":
		return op + " " + remote
	case local != "":
		return op + " " + local
	}
	return op
}

// Error returns the operation, the paths and the cause.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(Describe(e.Op, e.Local, e.Remote))
	if e.Err == nil {
		return b.String() + ": unknown error"
	}
	return b.String() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Transfer is what an operation did (loom.Transfer without the host and
// the error).
type Transfer struct {
	Files, Skipped   int
	Bytes            int64
	Changed, Removed []string
	Cut              []string
	DryRun           bool
	Duration         time.Duration
}

// stepError is a failed step of a file operation (a sudo script), named by
// its stderr rather than by the whole script text.
type stepError struct {
	msg string
	err error
}

func (e *stepError) Error() string { return e.msg }
func (e *stepError) Unwrap() error { return e.err }

// stepErr describes a failed command of a file operation.
func stepErr(what string, r Result) error {
	for _, e := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(r.Err, e) {
			return e
		}
	}
	if r.Exited {
		msg := strings.TrimSpace(lastLines(r.Stderr, 3))
		if msg == "" {
			msg = fmt.Sprintf("exit status %d", r.ExitCode)
		}
		return &stepError{msg: what + ": " + strings.ReplaceAll(msg, "\n", " | "), err: r.Err}
	}
	return r.Err
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
