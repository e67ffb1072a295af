package loom

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loomssh/loom/internal/hostkey"
	"github.com/loomssh/loom/internal/transport"
)

// ConnectError reports a host that could not be connected to, logged into
// or trusted. Reason tells unreachable, timeout, authentication, host key
// and protocol failures apart; Err is the cause: a *HostKeyError for
// ReasonHostKey, an *AuthError for most ReasonAuth failures, a context or
// network error otherwise.
type ConnectError struct {
	Host   string // the host as the user named it ("web1", "10.0.0.5:2222")
	Addr   string // the address dialled, host:port
	Via    string // the jump host it was dialled through, if any
	Reason ConnectReason
	Err    error
}

// Error returns one line: the host, what failed and why.
func (e *ConnectError) Error() string {
	return (&transport.ConnectError{Host: e.Host, Addr: e.Addr, Via: e.Via, Reason: transport.Reason(e.Reason), Err: internalErr(e.Err)}).Error()
}

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

// ConnectReason says why a connection failed.
type ConnectReason int

// Reasons a connection can fail for.
const (
	ReasonUnreachable = ConnectReason(transport.Unreachable) // the TCP connection failed (refused, no route, DNS)
	ReasonTimeout     = ConnectReason(transport.Timeout)     // the connect or the SSH handshake did not finish in time
	ReasonAuth        = ConnectReason(transport.Auth)        // every authentication method failed
	ReasonHostKey     = ConnectReason(transport.HostKey)     // the host key is unknown, changed or revoked
	ReasonProtocol    = ConnectReason(transport.Protocol)    // the handshake failed otherwise (no common algorithm, a ProxyJump loop, ...)
)

// String returns "unreachable", "timeout", "authentication", "host key" or
// "protocol".
func (r ConnectReason) String() string { return transport.Reason(r).String() }

// AuthError is a ConnectError's Err when authentication failed (Reason
// ReasonAuth): it says which keys were offered, which methods the server
// accepts, and why a key or password could not be used (a wrong
// passphrase, no terminal to ask on), in one line: "user deploy: server
// accepts publickey,password; tried keys ~/.ssh/id_ed25519 (ssh-ed25519
// SHA256:...); no password given, and BatchMode forbids asking".
type AuthError struct {
	User    string   // the remote user
	Allowed []string // the methods the server accepts, as it last said
	Tried   []string // the methods tried, in order, without "none"
	Refused []string // the methods besides publickey the server refused (a wrong password)
	Keys    []string // the keys there were to offer, described, in order
	// Cause says why a key the server would have accepted, or a password,
	// could not be used: a wrong passphrase, no terminal to ask on.
	Cause error
	// Notes say why other methods could not be tried ("no password given,
	// and BatchMode forbids asking").
	Notes []string
	// Err is what ended authentication when the server did (a disconnect
	// after too many failures), if anything.
	Err error
}

// Error returns the one-line description.
func (e *AuthError) Error() string { return e.internal().Error() }

// Unwrap returns Cause, or Err.
func (e *AuthError) Unwrap() error { return e.internal().Unwrap() }

func (e *AuthError) internal() *transport.AuthError {
	return &transport.AuthError{User: e.User, Allowed: e.Allowed, Tried: e.Tried, Refused: e.Refused, Keys: e.Keys, Cause: e.Cause, Notes: e.Notes, Err: e.Err}
}

// HostKeyError reports a host key that was refused: unknown, changed or
// revoked. Its message is one line naming the host, the fingerprint offered
// and the known_hosts files or lines involved, as ssh does.
type HostKeyError struct {
	Kind HostKeyKind
	// Host is the name looked up in known_hosts: "name", or "[name]:port"
	// for a port other than 22.
	Host string
	// Addr is the remote address of the connection, if known.
	Addr string
	// KeyType is the type of the offered key as ssh prints it ("ED25519",
	// "ED25519-CERT").
	KeyType string
	// Fingerprint is the offered key's SHA-256 fingerprint ("SHA256:..."); for
	// a certificate, that of the certified key.
	Fingerprint string
	// Files lists the known_hosts files that were checked.
	Files []string
	// Known holds, for HostKeyChanged, the lines with the keys known for
	// the host; for HostKeyRevoked, the @revoked line or RevokedHostKeys
	// file with the revoked key (the offered one, or the CA that signed it).
	Known []KnownKey
	// RevokedBy says, for a key revoked by a KRL, which entry matched
	// ("KRL: SHA256 fingerprint", "KRL: certificate serial 7").
	RevokedBy string
	// Cert is set when the server offered a host certificate that was not
	// accepted; it says why. The certified key was then checked on its own,
	// as ssh does, and that check gave Kind.
	Cert error
}

// HostKeyKind says why a host key was refused.
type HostKeyKind int

// Why a host key was refused.
const (
	HostKeyUnknown = HostKeyKind(hostkey.Unknown) // known_hosts holds no key for the host
	HostKeyChanged = HostKeyKind(hostkey.Changed) // known_hosts holds other keys for the host
	HostKeyRevoked = HostKeyKind(hostkey.Revoked) // the key (or its CA) is revoked
)

// String returns "unknown", "changed" or "revoked".
func (k HostKeyKind) String() string { return hostkey.Kind(k).String() }

// KnownKey is a key on one line of a known_hosts (or revoked keys) file.
type KnownKey struct {
	File        string // the file
	Line        int    // its 1-based line; 0 for a KRL, which has no lines
	KeyType     string // as ssh prints it: "ED25519", "RSA"
	Fingerprint string // "SHA256:..."
}

// Error returns the one-line description.
func (e *HostKeyError) Error() string { return e.internal().Error() }

func (e *HostKeyError) internal() *hostkey.Error {
	known := make([]hostkey.Location, len(e.Known))
	for i, k := range e.Known {
		known[i] = hostkey.Location(k)
	}
	return &hostkey.Error{Kind: hostkey.Kind(e.Kind), Host: e.Host, Addr: e.Addr, KeyType: e.KeyType, Fingerprint: e.Fingerprint,
		Files: e.Files, Known: known, RevokedBy: e.RevokedBy, Cert: e.Cert}
}

// publicErr turns the transport's errors into the public ones above, so
// that every field and kind a caller may test is reachable from package
// loom. Other errors are returned as they are.
func publicErr(err error) error {
	switch e := err.(type) {
	case *transport.ConnectError:
		return &ConnectError{Host: e.Host, Addr: e.Addr, Via: e.Via, Reason: ConnectReason(e.Reason), Err: publicErr(e.Err)}
	case *hostkey.Error:
		known := make([]KnownKey, len(e.Known))
		for i, k := range e.Known {
			known[i] = KnownKey(k)
		}
		return &HostKeyError{Kind: HostKeyKind(e.Kind), Host: e.Host, Addr: e.Addr, KeyType: e.KeyType, Fingerprint: e.Fingerprint,
			Files: e.Files, Known: known, RevokedBy: e.RevokedBy, Cert: e.Cert}
	case *transport.AuthError:
		return &AuthError{User: e.User, Allowed: e.Allowed, Tried: e.Tried, Refused: e.Refused, Keys: e.Keys, Cause: e.Cause, Notes: e.Notes, Err: e.Err}
	case *transport.NotAskedError:
		n := *e
		n.Err = publicErr(e.Err)
		return &n
	}
	return err
}

// internalErr is publicErr's inverse, for formatting with the transport's
// messages.
func internalErr(err error) error {
	switch e := err.(type) {
	case *HostKeyError:
		return e.internal()
	case *AuthError:
		return e.internal()
	}
	return err
}

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
	ErrConnLost = transport.ErrLost
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
