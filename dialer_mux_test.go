//go:build linux

package loom_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

// logBuf collects a Dialer's -v lines and warnings.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// muxTarget starts an sshd and writes an ssh_config naming it "target"
// with ControlMaster auto and ControlPath sock (in a directory of its
// own); it returns a Dialer for it that logs into log.
func muxTarget(t *testing.T) (s *sshdtest.Server, cfg, sock string, d func() (*loom.Dialer, *logBuf)) {
	t.Helper()
	s = sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	cfg = filepath.Join(dir, "ssh_config")
	sock = filepath.Join(dir, "cm", "target.sock")
	os.Mkdir(filepath.Dir(sock), 0o700)
	os.WriteFile(cfg, []byte("Host target\n  ControlMaster auto\n  ControlPath "+filepath.Join(dir, "cm", "%n.sock")+"\n"), 0o600)
	s.WriteSSHConfig(cfg, "target")
	return s, cfg, sock, func() (*loom.Dialer, *logBuf) {
		l := &logBuf{}
		d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent", Logf: l.logf, Stderr: l}
		t.Cleanup(func() { d.Close() })
		return d, l
	}
}

// Commands on a host whose ControlPath names a live OpenSSH master run on
// it: output, stderr, exit status, stdin, a pty, a timeout, file
// operations — and sshd sees no connection but the master's.
func TestMuxMasterRunsCommands(t *testing.T) {
	s, cfg, sock, newDialer := muxTarget(t)
	m := s.StartMaster(t, cfg, "target", sock)
	d, log := newDialer()
	c := dial(t, d, "target")
	if want := fmt.Sprintf("target: through OpenSSH's master at %s (pid %d)", sock, m.PID); !strings.Contains(log.String(), want) {
		t.Fatalf("-v does not say %q:\n%s", want, log.String())
	}
	if c.Client() != nil {
		t.Fatal("a Conn on an OpenSSH master has an SSH client of its own")
	}

	r := c.Warn().Shell("echo out; echo err >&2; exit 3")
	if r.Stdout != "out\n" || r.Stderr != "err\n" || r.ExitCode != 3 {
		t.Fatalf("shell: %q %q %d %v", r.Stdout, r.Stderr, r.ExitCode, r.Err)
	}
	if got := c.Stdin(strings.NewReader("piped input")).Run("cat").Stdout; got != "piped input" {
		t.Fatalf("stdin: %q", got)
	}
	if got := c.Run("cat").Stdout; got != "" { // no stdin: EOF at once, no hang
		t.Fatalf("cat without stdin: %q", got)
	}
	if got := c.Pty().Run("tty").Text(); !strings.HasPrefix(got, "/dev/pts/") {
		t.Fatalf("pty: tty says %q", got)
	}
	if got := c.Pty().Shell("stty -a | grep -o -- '-echo '; echo a; printf 'b\\n'").Stdout; got != "-echo \r\na\r\nb\r\n" {
		t.Fatalf("pty: no echo, and output as a remote terminal writes it: %q", got)
	}
	// Ctrl-C (a cancelled context) reaches a pty command as ^C through
	// the terminal: the protocol has no signal message.
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw, _ := os.Pipe()
	ran := make(chan *loom.Result, 1)
	go func() {
		ran <- c.WithContext(ctx).Pty().Stream(pw, pw).Warn().Shell("trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 1; done")
	}()
	buf := make([]byte, 64)
	if n, _ := pr.Read(buf); !strings.Contains(string(buf[:n]), "ready") {
		t.Fatalf("pty command did not start: %q", buf[:n])
	}
	cancel()
	if r := <-ran; !strings.Contains(r.Stdout, "got-int") {
		t.Fatalf("^C through the pty: %q %v", r.Stdout, r.Err)
	}
	pr.Close()
	pw.Close()
	c.ResetErr()
	if got := c.Warn().Run("tty").Text(); got != "not a tty" {
		t.Fatalf("no pty: tty says %q", got)
	}
	start := time.Now()
	if r := c.Warn().Timeout(time.Second).Run("sleep", "60"); r.Err == nil || time.Since(start) > 30*time.Second {
		t.Fatalf("timeout: %v after %v", r.Err, time.Since(start))
	}
	c.ResetErr()
	if r := c.Warn().Shell("kill -TERM $$"); !errors.Is(r.Err, loom.ErrNoExitStatus) {
		t.Fatalf("killed by a signal: %v (the mux protocol carries exit codes only)", r.Err)
	}
	c.ResetErr()

	local := filepath.Join(t.TempDir(), "app.conf")
	os.WriteFile(local, []byte("port = 8080\n"), 0o640)
	remote := filepath.Join(s.Home, "mux-files")
	t.Cleanup(func() { os.RemoveAll(remote) })
	if tr := c.Put(local, "mux-files/app.conf"); !tr.OK() {
		t.Fatalf("put through the master: %v", tr.Err)
	}
	back := filepath.Join(t.TempDir(), "back.conf")
	if tr := c.Get("mux-files/app.conf", back); !tr.OK() {
		t.Fatalf("get through the master: %v", tr.Err)
	}
	if b, _ := os.ReadFile(back); string(b) != "port = 8080\n" {
		t.Fatalf("got back %q", b)
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("sshd accepted %d connections, want only the master's", n)
	}
}

// No usable master: a missing socket, a dead master's (killed: the
// socket stays), a socket of another user's, something that is not a
// socket. The host is connected as without a master, before any command
// was sent; a socket that is not ours is refused with a warning naming it.
func TestMuxMasterFallsBack(t *testing.T) {
	s, cfg, sock, newDialer := muxTarget(t)
	runs := 0
	direct := func(what string) string {
		t.Helper()
		d, log := newDialer()
		c := dial(t, d, "target")
		if got := c.Run("echo", "hi").Text(); got != "hi" {
			t.Fatalf("%s: %q", what, got)
		}
		runs++
		if c.Client() == nil || s.Connections() != runs {
			t.Fatalf("%s: not connected directly (%d connections)\n%s", what, s.Connections(), log.String())
		}
		return log.String()
	}
	if log := direct("no master"); !strings.Contains(log, "no OpenSSH master at "+sock) || strings.Contains(log, "warning") {
		t.Fatalf("no master: %q", log)
	}

	m := s.StartMaster(t, cfg, "target", sock)
	runs++ // the master's
	m.Kill()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the killed master's socket: %v", err)
	}
	if log := direct("dead master"); !strings.Contains(log, "the OpenSSH master at "+sock+" does not answer") || strings.Contains(log, "warning") {
		t.Fatalf("dead master: %q", log)
	}

	os.Remove(sock)
	os.WriteFile(sock, nil, 0o600)
	if log := direct("a file"); !strings.Contains(log, "warning: target: ssh_config ControlPath "+sock+": not a socket: not used") {
		t.Fatalf("a file at ControlPath: %q", log)
	}

	if os.Getuid() != 0 {
		t.Skip("another user's socket: needs root")
	}
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	os.Chown(sock, 65534, 65534)
	log := direct("another user's socket")
	if !strings.Contains(log, "warning: target: ssh_config ControlPath "+sock+": owned by uid 65534, not by you (uid 0): not used") {
		t.Fatalf("another user's socket: %q", log)
	}
	if strings.Count(log, "warning") != 1 {
		t.Fatalf("warned more than once: %q", log)
	}
}

// A master that goes away under a running command fails that command
// with ErrConnLost, and the next fails before it is sent: nothing is run
// again elsewhere (sshd sees no new connection).
func TestMuxMasterLost(t *testing.T) {
	s, cfg, sock, newDialer := muxTarget(t)
	m := s.StartMaster(t, cfg, "target", sock)
	d, _ := newDialer()
	c := dial(t, d, "target")
	ran := make(chan *loom.Result, 1)
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	go func() { ran <- c.Stream(pw, pw).Warn().Shell("echo started; sleep 60") }()
	buf := make([]byte, 8)
	if n, _ := pr.Read(buf); string(buf[:n]) != "started\n" {
		t.Fatalf("the command did not start: %q", buf[:n])
	}
	m.Kill()
	r := <-ran
	pw.Close()
	if !errors.Is(r.Err, loom.ErrConnLost) || !strings.Contains(r.Err.Error(), "OpenSSH master at "+sock) {
		t.Fatalf("master killed under a command: %v", r.Err)
	}
	if r := c.Warn().Run("true"); !errors.Is(r.Err, loom.ErrConnLost) || !strings.Contains(r.Err.Error(), sock) {
		t.Fatalf("the next command: %v", r.Err)
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("sshd accepted %d connections: something was run again directly", n)
	}
}

// Through an OpenSSH master, SendEnv's variables go with each command as
// ssh -S sends them (the master passes on those its own SendEnv allows
// and adds its SetEnv), and sshd's AcceptEnv decides.
func TestMuxMasterSendsEnv(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{Extra: "AcceptEnv LOOM_SE_* GREETING\n"})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	sock := filepath.Join(dir, "cm", "target.sock")
	os.Mkdir(filepath.Dir(sock), 0o700)
	os.WriteFile(cfg, []byte("Host target\n  ControlMaster auto\n  ControlPath "+sock+"\n  SendEnv LOOM_SE_*\n  SetEnv GREETING=hi\n"), 0o600)
	s.WriteSSHConfig(cfg, "target")
	s.StartMaster(t, cfg, "target", sock)
	t.Setenv("LOOM_SE_A", "from the run")
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	defer d.Close()
	c := dial(t, d, "target")
	if c.Client() != nil {
		t.Fatal("not on the master")
	}
	if r := c.Shell(`echo "$LOOM_SE_A/$GREETING"`); r.Stdout != "from the run/hi\n" {
		t.Errorf("%q %v; want %q", r.Stdout, r.Err, "from the run/hi\n")
	}
	if r := c.Pty().Shell(`echo "$LOOM_SE_A"`); r.Stdout != "from the run\r\n" {
		t.Errorf("pty: %q %v", r.Stdout, r.Err)
	}
}
