package sshdtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// dial logs in to s with its client key and closes the client at cleanup.
func dial(t testing.TB, s *Server) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig())
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runCmd runs cmd in a new session on c with stdin and returns its output.
func runCmd(t testing.TB, c *ssh.Client, cmd, stdin string) (stdout, stderr string, err error) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer sess.Close()
	var o, e bytes.Buffer
	sess.Stdin = strings.NewReader(stdin)
	sess.Stdout, sess.Stderr = &o, &e
	err = sess.Run(cmd)
	return o.String(), e.String(), err
}

// mustRun is runCmd that fails the test unless cmd succeeds.
func mustRun(t testing.TB, c *ssh.Client, cmd string) string {
	t.Helper()
	out, errOut, err := runCmd(t, c, cmd, "")
	if err != nil {
		t.Fatalf("%q: %v; stderr: %s", cmd, err, errOut)
	}
	return out
}

func TestLogin(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	if s.Addr != net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) || s.Host != "127.0.0.1" || s.Port == 0 {
		t.Errorf("Addr %q, Host %q, Port %d", s.Addr, s.Host, s.Port)
	}
	if s.Connections() != 0 {
		t.Errorf("Connections() = %d before any connection", s.Connections())
	}

	start := time.Now()
	c := dial(t, s)
	got := mustRun(t, c, "id -un; pwd")
	t.Logf("connect, log in and run a command: %v", time.Since(start))
	if want := s.User + "\n" + s.Home + "\n"; got != want {
		t.Errorf("id -un; pwd = %q, want %q", got, want)
	}
	if os.Geteuid() == 0 && s.User != TestUser {
		t.Errorf("as root, User = %q, want %q", s.User, TestUser)
	}
	if n := s.Connections(); n != 1 {
		t.Errorf("Connections() = %d after one connection, want 1", n)
	}

	// More sessions on the same connection start no sshd.
	mustRun(t, c, "true")
	if n := s.Connections(); n != 1 {
		t.Errorf("Connections() = %d after a second session, want 1", n)
	}
	c2 := dial(t, s)
	mustRun(t, c2, "true")
	if n := s.Connections(); n != 2 {
		t.Errorf("Connections() = %d after two connections, want 2", n)
	}

	// Dir works as a working directory for User.
	if got := mustRun(t, c, "cd "+s.Dir+" && ls known_hosts"); got != "known_hosts\n" {
		t.Errorf("ls in Dir = %q", got)
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})

	fi, err := os.Stat(s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ClientKey mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatalf("ClientKey: %v", err)
	}
	if !bytes.Equal(k.PublicKey().Marshal(), s.ClientSigner.PublicKey().Marshal()) {
		t.Error("ClientKey and ClientSigner differ")
	}
	if k.PublicKey().Type() != ssh.KeyAlgoED25519 || s.HostKey.Type() != ssh.KeyAlgoED25519 {
		t.Errorf("key types %s, %s; want ed25519", k.PublicKey().Type(), s.HostKey.Type())
	}

	kh, err := os.ReadFile(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey))))
	if got := strings.TrimSpace(string(kh)); got != want {
		t.Errorf("known_hosts = %q, want %q", got, want)
	}
	if got := s.KnownHostsLine(""); got != want {
		t.Errorf("KnownHostsLine(\"\") = %q, want %q", got, want)
	}
	if got := s.KnownHostsLine(s.Addr); got != want {
		t.Errorf("KnownHostsLine(Addr) = %q, want %q", got, want)
	}
	if got := s.KnownHostsLine("web1"); !strings.HasPrefix(got, "web1 ssh-ed25519 ") {
		t.Errorf("KnownHostsLine(web1) = %q", got)
	}

	// Two servers never share keys.
	s2 := Start(t, Options{})
	if bytes.Equal(s.HostKey.Marshal(), s2.HostKey.Marshal()) || s.Port == s2.Port || s.Dir == s2.Dir {
		t.Error("two servers share a host key, port or Dir")
	}
}

func TestJump(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{})
	b := Start(t, Options{})
	ca := dial(t, a)

	conn, err := ca.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatalf("direct-tcpip from A to B: %v", err)
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, b.Addr, b.ClientConfig())
	if err != nil {
		conn.Close()
		t.Fatalf("login to B through A: %v", err)
	}
	cb := ssh.NewClient(cc, chans, reqs)
	defer cb.Close()
	if got := mustRun(t, cb, "id -un"); got != b.User+"\n" {
		t.Errorf("id -un on B = %q", got)
	}
	if a.Connections() != 1 || b.Connections() != 1 {
		t.Errorf("connections A %d, B %d; want 1, 1", a.Connections(), b.Connections())
	}
}

func TestNoTCPForwarding(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{NoTCPForwarding: true})
	b := Start(t, Options{})
	ca := dial(t, a)
	if conn, err := ca.Dial("tcp", b.Addr); err == nil {
		conn.Close()
		t.Fatal("direct-tcpip succeeded with NoTCPForwarding")
	}
	if n := b.Connections(); n != 0 {
		t.Errorf("B got %d connections", n)
	}
}

func TestMaxSessions(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{MaxSessions: 1})
	c := dial(t, s)
	s1, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	if s2, err := c.NewSession(); err == nil {
		s2.Close()
		t.Fatal("second session opened with MaxSessions 1")
	}
}

func TestAgentForwarding(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint(allow), func(t *testing.T) {
			t.Parallel()
			s := Start(t, Options{AgentForwarding: allow})
			c := dial(t, s)
			keyring := agent.NewKeyring()
			if err := keyring.Add(agent.AddedKey{PrivateKey: mustKey(t)}); err != nil {
				t.Fatal(err)
			}
			if err := agent.ForwardToAgent(c, keyring); err != nil {
				t.Fatal(err)
			}
			sess, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			if err := agent.RequestAgentForwarding(sess); err != nil && allow {
				t.Fatalf("request agent forwarding: %v", err)
			}
			out, err := sess.Output(`test -S "$SSH_AUTH_SOCK" && echo forwarded`)
			if got := strings.TrimSpace(string(out)); (got == "forwarded") != allow {
				t.Errorf("AgentForwarding %v: output %q, err %v", allow, got, err)
			}
		})
	}
}

func mustKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestExtra(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{
		// AllowTcpForwarding overrides the package's default only if it
		// comes first; the Match block must go to the end.
		Extra: "AcceptEnv LOOM_*\nAllowTcpForwarding no\nMatch User nobody\n  PermitTTY no",
	})
	c := dial(t, s)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Setenv("LOOM_X", "hello"); err != nil {
		t.Fatalf("setenv: %v", err)
	}
	out, err := sess.Output("echo $LOOM_X")
	if err != nil || string(out) != "hello\n" {
		t.Errorf("echo $LOOM_X = %q, %v", out, err)
	}
	if conn, err := c.Dial("tcp", s.Addr); err == nil {
		conn.Close()
		t.Error("Extra AllowTcpForwarding no did not take effect")
	}
}

func TestSplitExtra(t *testing.T) {
	for _, tc := range []struct{ in, head, tail string }{
		{"", "", ""},
		{"A b", "A b", ""},
		{"A b\nmatch User x\n C d\n", "A b\n", "match User x\n C d\n"},
		{"  Match all\nX y", "", "  Match all\nX y"},
		{"Matches x\n", "Matches x\n", ""},
	} {
		h, tl := splitExtra(tc.in)
		if h != tc.head || tl != tc.tail {
			t.Errorf("splitExtra(%q) = %q, %q; want %q, %q", tc.in, h, tl, tc.head, tc.tail)
		}
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("password auth needs root to set a user password")
	}
	s := Start(t, Options{Password: true})
	if s.Password == "" {
		t.Fatal("Password not set")
	}
	pw := func(p string) *ssh.ClientConfig {
		cfg := s.ClientConfig()
		cfg.Auth = []ssh.AuthMethod{ssh.Password(p)}
		return cfg
	}
	c, err := ssh.Dial("tcp", s.Addr, pw(s.Password))
	if err != nil {
		t.Fatalf("password login: %v", err)
	}
	defer c.Close()
	if got := mustRun(t, c, "id -un"); got != TestUser+"\n" {
		t.Errorf("id -un = %q", got)
	}
	if c, err := ssh.Dial("tcp", s.Addr, pw("wrong"+s.Password)); err == nil {
		c.Close()
		t.Error("login with a wrong password succeeded")
	}
	// Keys still work.
	mustRun(t, dial(t, s), "true")
}

func TestPasswordOffByDefault(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the password is known only as root")
	}
	s := Start(t, Options{})
	if s.Password == "" {
		t.Fatal("Password not set as root")
	}
	cfg := s.ClientConfig()
	cfg.Auth = []ssh.AuthMethod{ssh.Password(s.Password)}
	if c, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		c.Close()
		t.Error("password login succeeded without Options.Password")
	}
}

func TestSudo(t *testing.T) {
	t.Parallel()
	if ok, why := CanSudo(); !ok {
		t.Skip(why)
	}
	s := Start(t, Options{})
	c := dial(t, s)
	const prompt = "LOOM-SUDO-PROMPT:"
	cmd := "sudo -S -p " + prompt + " -k id -un"

	out, errOut, err := runCmd(t, c, cmd, s.Password+"\n")
	if err != nil {
		t.Fatalf("sudo with the right password: %v; stderr %q", err, errOut)
	}
	if out != "root\n" || !strings.Contains(errOut, prompt) {
		t.Errorf("sudo: stdout %q, stderr %q", out, errOut)
	}

	_, errOut, err = runCmd(t, c, cmd, "wrong-"+s.Password+"\n")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() == 0 {
		t.Errorf("sudo with a wrong password: %v; stderr %q", err, errOut)
	}
}

func TestCanSudo(t *testing.T) {
	ok, why := CanSudo()
	if ok != (why == "") {
		t.Errorf("CanSudo() = %v, %q", ok, why)
	}
	if os.Geteuid() != 0 && ok {
		t.Error("CanSudo() true without root")
	}
	t.Logf("CanSudo() = %v, %q", ok, why)
}

func TestParallelConnections(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			sess, err := c.NewSession()
			if err != nil {
				errs <- err
				return
			}
			defer sess.Close()
			out, err := sess.Output("id -un")
			if err == nil && string(out) != s.User+"\n" {
				err = fmt.Errorf("id -un = %q", out)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Connections(); got != n {
		t.Errorf("Connections() = %d, want %d", got, n)
	}
}

func TestSSHClient(t *testing.T) {
	t.Parallel()
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("OpenSSH client not installed")
	}
	a := Start(t, Options{})
	b := Start(t, Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	a.WriteSSHConfig(cfg, "hosta")
	b.WriteSSHConfig(cfg, "hostb")
	for _, args := range [][]string{{"hosta"}, {"-J", "hosta", "hostb"}} {
		cmd := exec.Command(sshBin, append(append([]string{"-F", cfg}, args...), "id -un")...)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != a.User+"\n" {
			t.Errorf("ssh %v: %q, %v", args, out, err)
		}
	}
	if a.Connections() != 2 || b.Connections() != 1 {
		t.Errorf("connections A %d, B %d; want 2, 1", a.Connections(), b.Connections())
	}
}

// TestCleanup checks that cleanup stops sshd even with a connection still
// open, and removes Dir.
func TestCleanup(t *testing.T) {
	t.Parallel()
	var s *Server
	var c *ssh.Client
	t.Run("server", func(t *testing.T) {
		s = Start(t, Options{})
		var err error
		if c, err = ssh.Dial("tcp", s.Addr, s.ClientConfig()); err != nil {
			t.Fatal(err)
		}
	})
	if c == nil {
		t.Fatal("subtest failed")
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open after cleanup")
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("Dir after cleanup: %v", err)
	}
	if conn, err := net.Dial("tcp", s.Addr); err == nil {
		conn.Close()
		t.Error("listener still accepts after cleanup")
	}
}

// requireSSHD skips tests that call Start with a fakeTB where Start would skip anyway.
func requireSSHD(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sshdtest supports only Linux")
	}
	if _, err := findSSHD(); err != nil {
		t.Skip(err)
	}
}

// fakeTB records what Start does with its testing.TB.
type fakeTB struct {
	testing.TB // the real one, for anything not overridden
	mu         sync.Mutex
	cleanups   []func()
	failed     bool
	skipped    bool
	msgs       []string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Cleanup(fn func())         { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *fakeTB) Failed() bool              { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeTB) Fatal(a ...any)            { f.fail(fmt.Sprint(a...)); runtime.Goexit() }
func (f *fakeTB) Fatalf(s string, a ...any) { f.fail(fmt.Sprintf(s, a...)); runtime.Goexit() }
func (f *fakeTB) Errorf(s string, a ...any) { f.fail(fmt.Sprintf(s, a...)) }
func (f *fakeTB) Logf(s string, a ...any)   { f.log(fmt.Sprintf(s, a...)) }
func (f *fakeTB) Skip(a ...any)             { f.skip(fmt.Sprint(a...)); runtime.Goexit() }
func (f *fakeTB) Skipf(s string, a ...any)  { f.skip(fmt.Sprintf(s, a...)); runtime.Goexit() }

func (f *fakeTB) fail(m string) {
	f.mu.Lock()
	f.failed = true
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
}
func (f *fakeTB) skip(m string) {
	f.mu.Lock()
	f.skipped = true
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
}
func (f *fakeTB) log(m string) { f.mu.Lock(); f.msgs = append(f.msgs, m); f.mu.Unlock() }

// withFake runs fn with a fakeTB in its own goroutine, as a test would run,
// then runs the registered cleanups.
func withFake(t testing.TB, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			for i := len(f.cleanups) - 1; i >= 0; i-- {
				f.cleanups[i]()
			}
		}()
		fn(f)
	}()
	<-done
	return f
}

func TestStartFailsOnBadConfig(t *testing.T) {
	t.Parallel()
	requireSSHD(t)
	var dir string
	f := withFake(t, func(tb testing.TB) {
		s := Start(tb, Options{Extra: "NoSuchKeyword yes"})
		dir = s.Dir
	})
	if !f.failed || !strings.Contains(strings.Join(f.msgs, "\n"), "NoSuchKeyword") {
		t.Errorf("Start with a bad Extra: failed %v, messages %q", f.failed, f.msgs)
	}
	if dir != "" {
		t.Errorf("Start returned a server (Dir %s)", dir)
	}
}

func TestPasswordSkipsWithoutRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("as root the password is known")
	}
	requireSSHD(t)
	f := withFake(t, func(tb testing.TB) { Start(tb, Options{Password: true}) })
	if !f.skipped || f.failed {
		t.Errorf("Password without root: skipped %v, failed %v, messages %q", f.skipped, f.failed, f.msgs)
	}
}

// TestLogOnFailure checks that a failed test gets the sshd log.
func TestLogOnFailure(t *testing.T) {
	t.Parallel()
	requireSSHD(t)
	f := withFake(t, func(tb testing.TB) {
		s := Start(tb, Options{})
		cfg := s.ClientConfig()
		signer, err := ssh.NewSignerFromKey(mustKey(t))
		if err != nil {
			t.Error(err)
			return
		}
		cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
		if c, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
			c.Close()
			t.Error("login with an unauthorized key succeeded")
		}
		tb.Errorf("fail on purpose")
	})
	all := strings.Join(f.msgs, "\n")
	if !strings.Contains(all, "sshd log for 127.0.0.1:") || !strings.Contains(all, "Failed publickey") && !strings.Contains(all, "Connection closed") {
		t.Errorf("log on failure: %q", all)
	}
}

func BenchmarkConnect(b *testing.B) {
	s := Start(b, Options{})
	cfg := s.ClientConfig()
	b.ResetTimer()
	for range b.N {
		c, err := ssh.Dial("tcp", s.Addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		sess, err := c.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		if err := sess.Run("true"); err != nil {
			b.Fatal(err)
		}
		sess.Close()
		c.Close()
	}
}

func BenchmarkStart(b *testing.B) {
	for range b.N {
		f := withFake(b, func(tb testing.TB) { Start(tb, Options{}) })
		if f.failed || f.skipped {
			b.Fatal(f.msgs)
		}
	}
}
