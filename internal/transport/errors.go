// Package transport opens SSH connections the way OpenSSH would: resolved
// ssh_config settings in, an authenticated *ssh.Client out, with deadlines on
// every step, keepalives, shared jump hosts and a cap on sessions.
package transport

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/loomssh/loom/internal/hostkey"
)

// Reason says why a connection could not be made. The fan-out summary and the
// CLI's exit status are built on it.
type Reason int

const (
	// Unreachable: the TCP connection failed (refused, no route, DNS).
	Unreachable Reason = iota + 1
	// Timeout: the TCP connect or the SSH handshake did not finish in time.
	Timeout
	// Auth: the server refused every authentication method offered, or a
	// key could not be used (a wrong passphrase). Err is then an
	// [*AuthError] that says which methods and keys.
	Auth
	// HostKey: the server's host key is unknown, changed or revoked, or
	// cannot be checked (a known_hosts or RevokedHostKeys file that
	// cannot be read).
	HostKey
	// Protocol: the SSH handshake failed for another reason (no common
	// algorithm, connection reset during key exchange, ...).
	Protocol
)

func (r Reason) String() string {
	switch r {
	case Unreachable:
		return "unreachable"
	case Timeout:
		return "timeout"
	case Auth:
		return "authentication"
	case HostKey:
		return "host key"
	case Protocol:
		return "protocol"
	}
	return "unknown"
}

// ConnectError reports a connection that could not be established.
type ConnectError struct {
	Host   string // the host as the user named it
	Addr   string // the address dialed, host:port
	Via    string // the jump host it was dialed through, if any
	Reason Reason
	Err    error
}

func (e *ConnectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", e.Host)
	switch e.Reason {
	case Unreachable:
		b.WriteString("cannot connect to " + e.Addr)
	case Timeout:
		b.WriteString("timed out connecting to " + e.Addr)
	case Auth:
		b.WriteString("authentication failed")
	case HostKey:
		// The host key error names host, fingerprint and file itself; add
		// the name the user gave when known_hosts knows it by another.
		var hk *hostkey.Error
		if errors.As(e.Err, &hk) && hk.Host == e.Host {
			return e.Err.Error()
		}
		return e.Host + ": " + e.Err.Error()
	default:
		b.WriteString("ssh handshake with " + e.Addr + " failed")
	}
	if e.Via != "" {
		b.WriteString(" (via " + e.Via + ")")
	}
	if e.Err != nil {
		b.WriteString(": " + cleanErr(e.Err))
	}
	return b.String()
}

func (e *ConnectError) Unwrap() error { return e.Err }

// AuthError says why authentication failed: a key that could not be used,
// the methods the server accepts, and the keys offered. Its message is one
// line, e.g. "user deploy: server accepts publickey,password; tried keys
// /home/me/.ssh/id_ed25519 (ssh-ed25519 SHA256:...); no password given,
// and BatchMode forbids asking".
type AuthError struct {
	// User is the remote user.
	User string
	// Allowed lists the methods the server accepts ("publickey",
	// "password", "keyboard-interactive"...), as it last said.
	Allowed []string
	// Tried lists the methods tried, in order, without "none".
	Tried []string
	// Refused lists the methods besides publickey that the server
	// refused (a wrong password), as opposed to those that could not be
	// tried here (see Cause).
	Refused []string
	// Keys describes the keys there were to offer, in order.
	Keys []string
	// Cause says why a key the server would have accepted, or a password,
	// could not be used: a wrong passphrase, no terminal to ask on.
	Cause error
	// Notes say why other methods could not be tried ("no password
	// given, and BatchMode forbids asking").
	Notes []string
	// Err is what ended authentication when the server did (a
	// disconnect after too many failures), if anything.
	Err error

	ours bool // a method failed on this side (no password to give)
}

func (e *AuthError) Error() string {
	var parts []string
	if e.Cause != nil {
		parts = append(parts, e.Cause.Error())
	}
	if e.Err != nil {
		parts = append(parts, cleanErr(e.Err))
	}
	head := "user " + printable(e.User)
	if len(e.Allowed) > 0 {
		head += ": server accepts " + strings.Join(e.Allowed, ",")
	}
	parts = append(parts, head)
	switch {
	case len(e.Keys) > 0 && slices.Contains(e.Tried, "publickey"):
		parts = append(parts, "tried keys "+strings.Join(e.Keys, ", "))
	case len(e.Keys) == 0 && (len(e.Allowed) == 0 || slices.Contains(e.Allowed, "publickey")):
		parts = append(parts, "no key to offer")
	}
	for _, m := range e.Refused {
		parts = append(parts, m+" refused")
	}
	parts = append(parts, e.Notes...)
	return strings.Join(parts, "; ")
}

func (e *AuthError) Unwrap() error {
	if e.Cause != nil {
		return e.Cause
	}
	return e.Err
}

// cleanErr drops x/crypto's repetitive "ssh: handshake failed: ssh: " prefixes.
func cleanErr(err error) string {
	s := err.Error()
	for _, p := range []string{"ssh: handshake failed: ", "ssh: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// ErrSessionRefused is wrapped when the server kept refusing a new session
// on a connection (sshd's MaxSessions) after retries.
var ErrSessionRefused = errors.New("the server refused a new session (MaxSessions)")

// ErrNoTerminal is returned when a secret is needed but there is nobody to ask.
var ErrNoTerminal = errors.New("no terminal to ask on")
