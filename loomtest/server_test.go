//go:build unix

package loomtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestExitCodes(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	for _, tc := range []struct {
		cmd  string
		want int
	}{
		{"true", 0},
		{"exit 1", 1},
		{"exit 42", 42},
		{"false", 1},
		{"exit 255", 255},
		{"no-such-command-loomtest", 127},
	} {
		r := run(t, c, tc.cmd, "")
		if got := exitCode(r.err); got != tc.want {
			t.Errorf("%q: exit code %d (err %v), want %d", tc.cmd, got, r.err, tc.want)
		}
	}
}

func TestStdoutStderr(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	r := run(t, c, "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 3", "")
	if r.stdout != "out1\nout2\n" {
		t.Errorf("stdout = %q, want %q", r.stdout, "out1\nout2\n")
	}
	if r.stderr != "err1\nerr2\n" {
		t.Errorf("stderr = %q, want %q", r.stderr, "err1\nerr2\n")
	}
	if exitCode(r.err) != 3 {
		t.Errorf("err = %v, want exit status 3", r.err)
	}
}

func TestLargeOutput(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	const n = 8 << 20
	r := run(t, c, fmt.Sprintf("head -c %d /dev/zero; head -c %d /dev/zero >&2", n, n/2), "")
	if r.err != nil || len(r.stdout) != n || len(r.stderr) != n/2 {
		t.Errorf("got %d bytes stdout, %d stderr, err %v; want %d, %d, nil", len(r.stdout), len(r.stderr), r.err, n, n/2)
	}
}

func TestStdin(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)

	r := run(t, c, "cat; echo done", "hello\nworld\n")
	if r.err != nil || r.stdout != "hello\nworld\ndone\n" {
		t.Errorf("cat: stdout %q, err %v", r.stdout, r.err)
	}

	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	r = run(t, c, "wc -c", big)
	if r.err != nil || strings.TrimSpace(r.stdout) != strconv.Itoa(len(big)) {
		t.Errorf("wc -c: stdout %q, err %v; want %d", r.stdout, r.err, len(big))
	}

	// A command that never reads stdin must not stall the client. (When
	// the channel closes before the client has written all of stdin,
	// x/crypto's Session.Run returns io.EOF from its stdin copy, as it
	// would against sshd.)
	r = run(t, c, "echo ignored", big)
	if (r.err != nil && r.err != io.EOF) || r.stdout != "ignored\n" {
		t.Errorf("ignoring stdin: stdout %q, err %v", r.stdout, r.err)
	}
}

// TestEnv is not parallel: it sets SSH_AUTH_SOCK in the process environment
// to check that commands do not inherit it.
func TestEnv(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "/tmp/the-tests-own-agent")
	s, key := keyServer(t, Options{Env: []string{"LOOM_A=from-options", "LOOM_B=from-options"}})
	c := connect(t, s, key)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Setenv("LOOM_B", "from request"); err != nil {
		t.Fatalf("Setenv: %v", err)
	}
	out, err := sess.Output(`echo "$LOOM_A|$LOOM_B|${SSH_AUTH_SOCK-unset}|$SSH_CONNECTION"`)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(strings.TrimSuffix(string(out), "\n"), "|")
	if len(f) != 4 {
		t.Fatalf("output %q", out)
	}
	if f[0] != "from-options" || f[1] != "from request" || f[2] != "unset" {
		t.Errorf("LOOM_A, LOOM_B, SSH_AUTH_SOCK = %q, %q, %q; want from-options, from request, unset", f[0], f[1], f[2])
	}
	if want := " 127.0.0.1 " + strconv.Itoa(s.Port()); !strings.HasPrefix(f[3], "127.0.0.1 ") || !strings.HasSuffix(f[3], want) {
		t.Errorf("SSH_CONNECTION = %q, want 127.0.0.1 PORT%s", f[3], want)
	}
}

func TestDir(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	r := run(t, c, "pwd -P; touch made-here", "")
	want, err := filepath.EvalSymlinks(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if r.err != nil || strings.TrimSpace(r.stdout) != want {
		t.Errorf("pwd = %q (err %v), want %q", r.stdout, r.err, want)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "made-here")); err != nil {
		t.Errorf("file made by command: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("default Dir %s still there after Close (%v)", s.Dir(), err)
	}

	mine := t.TempDir()
	s2, key2 := keyServer(t, Options{Dir: mine})
	r = run(t, connect(t, s2, key2), "touch kept", "")
	if r.err != nil {
		t.Fatal(r.err)
	}
	s2.Close()
	if _, err := os.Stat(filepath.Join(mine, "kept")); err != nil {
		t.Errorf("Options.Dir not left alone by Close: %v", err)
	}
}

// startWithStdout starts cmd and returns the session and a reader of its
// stdout.
func startWithStdout(t *testing.T, c *ssh.Client, cmd string) (*ssh.Session, *bufio.Reader) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	stdout, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start(cmd); err != nil {
		t.Fatal(err)
	}
	return sess, bufio.NewReader(stdout)
}

// readLine reads one line within testTimeout.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := r.ReadString('\n')
		ch <- res{s, err}
	}()
	select {
	case x := <-ch:
		if x.err != nil {
			t.Fatalf("reading a line: %q, %v", x.s, x.err)
		}
		return strings.TrimSuffix(x.s, "\n")
	case <-time.After(testTimeout):
		t.Fatal("no line within timeout")
		return ""
	}
}

// wait waits for sess within d.
func wait(t *testing.T, sess *ssh.Session, d time.Duration) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- sess.Wait() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("session did not end within %v", d)
		return nil
	}
}

func TestSignal(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)

	t.Run("TERM", func(t *testing.T) {
		// The background sleep holds stdout open: the session ends quickly
		// only if the whole process group gets the signal.
		sess, out := startWithStdout(t, c, "sleep 30 & echo ready; wait")
		readLine(t, out)
		start := time.Now()
		if err := sess.Signal(ssh.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err := wait(t, sess, 5*time.Second)
		var ee *ssh.ExitError
		if !errors.As(err, &ee) || ee.Signal() != "TERM" {
			t.Fatalf("Wait = %v, want exit-signal TERM", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v after the signal", d)
		}
	})
	t.Run("trapped USR1", func(t *testing.T) {
		sess, out := startWithStdout(t, c, "trap 'echo caught; exit 7' USR1; echo ready; while :; do sleep 0.05; done")
		readLine(t, out)
		if err := sess.Signal(ssh.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if got := readLine(t, out); got != "caught" {
			t.Errorf("got %q, want caught", got)
		}
		if err := wait(t, sess, 5*time.Second); exitCode(err) != 7 {
			t.Errorf("Wait = %v, want exit status 7", err)
		}
	})
	t.Run("KILL", func(t *testing.T) {
		sess, out := startWithStdout(t, c, "echo ready; exec sleep 30")
		readLine(t, out)
		if err := sess.Signal(ssh.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var ee *ssh.ExitError
		if err := wait(t, sess, 5*time.Second); !errors.As(err, &ee) || ee.Signal() != "KILL" {
			t.Fatalf("Wait = %v, want exit-signal KILL", err)
		}
	})
}

func TestPty(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.RequestPty("xterm-256color", 24, 80, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		t.Fatalf("RequestPty: %v", err)
	}
	if err := sess.WindowChange(40, 100); err != nil {
		t.Fatalf("WindowChange: %v", err)
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Run("echo $TERM; echo to-stderr >&2"); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "xterm-256color\nto-stderr\n" || stderr.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want TERM and stderr merged into stdout", stdout.String(), stderr.String())
	}
}

func TestShell(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var stdout bytes.Buffer
	sess.Stdout = &stdout
	sess.Stdin = strings.NewReader("echo from shell\nexit 5\n")
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, sess, testTimeout); exitCode(err) != 5 || stdout.String() != "from shell\n" {
		t.Errorf("shell: stdout %q, err %v; want %q, exit status 5", stdout.String(), err, "from shell\n")
	}
}

func TestRefusedRequests(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.RequestSubsystem("nosuch"); err == nil {
		t.Error("subsystem nosuch accepted")
	}
	if err := sess.Run("true"); err != nil {
		t.Fatal(err)
	}
	// A second program on the same session is refused.
	if ok, err := sess.SendRequest("exec", true, ssh.Marshal(execReq{"true"})); ok {
		t.Errorf("second exec accepted (err %v)", err)
	}
	if _, _, err := c.OpenChannel("direct-tcpip", nil); err == nil {
		t.Error("direct-tcpip channel accepted")
	}
}

func TestSFTPSubsystem(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	cl, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	wd, err := cl.Getwd()
	if err != nil || wd != s.Dir() {
		t.Fatalf("sftp working directory %q (%v), want the server's Dir %q", wd, err, s.Dir())
	}
	f, err := cl.Create("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("over sftp\n"))
	f.Close()
	if b, err := os.ReadFile(filepath.Join(s.Dir(), "hello.txt")); err != nil || string(b) != "over sftp\n" {
		t.Fatalf("file written over sftp: %q %v", b, err)
	}
	// A relative link target is kept as given, as sftp-server keeps it.
	if err := cl.Symlink("releases/v1", "current"); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(s.Dir(), "current")); err != nil || l != "releases/v1" {
		t.Fatalf("symlink target %q (%v), want releases/v1", l, err)
	}
	if err := cl.Symlink("x", "current"); err == nil {
		t.Fatal("a symlink over an existing file succeeded")
	}
}

func TestPasswordAuth(t *testing.T) {
	t.Parallel()
	s := NewServer(t, Options{Password: "s3cret", User: "deploy"})
	tryLogin := func(user string, auth ssh.AuthMethod) error {
		c, err := dialTimeout(s.Addr(), clientConfig(s, user, auth), testTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		r := run(t, c, "echo in", "")
		if r.err != nil || r.stdout != "in\n" {
			t.Errorf("after login: %q, %v", r.stdout, r.err)
		}
		return nil
	}
	var questions []string
	var echos []bool
	ki := ssh.KeyboardInteractive(func(name, instruction string, qs []string, es []bool) ([]string, error) {
		questions, echos = append(questions, qs...), append(echos, es...)
		answers := make([]string, len(qs))
		for i := range qs {
			answers[i] = "s3cret"
		}
		return answers, nil
	})
	if err := tryLogin("deploy", ssh.Password("s3cret")); err != nil {
		t.Errorf("password: %v", err)
	}
	if err := tryLogin("deploy", ki); err != nil {
		t.Errorf("keyboard-interactive: %v", err)
	}
	if len(questions) != 1 || questions[0] != "Password: " || echos[0] {
		t.Errorf("keyboard-interactive questions %q, echo %v; want one \"Password: \" without echo", questions, echos)
	}
	if err := tryLogin("deploy", ssh.Password("wrong")); err == nil {
		t.Error("wrong password accepted")
	}
	if err := tryLogin("root", ssh.Password("s3cret")); err == nil {
		t.Error("other user accepted")
	}
}

func TestPublicKeyAuth(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{User: "deploy"})
	login := func(user string, k ssh.Signer) error {
		c, err := dialTimeout(s.Addr(), clientConfig(s, user, ssh.PublicKeys(k)), testTimeout)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := login("deploy", key); err != nil {
		t.Errorf("authorized key: %v", err)
	}
	if err := login("deploy", newKey(t)); err == nil {
		t.Error("unknown key accepted")
	}
	if err := login("other", key); err == nil {
		t.Error("user other accepted though Options.User is deploy")
	}
}

func TestNoCredentialsLetsNobodyIn(t *testing.T) {
	t.Parallel()
	s := NewServer(t, Options{})
	for _, auth := range []ssh.AuthMethod{ssh.PublicKeys(newKey(t)), ssh.Password(""), ssh.Password("x")} {
		if c, err := dialTimeout(s.Addr(), clientConfig(s, "anyone", auth), testTimeout); err == nil {
			c.Close()
			t.Errorf("login accepted by a server without credentials")
		}
	}
}

func TestMaxSessions(t *testing.T) {
	t.Parallel()
	isProhibited := func(err error) bool {
		var oce *ssh.OpenChannelError
		return errors.As(err, &oce) && oce.Reason == ssh.Prohibited
	}

	t.Run("default 10", func(t *testing.T) {
		t.Parallel()
		s, key := keyServer(t, Options{})
		c := connect(t, s, key)
		for i := range 10 {
			if _, err := c.NewSession(); err != nil {
				t.Fatalf("session %d: %v", i+1, err)
			}
		}
		if _, err := c.NewSession(); !isProhibited(err) {
			t.Fatalf("11th session: err = %v, want administratively prohibited", err)
		}
		// The limit is per connection.
		c2 := connect(t, s, key)
		if r := run(t, c2, "true", ""); r.err != nil {
			t.Errorf("session on a second connection: %v", r.err)
		}
	})

	t.Run("slots are freed", func(t *testing.T) {
		t.Parallel()
		s, key := keyServer(t, Options{MaxSessions: 2})
		c := connect(t, s, key)
		s1, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.NewSession(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.NewSession(); !isProhibited(err) {
			t.Fatalf("3rd session: err = %v, want administratively prohibited", err)
		}
		s1.Close()
		if _, err := c.NewSession(); err != nil {
			t.Fatalf("session after closing one: %v", err)
		}
	})

	t.Run("back to back", func(t *testing.T) {
		t.Parallel()
		s, key := keyServer(t, Options{MaxSessions: 1})
		c := connect(t, s, key)
		for i := range 30 {
			// Closed by the server when the command ends.
			if r := run(t, c, "true", ""); r.err != nil {
				t.Fatalf("run %d: %v", i, r.err)
			}
			// Closed by the client before anything ran.
			sess, err := c.NewSession()
			if err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
			sess.Close()
		}
	})
}

func TestKeepalive(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if err != nil || !ok {
		t.Errorf("keepalive: ok %v, err %v; want true", ok, err)
	}
	ok, _, err = c.SendRequest("tcpip-forward", true, ssh.Marshal(struct {
		Addr string
		Port uint32
	}{"127.0.0.1", 0}))
	if err != nil || ok {
		t.Errorf("tcpip-forward: ok %v, err %v; want refused", ok, err)
	}
}

func TestAgentForwarding(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	keyring := agent.NewKeyring()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv, Comment: "forwarded"}); err != nil {
		t.Fatal(err)
	}
	if err := agent.ForwardToAgent(c, keyring); err != nil {
		t.Fatal(err)
	}

	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.RequestAgentForwarding(sess); err != nil {
		t.Fatalf("first request: %v", err)
	}
	out, err := sess.Output("echo $SSH_AUTH_SOCK")
	if err != nil {
		t.Fatal(err)
	}
	sock := strings.TrimSpace(string(out))
	if sock == "" {
		t.Fatal("SSH_AUTH_SOCK not set after agent forwarding was granted")
	}
	uc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := agent.NewClient(uc).List()
	uc.Close()
	if err != nil || len(keys) != 1 || keys[0].Comment != "forwarded" {
		t.Errorf("keys through forwarded agent: %v, %v", keys, err)
	}

	// Like OpenSSH: once per connection.
	sess2, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess2.Close()
	if err := agent.RequestAgentForwarding(sess2); err == nil {
		t.Error("second agent forwarding request on one connection granted")
	}
	if got := s.AgentForwardRequests(); got != 2 {
		t.Errorf("AgentForwardRequests = %d, want 2", got)
	}

	// Another connection that did not ask has no agent.
	r := run(t, connect(t, s, key), "echo ${SSH_AUTH_SOCK-unset}", "")
	if r.stdout != "unset\n" {
		t.Errorf("connection without forwarding: SSH_AUTH_SOCK %q", r.stdout)
	}
}

func TestKnownHostsLine(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	port := strconv.Itoa(s.Port())
	for name, want := range map[string]string{
		"":                 "[127.0.0.1]:" + port + " ",
		"localhost":        "[localhost]:" + port + " ",
		"example.com:2222": "[example.com]:2222 ",
		"example.com:22":   "example.com ",
	} {
		if got := s.KnownHostsLine(name); !strings.HasPrefix(got, want+"ssh-ed25519 ") {
			t.Errorf("KnownHostsLine(%q) = %q, want prefix %q", name, got, want+"ssh-ed25519 ")
		}
	}

	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(s.KnownHostsLine("127.0.0.1")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientConfig(s, "u", ssh.PublicKeys(key))
	cfg.HostKeyCallback = cb
	c, err := dialTimeout(s.Addr(), cfg, testTimeout)
	if err != nil {
		t.Fatalf("dial with known_hosts from KnownHostsLine: %v", err)
	}
	c.Close()
}

func TestConnections(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	if s.Connections() != 0 {
		t.Fatalf("Connections = %d before any", s.Connections())
	}
	c := connect(t, s, key)
	for range 3 {
		run(t, c, "true", "")
	}
	if got := s.Connections(); got != 1 {
		t.Errorf("Connections = %d after 3 commands on one connection, want 1", got)
	}
	connect(t, s, key)
	if got := s.Connections(); got != 2 {
		t.Errorf("Connections = %d, want 2", got)
	}
	if s.Host() != "127.0.0.1" || s.Addr() != net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())) {
		t.Errorf("Host %q, Port %d, Addr %q disagree", s.Host(), s.Port(), s.Addr())
	}
}

func TestListenerOption(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, key := keyServer(t, Options{Listener: ln, Addr: "192.0.2.1:1"})
	if s.Addr() != ln.Addr().String() {
		t.Errorf("Addr = %q, want the listener's %q", s.Addr(), ln.Addr())
	}
	if r := run(t, connect(t, s, key), "echo ok", ""); r.stdout != "ok\n" {
		t.Errorf("got %q, %v", r.stdout, r.err)
	}
}

func TestCloseKillsCommands(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	var pids []int
	var sessions []*ssh.Session
	for range 3 {
		sess, out := startWithStdout(t, c, "sleep 30 & echo $$ $!; wait")
		for _, f := range strings.Fields(readLine(t, out)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
		sessions = append(sessions, sess)
	}
	closeWithin(t, s, 2*time.Second)
	for _, sess := range sessions {
		if err := wait(t, sess, 5*time.Second); err == nil {
			t.Error("session ended without error after Close")
		}
	}
	for _, pid := range pids {
		waitFor(t, fmt.Sprintf("process %d to die", pid), func() bool { return !alive(pid) })
	}
	if _, err := dialTimeout(s.Addr(), clientConfig(s, "u", ssh.PublicKeys(key)), time.Second); err == nil {
		t.Error("dial succeeded after Close")
	}
}

// alive reports whether pid is a process that has not exited (zombies,
// which no one may reap in a container, count as dead).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return runtime.GOOS != "linux"
	}
	// pid (comm) STATE ...
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func TestClientGoneKillsCommand(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{})
	c := connect(t, s, key)
	sess, out := startWithStdout(t, c, "echo $$; exec sleep 30")
	pid, err := strconv.Atoi(readLine(t, out))
	if err != nil {
		t.Fatal(err)
	}
	sess.Close()
	waitFor(t, "command killed after the client closed the channel", func() bool { return !alive(pid) })

	c2 := connect(t, s, key)
	_, out = startWithStdout(t, c2, "echo $$; exec sleep 30")
	pid, err = strconv.Atoi(readLine(t, out))
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	waitFor(t, "command killed after the connection closed", func() bool { return !alive(pid) })
}

// TestNoGoroutineLeak is not parallel, so that other tests' goroutines do
// not come and go while it counts.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		key := newKey(t)
		s, err := Start(Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
		if err != nil {
			t.Fatal(err)
		}
		hang, err := Start(Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}, Fault: HangCommand})
		if err != nil {
			t.Fatal(err)
		}
		banner, err := Start(Options{Fault: HangBeforeBanner})
		if err != nil {
			t.Fatal(err)
		}
		c := connect(t, s, key)
		run(t, c, "echo hi; cat", "input")
		// Left running at Close: a command, a hung one, a forwarded agent,
		// and a client stuck before the banner.
		startWithStdout(t, c, "sleep 30 & echo ready; wait")
		sess, _ := c.NewSession()
		agent.ForwardToAgent(c, agent.NewKeyring())
		agent.RequestAgentForwarding(sess)
		sess.Start("sleep 30")
		hc := connect(t, hang, key)
		hs, _ := hc.NewSession()
		hs.Start("anything")
		nc, err := net.Dial("tcp", banner.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		waitFor(t, "banner server to accept", func() bool { return banner.Connections() == 1 })

		for _, srv := range []*Server{s, hang, banner} {
			closeWithin(t, srv, 5*time.Second)
		}
		c.Close()
		hc.Close()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	if _, err := Start(Options{Addr: "256.0.0.1:0"}); err == nil {
		t.Error("Start with a bad address succeeded")
	}
	if _, err := Start(Options{Fault: Fault(99)}); err == nil {
		t.Error("Start with an unknown fault succeeded")
	}
	if got := Fault(99).String(); got != "Fault(99)" {
		t.Errorf("Fault(99).String() = %q", got)
	}
	if got := HangCommand.String(); got != "HangCommand" {
		t.Errorf("HangCommand.String() = %q", got)
	}
}
