package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// account is the user that sessions log in as.
type account struct {
	name, home, password string
}

// Start starts an sshd configured by o and registers a cleanup that closes
// its listener, stops every sshd process it started, prints the sshd log if
// the test failed, and removes Dir. Start skips the test when sshd is not
// installed (unless $LOOM_REQUIRE_SSHD is set, as in CI: then it fails), or when o.Password is set and the test does not run as root; it
// fails the test on any other setup error.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	sshd, err := findSSHD()
	if err != nil {
		if os.Getenv("LOOM_REQUIRE_SSHD") != "" {
			t.Fatalf("sshdtest: %v (LOOM_REQUIRE_SSHD is set: integration tests must not skip)", err)
		}
		t.Skipf("sshdtest: %v", err)
	}
	root := os.Geteuid() == 0
	var acct *account
	if root {
		acct, err = rootAccount()
		if err != nil {
			t.Fatalf("sshdtest: setting up user %s: %v", TestUser, err)
		}
	} else {
		if o.Password {
			t.Skip("sshdtest: password auth needs root to set a user password")
		}
		u, err := user.Current()
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		acct = &account{name: u.Username, home: u.HomeDir}
	}

	dir, err := os.MkdirTemp(tempBase(root), "loomsshd-")
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	s := &Server{
		User:     acct.name,
		Password: acct.password,
		Home:     acct.home,
		Dir:      dir,
		t:        t,
		sshd:     sshd,
		procs:    make(map[int]*os.Process),
		exited:   make(chan struct{}, 1),
	}
	t.Cleanup(s.cleanup)
	if err := s.setup(o); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	s.accepts.Add(1)
	go s.serve()
	return s
}

// tempBase returns the directory to create Dir in. As root, Dir must be
// reachable by TestUser, who reads authorized_keys through it.
func tempBase(root bool) string {
	base := os.TempDir()
	if !root {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

// setup writes keys and configuration into s.Dir, checks the configuration
// and opens the listener.
func (s *Server) setup(o Options) error {
	// Dir must be searchable by the login user, who reads authorized_keys.
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return err
	}
	s.logPath = filepath.Join(s.Dir, "sshd.log")
	if err := os.WriteFile(s.logPath, nil, 0o600); err != nil {
		return err
	}

	hostPub, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if s.HostKey, err = ssh.NewPublicKey(hostPub); err != nil {
		return err
	}
	hostKeyPath := filepath.Join(s.Dir, "ssh_host_ed25519_key")
	if err := writePrivateKey(hostKeyPath, hostPriv, "sshdtest host key"); err != nil {
		return err
	}

	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if s.ClientSigner, err = ssh.NewSignerFromKey(clientPriv); err != nil {
		return err
	}
	s.ClientKey = filepath.Join(s.Dir, "id_ed25519")
	if err := writePrivateKey(s.ClientKey, clientPriv, "sshdtest client key"); err != nil {
		return err
	}
	authorized := ssh.MarshalAuthorizedKey(s.ClientSigner.PublicKey())
	if err := os.WriteFile(s.ClientKey+".pub", authorized, 0o644); err != nil {
		return err
	}
	authKeysPath := filepath.Join(s.Dir, "authorized_keys")
	if err := os.WriteFile(authKeysPath, authorized, 0o644); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	tcp := ln.Addr().(*net.TCPAddr)
	s.Addr, s.Host, s.Port = tcp.String(), tcp.IP.String(), tcp.Port

	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey) + "\n"
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o644); err != nil {
		return err
	}

	s.config = filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(s.config, []byte(s.sshdConfig(o, hostKeyPath, authKeysPath)), 0o644); err != nil {
		return err
	}
	// Report a bad configuration (say, in Options.Extra) now rather than as a
	// failed handshake later.
	if out, err := exec.Command(s.sshd, "-t", "-f", s.config).CombinedOutput(); err != nil {
		return fmt.Errorf("sshd -t -f %s: %v\n%s", s.config, err, out)
	}
	return nil
}

func writePrivateKey(path string, key ed25519.PrivateKey, comment string) error {
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// serve accepts connections until the listener is closed.
func (s *Server) serve() {
	defer s.accepts.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.logf("accept: %v", err)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		s.conns.Add(1)
		if err := s.spawn(c.(*net.TCPConn)); err != nil {
			s.logf("starting sshd: %v", err)
			s.t.Errorf("sshdtest: starting sshd for a connection to %s: %v", s.Addr, err)
		}
	}
}

// spawn starts `sshd -i` on the accepted connection c.
func (s *Server) spawn(c *net.TCPConn) error {
	f, err := c.File() // a duplicate descriptor; the child gets that one
	c.Close()
	if err != nil {
		return err
	}
	defer f.Close() // the child holds its own copy once started

	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer logf.Close()

	cmd := exec.Command(s.sshd, "-i", "-e", "-f", s.config)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, logf
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // so cleanup can signal sshd and its privsep children together
		Pdeathsig: syscall.SIGKILL, // and sshd dies with the test binary
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if err := startLocked(cmd); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	s.procs[pid] = cmd.Process
	s.children.Add(1)
	go func() {
		defer s.children.Done()
		cmd.Wait()
		s.mu.Lock()
		delete(s.procs, pid)
		s.mu.Unlock()
		select {
		case s.exited <- struct{}{}:
		default:
		}
	}()
	return nil
}

// Pdeathsig fires when the thread that forked the child exits, not the
// process, so children are started from one goroutine locked to its thread
// for the life of the test binary.
var (
	spawnOnce sync.Once
	spawnReq  chan spawnJob
)

type spawnJob struct {
	cmd  *exec.Cmd
	done chan error
}

func startLocked(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan spawnJob)
		go func() {
			runtime.LockOSThread() // never unlocked: this goroutine never returns
			for j := range spawnReq {
				j.done <- j.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReq <- spawnJob{cmd, done}
	return <-done
}

// logf appends a line from the package itself to the sshd log.
func (s *Server) logf(format string, args ...any) {
	f, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "sshdtest: "+format+"\n", args...)
	f.Close()
}

// cleanup stops the server; see Start.
func (s *Server) cleanup() {
	s.mu.Lock()
	s.closed = true
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
		s.accepts.Wait()
	}

	// Connections the test closed end by themselves within milliseconds;
	// give them a moment, then terminate the rest, then kill what's left.
	if !s.waitChildren(100 * time.Millisecond) {
		s.signalChildren(syscall.SIGTERM)
		if !s.waitChildren(3 * time.Second) {
			s.signalChildren(syscall.SIGKILL)
		}
	}
	s.children.Wait()

	if s.t.Failed() && s.logPath != "" {
		if b, err := os.ReadFile(s.logPath); err == nil && len(b) > 0 {
			s.t.Logf("sshd log for %s:\n%s", s.Addr, b)
		}
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		s.t.Errorf("sshdtest: %v", err)
	}
}

// signalChildren sends sig to the process group of every running sshd.
func (s *Server) signalChildren(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.procs {
		syscall.Kill(-pid, sig)
	}
}

// waitChildren waits up to d for every sshd to exit and reports whether they all did.
func (s *Server) waitChildren(d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		n := len(s.procs)
		s.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-s.exited:
		case <-deadline.C:
			return false
		}
	}
}
