package loom_test

// Integration tests against a real OpenSSH sshd started by the test itself
// (internal/sshdtest). They skip, with the reason, only where sshd is not
// installed (or, for sudo and password tests, when not running as root).

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

// target starts an sshd and returns a Dialer whose ssh_config names it "target".
func target(t *testing.T, o sshdtest.Options) (*sshdtest.Server, *loom.Dialer) {
	t.Helper()
	s := sshdtest.Start(t, o)
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "target")
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	t.Cleanup(func() { d.Close() })
	return s, d
}

func dial(t *testing.T, d *loom.Dialer, host string) *loom.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, host)
	if err != nil {
		t.Fatalf("dial %s: %v", host, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSSHDRunAndReuse(t *testing.T) {
	s, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")
	if got := c.Run("id", "-un").Text(); got != s.User {
		t.Fatalf("id -un = %q, want %q", got, s.User)
	}
	// Arguments reach the program exactly, whatever shell syntax they hold.
	weird := `it's "$HOME" $(id) ; rm -rf / * \n`
	if got := c.Run("printf", "%s", weird).Stdout; got != weird {
		t.Fatalf("printf got %q, want %q", got, weird)
	}
	r := c.Shell("echo out; echo err >&2; echo a b c | wc -w")
	if r.Stdout != "out\n3\n" || r.Stderr != "err\n" || r.ExitCode != 0 || r.Err != nil {
		t.Fatalf("shell result %+v", r)
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("%d connections for 3 commands, want 1 reused", n)
	}
}

func TestSSHDExitCodes(t *testing.T) {
	_, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")

	r := c.Warn().Shell("echo boom >&2; exit 3")
	var ee *loom.ExitError
	if !errors.As(r.Err, &ee) || ee.Code != 3 || r.ExitCode != 3 || !strings.Contains(ee.Error(), "boom") {
		t.Fatalf("warn: err %v, code %d", r.Err, r.ExitCode)
	}
	if c.Err() != nil {
		t.Fatalf("Warn recorded a failure: %v", c.Err())
	}
	if r := c.OkExit(1).Run("false"); !r.OK() || r.ExitCode != 1 {
		t.Fatalf("OkExit(1) false: %+v", r)
	}
	if r := c.Run("false"); r.Err == nil || c.Err() == nil {
		t.Fatalf("false did not fail: %+v", r)
	}
	r = c.Run("touch", "should-not-run")
	if !errors.Is(r.Err, loom.ErrSkipped) {
		t.Fatalf("after a failure, got %v, want ErrSkipped", r.Err)
	}
	c.ResetErr()
	if r := c.Shell("kill -TERM $$"); r.Signal != "TERM" || r.ExitCode != -1 {
		t.Fatalf("killed: signal %q code %d err %v", r.Signal, r.ExitCode, r.Err)
	}
}

func TestSSHDScopes(t *testing.T) {
	s, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")
	os.MkdirAll(filepath.Join(s.Dir, "a b", "c"), 0o755)
	app := c.Cd(s.Dir).Cd("a b").Env("GREETING", "hi 'there' $USER").Prefix("export LEVEL=1").Prefix("LEVEL=$((LEVEL+1))")
	r := app.Shell(`echo "$PWD|$GREETING|$LEVEL"`)
	want := filepath.Join(s.Dir, "a b") + "|hi 'there' $USER|2\n"
	if r.Stdout != want {
		t.Fatalf("scoped shell: got %q want %q (err %v)", r.Stdout, want, r.Err)
	}
	if got := app.Cd("c").Run("pwd").Text(); got != filepath.Join(s.Dir, "a b", "c") {
		t.Fatalf("nested cd: %q", got)
	}
	if got := c.Run("pwd").Text(); got == filepath.Join(s.Dir, "a b") {
		t.Fatal("scope leaked into the parent Conn")
	}
	if r := c.Cd("/nonexistent-dir").Run("true"); r.Err == nil {
		t.Fatal("cd into a missing dir did not fail")
	}
	c.ResetErr()
	if r := c.Env("BAD NAME", "x").Run("true"); r.Err == nil || !strings.Contains(r.Err.Error(), "BAD NAME") {
		t.Fatalf("bad env name: %v", r.Err)
	}
}

func TestSSHDStreamStdinPtyRespond(t *testing.T) {
	_, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")
	var live strings.Builder
	r := c.Stream(&live, &live).Shell("echo one; echo two >&2")
	if r.Stdout != "one\n" || r.Stderr != "two\n" || !strings.Contains(live.String(), "one\n") || !strings.Contains(live.String(), "two\n") {
		t.Fatalf("stream: result %q %q live %q", r.Stdout, r.Stderr, live.String())
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
	if got := c.Warn().Run("tty").Text(); got != "not a tty" {
		t.Fatalf("no pty: tty says %q", got)
	}
	r = c.Respond(`Proceed\? \[y/N\] `, "y\n").Shell(`printf 'Proceed? [y/N] '; read a; echo "answer=$a"`)
	if !strings.Contains(r.Stdout, "answer=y") {
		t.Fatalf("respond: %q %v", r.Stdout, r.Err)
	}
}

func TestSSHDTimeoutAndCancel(t *testing.T) {
	_, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")
	start := time.Now()
	r := c.Timeout(300*time.Millisecond).Run("sleep", "31.25")
	var te *loom.TimeoutError
	if !errors.As(r.Err, &te) {
		t.Fatalf("timeout: got %v", r.Err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("timeout took %v", el)
	}
	c.ResetErr()
	// The remote process was signalled, not left running.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := c.Warn().Shell("pgrep -f 'sleep 31[.]25' || true")
		if strings.TrimSpace(r.Stdout) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote sleep still running: %q", r.Stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	r = c.WithContext(ctx).Cd("/tmp").Run("sleep", "32.5")
	if !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("cancel: got %v", r.Err)
	}
}

func TestSSHDManySessionsOneConn(t *testing.T) {
	s, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.Warn().Run("sleep", "0.2"); r.Err != nil {
				t.Log(r.Err)
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 || s.Connections() != 1 {
		t.Fatalf("%d of 24 concurrent commands failed over %d connections", bad.Load(), s.Connections())
	}
}

func TestSSHDHostKeys(t *testing.T) {
	s, d := target(t, sshdtest.Options{})
	ctx := context.Background()

	// Unknown host: an empty known_hosts file.
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	d2 := &loom.Dialer{ConfigFile: d.ConfigFile, Options: []string{"UserKnownHostsFile=" + empty}, AgentSocket: "/nonexistent"}
	_, err := d2.Dial(ctx, "target")
	var ce *loom.ConnectError
	if !errors.As(err, &ce) || ce.Reason != loom.ReasonHostKey || !strings.Contains(err.Error(), empty) || !strings.Contains(err.Error(), "SHA256:") {
		t.Fatalf("unknown host: %v", err)
	}

	// accept-new records it once, then it is known.
	d3 := &loom.Dialer{ConfigFile: d.ConfigFile, Options: []string{"UserKnownHostsFile=" + empty}, HostKeyCheck: loom.AcceptNewHostKeys, AgentSocket: "/nonexistent"}
	c, err := d3.Dial(ctx, "target")
	if err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	c.Close()
	b, _ := os.ReadFile(empty)
	if n := strings.Count(string(b), "\n"); n != 1 || !strings.Contains(string(b), "[127.0.0.1]:") {
		t.Fatalf("accept-new wrote %q", b)
	}
	d4 := &loom.Dialer{ConfigFile: d.ConfigFile, Options: []string{"UserKnownHostsFile=" + empty}, AgentSocket: "/nonexistent"}
	if c, err := d4.Dial(ctx, "target"); err != nil {
		t.Fatalf("strict, after accept-new recorded the key: %v", err)
	} else {
		c.Close()
	}

	// A wrong key for the host: refused, naming host, file and line.
	other, _ := ssh.NewSignerFromKey(mustEd25519(t))
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(wrong, []byte("# a comment\n"+knownhosts.Line([]string{"[127.0.0.1]:" + itoa(s.Port)}, other.PublicKey())+"\n"), 0o600)
	for _, check := range []loom.HostKeyCheck{loom.HostKeysFromConfig, loom.AcceptNewHostKeys} {
		d5 := &loom.Dialer{ConfigFile: d.ConfigFile, Options: []string{"UserKnownHostsFile=" + wrong}, HostKeyCheck: check, AgentSocket: "/nonexistent"}
		_, err = d5.Dial(ctx, "target")
		if !errors.As(err, &ce) || ce.Reason != loom.ReasonHostKey || !strings.Contains(err.Error(), wrong+":2") {
			t.Fatalf("mismatch (%v): %v", check, err)
		}
	}
	// Only when asked by name is the check off.
	d6 := &loom.Dialer{ConfigFile: d.ConfigFile, Options: []string{"UserKnownHostsFile=" + wrong}, HostKeyCheck: loom.InsecureIgnoreHostKeys, AgentSocket: "/nonexistent", Stderr: &strings.Builder{}}
	c, err = d6.Dial(ctx, "target")
	if err != nil {
		t.Fatalf("insecure: %v", err)
	}
	c.Close()
}

func TestSSHDAgentAuth(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	keyring := agent.NewKeyring()
	raw, err := os.ReadFile(s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	keyring.Add(agent.AddedKey{PrivateKey: priv})
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var served atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte("Host target\n  HostName 127.0.0.1\n  Port "+itoa(s.Port)+"\n  User "+s.User+"\n  UserKnownHostsFile "+s.KnownHosts+"\n  IdentityFile /nonexistent/key\n"), 0o600)
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: sock}
	defer d.Close()
	c := dial(t, d, "target")
	if got := c.Run("id", "-un").Text(); got != s.User || served.Load() == 0 {
		t.Fatalf("agent auth: %q, agent used %d times", got, served.Load())
	}
	// Without the agent the same config cannot log in: the test can fail.
	d2 := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	_, err = d2.Dial(context.Background(), "target")
	var ce *loom.ConnectError
	if !errors.As(err, &ce) || ce.Reason != loom.ReasonAuth {
		t.Fatalf("without agent: %v", err)
	}
}

func TestSSHDPasswordAuthAskedOnce(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{Password: true})
	if s.Password == "" {
		t.Skip("password auth needs root to give the test user a password")
	}
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte("Host target target2\n  HostName 127.0.0.1\n  Port "+itoa(s.Port)+"\n  User "+s.User+"\n  UserKnownHostsFile "+s.KnownHosts+"\n  PubkeyAuthentication no\n"), 0o600)
	var asked atomic.Int32
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent", Prompt: loom.PromptFunc(func(ctx context.Context, prompt string, echo bool) (string, error) {
		asked.Add(1)
		if echo || !strings.Contains(prompt, "password") {
			t.Errorf("unexpected prompt %q echo=%v", prompt, echo)
		}
		return s.Password, nil
	})}
	defer d.Close()
	for _, h := range []string{"target", "target2"} {
		if got := dial(t, d, h).Run("id", "-un").Text(); got != s.User {
			t.Fatalf("%s: %q", h, got)
		}
	}
	if asked.Load() != 1 {
		t.Fatalf("password asked %d times, want once per run", asked.Load())
	}
	// No prompter and no password: a clear authentication error, no hang.
	d2 := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	_, err := d2.Dial(context.Background(), "target")
	var ce *loom.ConnectError
	if !errors.As(err, &ce) || ce.Reason != loom.ReasonAuth {
		t.Fatalf("no password: %v", err)
	}
}

func TestSSHDProxyJumpShared(t *testing.T) {
	jump := sshdtest.Start(t, sshdtest.Options{})
	t1 := sshdtest.Start(t, sshdtest.Options{})
	t2 := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	jump.WriteSSHConfig(cfg, "bastion")
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("Host t1 t2\n  ProxyJump bastion\n")
	f.Close()
	t1.WriteSSHConfig(cfg, "t1")
	t2.WriteSSHConfig(cfg, "t2")
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	defer d.Close()
	for _, h := range []*struct {
		name string
		s    *sshdtest.Server
	}{{"t1", t1}, {"t2", t2}} {
		c := dial(t, d, h.name)
		if got := c.Shell("echo $SSH_CONNECTION").Text(); !strings.HasSuffix(got, " "+itoa(h.s.Port)) {
			t.Fatalf("%s: SSH_CONNECTION %q", h.name, got)
		}
	}
	if jump.Connections() != 1 || t1.Connections() != 1 || t2.Connections() != 1 {
		t.Fatalf("connections: jump %d t1 %d t2 %d; want one each (jump shared)", jump.Connections(), t1.Connections(), t2.Connections())
	}
	// A broken jump host is reported against the target, naming the hop.
	f, _ = os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("Host t3\n  HostName 127.0.0.1\n  ProxyJump nobody@127.0.0.1:1\n")
	f.Close()
	d2 := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	defer d2.Close()
	if _, err := d2.Dial(context.Background(), "t3"); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("bad jump: %v", err)
	}
}

func TestSSHDSudo(t *testing.T) {
	if ok, why := sshdtest.CanSudo(); !ok {
		t.Skip(why)
	}
	s := sshdtest.Start(t, sshdtest.Options{Password: true})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "target")
	var asked atomic.Int32
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent", Prompt: loom.PromptFunc(func(context.Context, string, bool) (string, error) {
		asked.Add(1)
		return s.Password, nil
	})}
	defer d.Close()
	c := dial(t, d, "target").Timeout(20 * time.Second)
	// sudo caches credentials per tty; -k style freshness is not needed:
	// there is no tty, so every sudo asks.
	r := c.Sudo("id", "-un")
	if r.Text() != "root" || r.Err != nil {
		t.Fatalf("sudo id: %q %q %v", r.Stdout, r.Stderr, r.Err)
	}
	r = c.Cd("/tmp").Env("WHO", "loom").Prefix("export X=1").SudoShell(`echo "$(id -un) $PWD $WHO $X"`)
	if r.Text() != "root /tmp loom 1" {
		t.Fatalf("sudo with scopes: %q %q %v", r.Stdout, r.Stderr, r.Err)
	}
	if got := c.As(s.User).Sudo("id", "-un").Text(); got != s.User {
		t.Fatalf("sudo -u: %q", got)
	}
	if got := c.Stdin(strings.NewReader("via stdin")).Sudo("cat").Stdout; got != "via stdin" {
		t.Fatalf("sudo stdin: %q", got)
	}
	if asked.Load() != 1 {
		t.Fatalf("sudo password asked %d times, want 1", asked.Load())
	}
	for _, out := range []string{r.Stdout, r.Stderr} {
		if strings.Contains(out, s.Password) || strings.Contains(out, "loom-sudo") {
			t.Fatalf("password or prompt leaked into output: %q", out)
		}
	}
	// A wrong password is a clear error, not a hang.
	d2 := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent", SudoPassword: loom.NewSecret("wrong-password")}
	defer d2.Close()
	start := time.Now()
	r = dial(t, d2, "target").Timeout(30 * time.Second).Sudo("true")
	var se *loom.SudoError
	if !errors.As(r.Err, &se) || !strings.Contains(se.Error(), "incorrect password") || time.Since(start) > 15*time.Second {
		t.Fatalf("wrong sudo password: %v after %v", r.Err, time.Since(start))
	}
	if strings.Contains(r.Stdout+r.Stderr, "wrong-password") {
		t.Fatal("password in output")
	}
	// No password and nobody to ask.
	d3 := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	defer d3.Close()
	r = dial(t, d3, "target").Timeout(30 * time.Second).Sudo("true")
	if !errors.As(r.Err, &se) || !strings.Contains(se.Error(), "no terminal") {
		t.Fatalf("sudo without password: %v", r.Err)
	}
}
