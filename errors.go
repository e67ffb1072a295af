package loom

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loomssh/loom/internal/hostkey"
	"github.com/loomssh/loom/internal/transport"
)

// ConnectError reports a host that could not be connected to or logged into.
// Its Reason tells unreachable, timeout, authentication and host key apart.
type ConnectError = transport.ConnectError

// Reason says why a connection failed.
type Reason = transport.Reason

// Reasons a connection can fail for.
const (
	ReasonUnreachable = transport.Unreachable
	ReasonTimeout     = transport.Timeout
	ReasonAuth        = transport.Auth
	ReasonHostKey     = transport.HostKey
	ReasonProtocol    = transport.Protocol
)

// AuthError is a ConnectError's Err when authentication failed (Reason
// ReasonAuth): it says which keys were offered, which methods the server
// accepts, and why a key or password could not be used (a wrong
// passphrase, no terminal to ask on).
type AuthError = transport.AuthError

// HostKeyError reports a host key that is unknown, changed or revoked. It
// names the host, the fingerprint offered and the known_hosts file and line.
type HostKeyError = hostkey.Error

// ExitError reports a command that exited with a non-zero status or was
// killed by a signal.
type ExitError struct {
	Host   string
	Cmd    string
	Code   int    // exit status; -1 when killed by a signal
	Signal string // signal name without "SIG", when killed by one
	Stderr string // the last lines of stderr
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s ", e.Host, short(e.Cmd))
	if e.Signal != "" {
		fmt.Fprintf(&b, "killed by signal %s", e.Signal)
	} else {
		fmt.Fprintf(&b, "exited with status %d", e.Code)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		b.WriteString(": " + strings.ReplaceAll(s, "\n", " | "))
	}
	return b.String()
}

// TimeoutError reports a command stopped because it ran longer than its timeout.
type TimeoutError struct {
	Host  string
	Cmd   string
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: %s timed out after %v", e.Host, short(e.Cmd), e.After)
}

// Timeout reports true, so callers can test for net.Error-style timeouts.
func (e *TimeoutError) Timeout() bool { return true }

// SudoError reports a sudo that could not authenticate.
type SudoError struct {
	Host string
	Msg  string
}

func (e *SudoError) Error() string { return e.Host + ": sudo: " + e.Msg }

// Errors returned by operations.
var (
	// ErrSkipped wraps the earlier error of a Conn whose operations stopped
	// after a failure.
	ErrSkipped = errors.New("skipped after an earlier failure")
	// ErrConnLost is wrapped when the connection dropped while a command ran.
	ErrConnLost = errors.New("connection lost")
	// ErrNoExitStatus is wrapped when the server closed a command's channel
	// without reporting how it exited.
	ErrNoExitStatus = errors.New("no exit status from server")
	// ErrNoTerminal is wrapped when a password or passphrase is needed and
	// there is no Prompter (or no terminal) to ask.
	ErrNoTerminal = transport.ErrNoTerminal
	// ErrSessionRefused is wrapped when a host kept refusing a new session
	// on its connection (sshd's MaxSessions), even after retries.
	ErrSessionRefused = transport.ErrSessionRefused
)

// short shortens a command for error messages.
func short(cmd string) string {
	const max = 80
	cmd = strings.ReplaceAll(cmd, "\n", " ")
	if len(cmd) > max {
		cmd = cmd[:max-3] + "..."
	}
	return fmt.Sprintf("%q", cmd)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
