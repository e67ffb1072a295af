package loomtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// serverVersion is the identification string the server announces.
const serverVersion = "SSH-2.0-loomtest"

// handshakeTimeout bounds how long a client may take to finish key exchange
// and authentication, so a stuck client cannot hold a connection forever.
const handshakeTimeout = time.Minute

// Options configures a [Server]. The zero value is usable but lets nobody log
// in; set AuthorizedKeys or Password.
type Options struct {
	// Addr is the TCP address to listen on. The default is "127.0.0.1:0":
	// a free port on the loopback interface.
	Addr string

	// Listener, if set, is used instead of listening on Addr. The server
	// closes it on Close.
	Listener net.Listener

	// HostKey is the server's host key. The default is a fresh ed25519 key.
	HostKey ssh.Signer

	// AuthorizedKeys are the public keys accepted for public-key
	// authentication, for any user name unless User is set.
	AuthorizedKeys []ssh.PublicKey

	// User, if set, is the only user name that may log in.
	User string

	// Password, if set, is accepted by password authentication and by
	// keyboard-interactive authentication, which asks a single
	// "Password: " question without echo.
	Password string

	// Dir is the working directory of commands. The default is a fresh
	// temporary directory per server, removed by Close. A Dir given here
	// is left in place.
	Dir string

	// Env holds extra "KEY=value" entries for every command's environment,
	// on top of the process's own environment. Variables sent by the client
	// with env requests override them.
	Env []string

	// Shell runs commands as Shell -c COMMAND. The default is /bin/sh.
	Shell string

	// Fault makes the server misbehave in the given way; see [Fault].
	Fault Fault

	// AllowTCPForwarding accepts direct-tcpip channels, so the server can
	// be a jump host (ProxyJump) or the far end of ssh -L.
	AllowTCPForwarding bool

	// NoSFTP refuses the sftp subsystem, as sshd does with no Subsystem
	// line: file operations then fail.
	NoSFTP bool

	// ProbeAgent makes the server try to reach the client's agent as a
	// hostile server would: when the client opens its first channel on a
	// connection, the server opens an auth-agent@openssh.com channel to it,
	// whether or not forwarding was asked for, and counts whether the
	// client accepted (see [Server.AgentProbes]). A client that forwards
	// its agent only where it means to refuses it everywhere else.
	ProbeAgent bool

	// MaxSessions caps the session channels open at once on one
	// connection, as sshd's MaxSessions does: opening one more is refused
	// with "administratively prohibited". Zero (or less) means 10,
	// sshd's default. A slot is free again once the server has closed the
	// channel or seen the client close it; an open that finds no free slot
	// waits up to 100ms for one, so that a client closing one session and
	// at once opening the next is not refused by a race.
	MaxSessions int

	// Logf, if set, receives one line per notable event (connections,
	// authentication results, commands, faults). [NewServer] defaults it to
	// t.Logf.
	Logf func(format string, args ...any)
}

// Fault is a misbehaviour a [Server] can be asked to show, to test how a
// client copes with it.
type Fault int

// The faults a [Server] can show. Each applies to every connection.
const (
	// NoFault means the server behaves.
	NoFault Fault = iota

	// HangBeforeBanner accepts the TCP connection but never sends the SSH
	// version banner. Client data is read and discarded.
	HangBeforeBanner

	// HangInHandshake sends the version banner, then never takes part in
	// key exchange.
	HangInHandshake

	// DropMidCommand starts the command, forwards the first chunk of its
	// output, then closes the TCP connection without any SSH message (no
	// exit-status, no channel close, no disconnect). A command that exits
	// without output has the connection closed when it exits. The command
	// is then killed, as when any client goes away.
	DropMidCommand

	// NoExitStatus runs the command and forwards its output, then sends
	// EOF and closes the channel without exit-status or exit-signal.
	NoExitStatus

	// HangCommand accepts exec (and shell) requests but runs nothing: no
	// output, no exit, until the client closes the channel or goes away.
	// Client stdin is read and discarded; signals are ignored; keepalives
	// are still answered.
	HangCommand

	// RejectAuth makes every authentication attempt fail. Public-key,
	// password and keyboard-interactive are all offered, and all refused.
	RejectAuth

	// NoKeepaliveReply leaves every global request (keepalive@openssh.com
	// included) and every keepalive@openssh.com channel request
	// unanswered, so that a client's keepalive timer expires. Commands
	// still run normally.
	NoKeepaliveReply

	// SlowOutput forwards the command's output one byte a second (stdout
	// and stderr each), however fast the command writes it; the exit
	// status follows the last byte. A client that closes the channel
	// stops the trickle within a second.
	SlowOutput

	// MalformedExitStatus runs the command and forwards its output, then
	// sends an exit-status request whose payload is two bytes instead of
	// a uint32, then EOF and close. (A truncated exit-status once crashed
	// x/crypto clients.)
	MalformedExitStatus

	// ExitStatusOutOfRange runs the command and forwards its output, then
	// reports exit status 4294967295 (-1 as a uint32; anything above 255
	// is impossible for a real process), then EOF and close.
	ExitStatusOutOfRange

	// HugeWindowAdjust answers with a minimal SSH server of the package's
	// own that grants every session channel an initial window of 0, then,
	// on exec, sends SSH_MSG_CHANNEL_WINDOW_ADJUST of 2^32-1 bytes eight
	// times (the second overflows the 32-bit window RFC 4254 allows), then
	// a line of output ("window survived"), exit status 0 and a close, as
	// if nothing had happened. x/crypto's server cannot be made to send
	// such adjustments. The minimal server runs no command and lets anyone
	// log in: it only plays this script.
	HugeWindowAdjust

	// HugeAuthBanner answers with the package's minimal SSH server (see
	// HugeWindowAdjust), which sends an SSH_MSG_USERAUTH_BANNER of 1 MiB in
	// reply to the first authentication request: four times the 256 KiB
	// packet limit of OpenSSH and x/crypto, so a client must refuse it
	// rather than read it (x/crypto's server cannot send a packet that
	// large). A client that survives it is let in, and its sessions print
	// "banner survived" and exit 0; no command runs.
	HugeAuthBanner

	// HugePreVersionText sends 1 MiB of text (one line, without the "SSH-"
	// prefix) before its version line, then behaves. RFC 4253 lets a server
	// send lines before its version; clients cap how much they read.
	HugePreVersionText

	// ShortFileSizes makes the sftp subsystem report every regular file's
	// size as half its real size (rounded down) in stat, lstat, fstat and
	// directory listings, while reads still return the whole content: a
	// file that grew after it was listed, or a server that lies to make a
	// client write more than it said it would. Commands behave.
	ShortFileSizes
)

var faultNames = [...]string{
	NoFault:          "NoFault",
	HangBeforeBanner: "HangBeforeBanner",
	HangInHandshake:  "HangInHandshake",
	DropMidCommand:   "DropMidCommand",
	NoExitStatus:     "NoExitStatus",
	HangCommand:      "HangCommand",
	RejectAuth:       "RejectAuth",
	NoKeepaliveReply: "NoKeepaliveReply",

	SlowOutput:           "SlowOutput",
	MalformedExitStatus:  "MalformedExitStatus",
	ExitStatusOutOfRange: "ExitStatusOutOfRange",
	HugeWindowAdjust:     "HugeWindowAdjust",
	HugeAuthBanner:       "HugeAuthBanner",
	HugePreVersionText:   "HugePreVersionText",
	ShortFileSizes:       "ShortFileSizes",
}

// String returns the name of the fault, such as "HangCommand".
func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// Server is a running in-process SSH server. Create one with [Start] or
// [NewServer]; stop it with [Server.Close]. Its methods are safe for
// concurrent use.
type Server struct {
	opts     Options
	ln       net.Listener
	config   *ssh.ServerConfig
	hostKey  ssh.Signer
	dir      string
	ownDir   bool // dir was created by Start and is removed by Close
	shell    string
	maxSess  int
	logf     func(string, ...any)
	accepted atomic.Int64
	agentReq atomic.Int64
	// probes and probesAccepted count ProbeAgent's attempts.
	probes, probesAccepted atomic.Int64

	wg   sync.WaitGroup // every goroutine the server starts
	done chan struct{}  // closed by Close

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
	sessions map[*session]struct{} // sessions with a running command

	closeOnce sync.Once
	closeErr  error
}

// Start starts a server as configured by o and returns once it is listening.
func Start(o Options) (*Server, error) {
	if o.Fault < NoFault || int(o.Fault) >= len(faultNames) {
		return nil, fmt.Errorf("loomtest: unknown fault %d", int(o.Fault))
	}
	s := &Server{
		opts:     o,
		hostKey:  o.HostKey,
		dir:      o.Dir,
		shell:    o.Shell,
		maxSess:  o.MaxSessions,
		logf:     o.Logf,
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
		sessions: make(map[*session]struct{}),
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if s.shell == "" {
		s.shell = "/bin/sh"
	}
	if s.maxSess <= 0 {
		s.maxSess = 10
	}
	if s.hostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("loomtest: generating host key: %w", err)
		}
		if s.hostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("loomtest: host key: %w", err)
		}
	}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "loomtest-")
		if err != nil {
			return nil, fmt.Errorf("loomtest: %w", err)
		}
		s.dir, s.ownDir = d, true
	}
	s.config = s.serverConfig()

	s.ln = o.Listener
	if s.ln == nil {
		addr := o.Addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if s.ownDir {
				os.RemoveAll(s.dir)
			}
			return nil, fmt.Errorf("loomtest: %w", err)
		}
		s.ln = ln
	}
	s.logf("loomtest: listening on %s (fault %v)", s.ln.Addr(), o.Fault)
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// NewServer starts a server as [Start] does, calls t.Fatal if that fails, and
// registers [Server.Close] with t.Cleanup. Unless o.Logf is set, the server
// logs to t.Logf.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("loomtest: Close: %v", err)
		}
	})
	return s
}

// Addr returns the address the server listens on, such as "127.0.0.1:41234".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host returns the host part of [Server.Addr], such as "127.0.0.1".
func (s *Server) Host() string {
	host, _, err := net.SplitHostPort(s.Addr())
	if err != nil {
		return s.Addr()
	}
	return host
}

// Port returns the TCP port the server listens on, or 0 if the listener is
// not a TCP listener.
func (s *Server) Port() int {
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	_, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(port)
	return p
}

// HostKey returns the public half of the server's host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// KnownHostsLine returns a known_hosts line that lets clients trust this
// server's host key under the given name, such as "localhost" or "127.0.0.1".
// The server's port is added ("[name]:PORT") unless name already carries a
// port or the port is 22. An empty name means [Server.Host].
func (s *Server) KnownHostsLine(name string) string {
	if name == "" {
		name = s.Host()
	}
	addr := name
	if _, _, err := net.SplitHostPort(name); err != nil {
		addr = net.JoinHostPort(name, strconv.Itoa(s.Port()))
	}
	return knownhosts.Line([]string{addr}, s.HostKey())
}

// Dir returns the directory commands run in.
func (s *Server) Dir() string { return s.dir }

// Connections returns the number of TCP connections accepted so far,
// whatever became of them. Tests use it to check that a client reuses
// connections.
func (s *Server) Connections() int { return int(s.accepted.Load()) }

// OpenConnections returns the number of TCP connections open now. Tests
// use it to check that a client closed the connections it kept.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// DropConnections closes every open TCP connection at once, without an SSH
// disconnect, as a host that reboots or a NAT that forgets does; the server
// keeps accepting new ones. It returns how many it closed. Tests use it to
// check that a client notices a dead connection it kept and dials again.
func (s *Server) DropConnections() int {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}

// AgentForwardRequests returns the number of auth-agent-req@openssh.com
// requests received so far, granted or not.
func (s *Server) AgentForwardRequests() int { return int(s.agentReq.Load()) }

// AgentProbes returns how many probes of ProbeAgent have had their answer, and on how
// many of them the client accepted the agent channel: a client forwarding
// its agent to this server accepts it, any other should refuse it.
func (s *Server) AgentProbes() (probed, accepted int) {
	return int(s.probes.Load()), int(s.probesAccepted.Load())
}

// Close stops the server: it closes the listener and every connection, kills
// every running command's process group, waits for all the server's
// goroutines to finish and, if Start created the working directory, removes
// it. Close is idempotent: later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done)
		conns := make([]net.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		sessions := make([]*session, 0, len(s.sessions))
		for ss := range s.sessions {
			sessions = append(sessions, ss)
		}
		s.mu.Unlock()

		var errs []error
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		for _, c := range conns {
			c.Close()
		}
		for _, ss := range sessions {
			ss.abort()
		}
		s.wg.Wait()
		if s.ownDir {
			if err := os.RemoveAll(s.dir); err != nil {
				errs = append(errs, err)
			}
		}
		s.closeErr = errors.Join(errs...)
		s.logf("loomtest: %s closed", s.ln.Addr())
	})
	return s.closeErr
}

// acceptLoop accepts connections until the listener is closed.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Probably temporary (out of file descriptors, say): retry
			// with backoff, as net/http does.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff *= 2; backoff > time.Second {
				backoff = time.Second
			}
			s.logf("loomtest: accept: %v; retrying in %v", err, backoff)
			t := time.NewTimer(backoff)
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		s.accepted.Add(1)
		if !s.trackConn(c, true) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.trackConn(c, false)
			defer c.Close()
			s.serveConn(c)
		}()
	}
}

// trackConn adds or removes c from the set Close closes. Adding fails once
// the server is closed.
func (s *Server) trackConn(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// trackSession adds or removes a session with a running command from the set
// Close aborts. Adding fails once the server is closed.
func (s *Server) trackSession(ss *session, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.sessions, ss)
		return true
	}
	if s.closed {
		return false
	}
	s.sessions[ss] = struct{}{}
	return true
}
