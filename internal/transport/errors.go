// Package transport opens SSH connections the way OpenSSH would: resolved
// ssh_config settings in, an authenticated *ssh.Client out, with deadlines on
// every step, keepalives, shared jump hosts and a cap on sessions.
package transport

import (
	"errors"
	"fmt"
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
	// Auth: the server refused every authentication method offered.
	Auth
	// HostKey: the server's host key is unknown, changed or revoked.
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
