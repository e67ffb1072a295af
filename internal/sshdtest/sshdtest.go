// Package sshdtest starts real OpenSSH sshd servers for tests.
//
// Start owns a listener on 127.0.0.1:0 in the test process and, for every
// accepted TCP connection, runs `sshd -i` (inetd mode) with the accepted socket
// as its stdin and stdout. Each Server is therefore a real sshd on a real TCP
// port: no fixed ports, no race for a free port, and other sshd instances can
// reach it too (a ProxyJump through a second Server works).
//
// When the test runs as root, sessions log in as a throwaway system user
// (TestUser, shell /bin/sh) so that logins stay fast; Start creates the user,
// its home directory, a per-machine random password and a sudoers drop-in
// the first time it needs them. Otherwise sshd runs as, and only lets in, the
// current user.
//
// Only Linux is supported; on other systems Start skips the test.
package sshdtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestUser is the account that sessions log in as when the tests run as root.
const TestUser = "loomtest"

// Options configure a Server's sshd_config. The zero value gives key-only
// authentication with TCP forwarding allowed and agent forwarding refused.
type Options struct {
	// Password turns on PasswordAuthentication and KbdInteractiveAuthentication.
	// It needs root, which can give TestUser a known password; otherwise Start
	// skips the test. (UsePAM is off, so sshd offers no keyboard-interactive
	// device and in practice only the "password" method accepts the password.)
	Password bool

	// AgentForwarding sets AllowAgentForwarding yes (the default is no).
	AgentForwarding bool

	// NoTCPForwarding sets AllowTcpForwarding no. The default allows TCP
	// forwarding, which a jump host needs for direct-tcpip channels.
	NoTCPForwarding bool

	// MaxSessions sets MaxSessions; zero or less keeps sshd's default (10).
	MaxSessions int

	// Extra holds additional sshd_config lines. sshd keeps the first value it
	// reads for most keywords, so these lines are written before the package's
	// own settings and override them; everything from the first "Match" line
	// on is written at the end of the file instead.
	Extra string
}

// Server is a running sshd reachable at Addr. Its fields are read-only.
type Server struct {
	// Addr is the listening address, "127.0.0.1:PORT".
	Addr string
	// Host is the listening IP address, "127.0.0.1".
	Host string
	// Port is the listening TCP port.
	Port int
	// User is the account to log in as.
	User string
	// Password is User's password. It is known, and set, only when the test
	// runs as root; sshd accepts it only with Options.Password, but it also
	// answers a sudo prompt (see CanSudo).
	Password string
	// ClientKey is the path of an unencrypted ed25519 private key in OpenSSH
	// format, mode 0600, authorized for User. Its public key is ClientKey+".pub".
	ClientKey string
	// ClientSigner is the private key at ClientKey.
	ClientSigner ssh.Signer
	// HostKey is the server's ed25519 host key, fresh for every Server.
	HostKey ssh.PublicKey
	// KnownHosts is the path of a known_hosts file holding HostKey under
	// "[127.0.0.1]:PORT".
	KnownHosts string
	// Dir is a temporary directory holding the server's configuration, keys
	// and log; it is readable (not writable) by User, so it also serves as a
	// working directory. Cleanup removes it.
	Dir string
	// Home is User's home directory, the initial working directory of a session.
	Home string

	t       testing.TB
	sshd    string // absolute path of the sshd binary
	config  string // path of sshd_config
	logPath string

	conns atomic.Int64

	mu       sync.Mutex
	ln       net.Listener
	closed   bool
	procs    map[int]*os.Process // sshd processes not yet reaped, by pid
	exited   chan struct{}       // signalled whenever a child is reaped
	children sync.WaitGroup
	accepts  sync.WaitGroup
}

// Connections reports how many TCP connections the server has accepted, which
// is also how many sshd processes it has started.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// KnownHostsLine returns a known_hosts line for HostKey under name: a bare
// host name or alias, or "host:port" (written "[host]:port" unless the port
// is 22). An empty name means Addr.
func (s *Server) KnownHostsLine(name string) string {
	if name == "" {
		name = s.Addr
	}
	return knownhosts.Line([]string{knownhosts.Normalize(name)}, s.HostKey)
}

// ClientConfig returns an x/crypto/ssh client configuration that logs in as
// User with ClientSigner and checks the host key against KnownHosts.
func (s *Server) ClientConfig() *ssh.ClientConfig {
	s.t.Helper()
	cb, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		s.t.Fatalf("sshdtest: %v", err)
	}
	return &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback: cb,
		Timeout:         10 * time.Second,
	}
}

// WriteSSHConfig appends to the OpenSSH client configuration file at path
// (creating it with mode 0600) a Host block named alias that reaches this
// server: HostName, Port, User, IdentityFile ClientKey with IdentitiesOnly,
// UserKnownHostsFile KnownHosts with StrictHostKeyChecking yes, and BatchMode
// yes so that a failed login never waits at a prompt. Use it with `ssh -F path`.
func (s *Server) WriteSSHConfig(path, alias string) {
	s.t.Helper()
	block := fmt.Sprintf("Host %s\n"+
		"  HostName %s\n"+
		"  Port %d\n"+
		"  User %s\n"+
		"  IdentityFile %s\n"+
		"  IdentitiesOnly yes\n"+
		"  UserKnownHostsFile %s\n"+
		"  StrictHostKeyChecking yes\n"+
		"  BatchMode yes\n",
		alias, s.Host, s.Port, s.User, quoteConfig(s.ClientKey), quoteConfig(s.KnownHosts))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = f.WriteString(block)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.t.Fatalf("sshdtest: writing ssh config: %v", err)
	}
}

// findSSHD returns the absolute path of the sshd binary.
func findSSHD() (string, error) {
	const std = "/usr/sbin/sshd"
	if fi, err := os.Stat(std); err == nil && !fi.IsDir() {
		return std, nil
	}
	p, err := exec.LookPath("sshd")
	if err != nil {
		return "", errors.New("OpenSSH sshd not found at /usr/sbin/sshd or in PATH (install openssh-server)")
	}
	return filepath.Abs(p) // sshd insists on an absolute path when it re-executes itself
}

// quoteConfig quotes a path for an OpenSSH configuration file.
func quoteConfig(p string) string {
	if !strings.ContainsAny(p, " \t\"'\\#") {
		return p
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
}

// splitExtra splits Options.Extra into the lines that go before the package's
// settings and the part, from the first Match line on, that goes at the end.
func splitExtra(extra string) (head, tail string) {
	lines := strings.SplitAfter(extra, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && strings.EqualFold(f[0], "Match") {
			return strings.Join(lines[:i], ""), strings.Join(lines[i:], "")
		}
	}
	return extra, ""
}

// sshdConfig returns the sshd_config text for a server whose files are named by s.
func (s *Server) sshdConfig(o Options, hostKey, authKeys string) string {
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	head, tail := splitExtra(o.Extra)
	var b strings.Builder
	b.WriteString("# Written by loom's internal/sshdtest.\n")
	if head != "" {
		b.WriteString(head)
		if !strings.HasSuffix(head, "\n") {
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "HostKey %s\n", quoteConfig(hostKey))
	// AuthorizedKeysFile expands %-tokens.
	fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", quoteConfig(strings.ReplaceAll(authKeys, "%", "%%")))
	b.WriteString("PidFile none\n")
	b.WriteString("UsePAM no\n")
	b.WriteString("UseDNS no\n")
	b.WriteString("StrictModes no\n")
	b.WriteString("PermitRootLogin no\n")
	b.WriteString("PubkeyAuthentication yes\n")
	fmt.Fprintf(&b, "PasswordAuthentication %s\n", yn(o.Password))
	fmt.Fprintf(&b, "KbdInteractiveAuthentication %s\n", yn(o.Password))
	b.WriteString("PermitEmptyPasswords no\n")
	fmt.Fprintf(&b, "AllowAgentForwarding %s\n", yn(o.AgentForwarding))
	fmt.Fprintf(&b, "AllowTcpForwarding %s\n", yn(!o.NoTCPForwarding))
	if o.MaxSessions > 0 {
		fmt.Fprintf(&b, "MaxSessions %d\n", o.MaxSessions)
	}
	b.WriteString("X11Forwarding no\n")
	b.WriteString("PermitUserRC no\n") // a developer's own ~/.ssh/rc stays out of it
	b.WriteString("PermitUserEnvironment no\n")
	b.WriteString("PrintMotd no\n")
	b.WriteString("PrintLastLog no\n")
	b.WriteString("LogLevel VERBOSE\n")
	b.WriteString("Subsystem sftp internal-sftp\n")
	if tail != "" {
		b.WriteString(tail)
		if !strings.HasSuffix(tail, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}
