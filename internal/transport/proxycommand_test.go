//go:build unix

package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/loomtest"
)

// bashRelay is an nc-like ProxyCommand that needs nothing but bash.
const bashRelay = `bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'`

// runOn runs cmd on c and returns its output.
func runOn(t *testing.T, c *Client, cmd string) string {
	t.Helper()
	s, release, err := c.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	return string(out)
}

// lines collects the stderr lines of ProxyCommands.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(host, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, host+": "+line)
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

// waitGone waits until process pid has exited (it is our child's child, so
// it is reaped by init, or by Wait).
func waitGone(t *testing.T, pidFile string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var pid int
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(pidFile)
		if pid, _ = strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid <= 0 {
		t.Fatalf("no pid in %s", pidFile)
	}
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		// A zombie waiting to be reaped counts as gone.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("ProxyCommand process %d still runs", pid)
}

// TestSSHDProxyCommand: a host reached through a ProxyCommand, nc-style
// (a bash relay) and ssh -W-style (the real ssh client through a jump
// sshd), with the tokens expanded; the command ends when the connection
// does. Before, every ProxyCommand was refused.
func TestSSHDProxyCommand(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	jump := sshdtest.Start(t, sshdtest.Options{})
	_, sshErr := exec.LookPath("ssh")
	dir := t.TempDir()
	jumpCfg := filepath.Join(dir, "jump_config")
	jump.WriteSSHConfig(jumpCfg, "jump")
	pidFile := filepath.Join(dir, "pid")

	for _, tc := range []struct{ name, cmd string }{
		{"nc-style", strings.ReplaceAll(bashRelay, "'", `"`)},
		{"ssh -W", "ssh -F " + jumpCfg + " -W %h:%p jump"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.cmd, "ssh ") && sshErr != nil {
				t.Skip("ssh not installed")
			}
			os.Remove(pidFile)
			// The shell records its pid, then becomes the command.
			cmd := `sh -c 'echo $$ > ` + pidFile + `; exec ` + tc.cmd + `'`
			h := resolveConfig(t, sshdConfig(s, s.KnownHosts, "ProxyCommand "+cmd), "target")
			var errs lines
			d := &Dialer{ProxyStderr: errs.add}
			defer d.Close()
			c, err := d.Dial(context.Background(), h)
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, errs.get())
			}
			if got := runOn(t, c, "echo via-proxy"); got != "via-proxy\n" {
				t.Errorf("output %q", got)
			}
			c.Close()
			waitGone(t, pidFile) // it ran, and it ended with the connection
		})
	}
	if jump.Connections() == 0 && sshErr == nil {
		t.Error("the ssh -W ProxyCommand did not go through the jump host")
	}
}

// TestProxyCommandFails: a ProxyCommand that exits is a one-line
// Unreachable error naming the command, its status and its last stderr
// line, shown once (not retried as a dropped handshake); its stderr goes to
// the host's lines.
func TestProxyCommandFails(t *testing.T) {
	h := resolveConfig(t, "Host target\n  HostName example.invalid\n  IdentityAgent none\n  ProxyCommand sh -c 'echo connecting to %h:%p >&2; echo refused >&2; exit 3'\n", "target")
	var errs lines
	d := &Dialer{ProxyStderr: errs.add}
	defer d.Close()
	_, err := d.Dial(context.Background(), h)
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Reason != Unreachable || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), ": refused") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v, want a one-line Unreachable error with the status and the last stderr line", err)
	}
	want := []string{"target: connecting to example.invalid:22", "target: refused"}
	if got := errs.get(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stderr lines %q, want %q", got, want)
	}
}

// TestProxyCommandBounded: a ProxyCommand that never speaks is bounded by
// the handshake deadline, and by the context; it is killed either way.
func TestProxyCommandBounded(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []string{"deadline", "cancel"} {
		t.Run(tc, func(t *testing.T) {
			pidFile := filepath.Join(dir, tc)
			h := resolveConfig(t, "Host target\n  IdentityAgent none\n  ConnectTimeout 1\n  ProxyCommand sh -c 'echo $$ > "+pidFile+"; exec sleep 1000'\n", "target")
			d := &Dialer{HandshakeTimeout: time.Second}
			if tc == "cancel" {
				d.HandshakeTimeout = time.Hour
				h.ConnectTimeout = time.Hour
			}
			defer d.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc == "cancel" {
				go func() {
					waitFile(pidFile)
					cancel()
				}()
			}
			start := time.Now()
			_, err := d.Dial(ctx, h)
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Reason != Timeout {
				t.Fatalf("error %v, want a Timeout", err)
			}
			if time.Since(start) > time.Minute {
				t.Errorf("took %v", time.Since(start))
			}
			waitGone(t, pidFile)
		})
	}
}

// waitFile waits until name exists and is not empty.
func waitFile(name string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(name); err == nil && len(b) > 0 {
			return
		}
	}
}

// TestSSHDProxyCommandHop: a jump host that is itself reached through a
// ProxyCommand, with its target behind it by ProxyJump; the jump
// connection (one ProxyCommand) serves every target.
func TestSSHDProxyCommandHop(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	jump := sshdtest.Start(t, sshdtest.Options{})
	counter := filepath.Join(t.TempDir(), "count")
	cfg := fmt.Sprintf("Host jump\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile none\n  ProxyCommand sh -c 'echo x >> %s; exec %s'\n",
		jump.Host, jump.Port, jump.User, jump.ClientKey, jump.KnownHosts, counter, strings.ReplaceAll(bashRelay, "'", `"`))
	conf, err := sshconfig.Parse(strings.NewReader(cfg+sshdConfig(s, s.KnownHosts, "ProxyJump jump")), "test")
	if err != nil {
		t.Fatal(err)
	}
	d := &Dialer{Resolve: func(hop string, via []string) (*sshconfig.Host, error) {
		return conf.Resolve(hop, sshconfig.Options{})
	}}
	defer d.Close()
	h, err := conf.Resolve("target", sshconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := d.Dial(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		if got := runOn(t, c, "echo hop"); got != "hop\n" {
			t.Errorf("output %q", got)
		}
		c.Close()
	}
	if b, _ := os.ReadFile(counter); string(b) != "x\n" {
		t.Errorf("ProxyCommand of the jump host ran %d times, want once", strings.Count(string(b), "x"))
	}
	if jump.Connections() != 1 {
		t.Errorf("jump host connections %d, want 1", jump.Connections())
	}
}

// TestProxyCommandEndsWithPeer: when the server drops the connection, the
// ProxyCommand ends with it (x/crypto closes the transport, the command's
// stdin is closed), not only when Loom closes the connection. The relay's
// half that reads the connection's stdin is in the background: it ends
// only when that stdin is closed.
func TestProxyCommandEndsWithPeer(t *testing.T) {
	l := newLab(t)
	s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{l.key.PublicKey()}, Logf: func(string, ...any) {}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(s.KnownHostsLine("")+"\n"), 0o600)
	pidFile := filepath.Join(t.TempDir(), "pid")
	relay := `bash -c "exec 3<>/dev/tcp/%h/%p 4<&0; cat <&4 >&3 & echo \$! > ` + pidFile + `; exec cat <&3 4<&-"`
	h := resolveConfig(t, fmt.Sprintf("Host target\n  HostName %s\n  Port %d\n  UserKnownHostsFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  IdentityFile %s\n  ProxyCommand %s\n", s.Host(), s.Port(), kh, l.id, relay), "target")
	d := &Dialer{}
	defer d.Close()
	c, err := d.Dial(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := runOn(t, c, "echo via-proxy"); got != "via-proxy\n" {
		t.Errorf("output %q", got)
	}
	waitFile(pidFile)
	if n := s.DropConnections(); n != 1 {
		t.Fatalf("dropped %d connections", n)
	}
	waitDone(t, c, "dropped by the server")
	waitGone(t, pidFile)
}
