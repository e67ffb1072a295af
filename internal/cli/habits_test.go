package cli

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/testkit"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// echoServer answers each line with "echo: LINE"; it returns its port.
func echoServer(t *testing.T) int {
	_, port, _ := net.SplitHostPort(testkit.EchoServer(t))
	n, _ := strconv.Atoi(port)
	return n
}

// talk dials port until it answers (the forward is up) and returns the
// answer to one line; then it creates done, which ends the command.
func talk(t *testing.T, port int, done string) chan string {
	ch := make(chan string, 1)
	go func() {
		defer os.WriteFile(done, nil, 0o644)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				time.Sleep(20 * time.Millisecond) // polling a port: there is no event to wait for
				continue
			}
			fmt.Fprintln(c, "hello")
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil {
				ch <- strings.TrimSpace(line)
				return
			}
		}
		ch <- "no answer"
	}()
	return ch
}

// TestHabitsAgainstSSHD: -J, -L, --remote-forward, -e and --sudo-user
// as ssh users expect, against real OpenSSH sshd.
func TestHabitsAgainstSSHD(t *testing.T) {
	jump := sshdtest.Start(t, sshdtest.Options{})
	target := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	jump.WriteSSHConfig(cfg, "j")
	target.WriteSSHConfig(cfg, "s")
	ctx := context.Background()

	t.Run("J", func(t *testing.T) {
		before := jump.Connections()
		code, out, errs := run("-F", cfg, "-J", "j", "-H", "s", "--", "echo", "through")
		if code != ExitOK || out != "through\n" {
			t.Fatalf("exit %d out %q err %q", code, out, errs)
		}
		if jump.Connections() == before {
			t.Fatal("-J: the jump host was not used")
		}
		if code, _, errs := run("-F", cfg, "-J", "j", "-o", "ProxyJump=j", "-H", "s", "--", "true"); code != ExitUsage || !strings.Contains(errs, "give the jump hosts once") {
			t.Fatalf("-J and -o ProxyJump: %d %q", code, errs)
		}
	})
	t.Run("e", func(t *testing.T) {
		code, out, errs := run("-F", cfg, "-H", "s", "-e", "GREETING=hello there", "--env", "B=2", "--", `echo "$GREETING/$B"`)
		if code != ExitOK || out != "hello there/2\n" {
			t.Fatalf("exit %d out %q err %q", code, out, errs)
		}
		if code, _, errs := run("-F", cfg, "-H", "s", "-e", "1BAD=x", "--", "true"); code != ExitUsage || !strings.Contains(errs, "want NAME=VALUE") {
			t.Fatalf("-e 1BAD=x: %d %q", code, errs)
		}
	})
	t.Run("L", func(t *testing.T) {
		echo, local := echoServer(t), freePort(t)
		done := filepath.Join(target.Dir, "done-L") // readable by the login user
		answer := talk(t, local, done)
		spec := fmt.Sprintf("%d:127.0.0.1:%d", local, echo)
		code, _, errs := run("-F", cfg, "-H", "s", "-L", spec, "--timeout", "120s", "--", "until [ -e "+done+" ]; do sleep 0.05; done")
		if a := <-answer; code != ExitOK || a != "echo: hello" {
			t.Fatalf("exit %d answer %q err %q", code, a, errs)
		}
		if code, _, errs := run("-F", cfg, "-H", "s,j", "-L", spec, "--", "true"); code != ExitUsage || !strings.Contains(errs, "for one host") {
			t.Fatalf("-L on two hosts: %d %q", code, errs)
		}
	})
	t.Run("remote-forward", func(t *testing.T) {
		echo, remote := echoServer(t), freePort(t)
		done := filepath.Join(target.Dir, "done-R")
		answer := talk(t, remote, done)
		spec := fmt.Sprintf("%d:127.0.0.1:%d", remote, echo)
		code, _, errs := run("-F", cfg, "-H", "s", "--remote-forward", spec, "--timeout", "120s", "--", "until [ -e "+done+" ]; do sleep 0.05; done")
		if a := <-answer; code != ExitOK || a != "echo: hello" {
			t.Fatalf("exit %d answer %q err %q", code, a, errs)
		}
		if code, _, errs := run("-F", cfg, "-R", spec, "--", "true"); code != ExitUsage || !strings.Contains(errs, "--remote-forward") {
			t.Fatalf("-R SPEC: %d %q", code, errs)
		}
	})
	t.Run("sudo-user", func(t *testing.T) {
		if ok, why := sshdtest.CanSudo(); !ok {
			t.Skip(why)
		}
		var o, e strings.Builder
		code := Run(ctx, []string{"-F", cfg, "-H", "s", "--sudo-user", "nobody", "--sudo-password-stdin", "--", "id", "-un"},
			Env{Stdin: strings.NewReader(target.Password + "\n"), Stdout: &o, Stderr: &e})
		if code != ExitOK || strings.TrimSpace(o.String()) != "nobody" {
			t.Fatalf("exit %d out %q err %q", code, o.String(), e.String())
		}
	})
}

// TestOtherToolsHabitsAreSaid: pdsh's -f, pssh's -p and ssh's -l mean
// something else in loom; that is said, not silently done.
func TestOtherToolsHabitsAreSaid(t *testing.T) {
	cfg, _ := lab(t, 2)
	code, _, errs := run("-F", cfg, "-f", "50", "-H", "h1", "--", "true")
	if code != ExitUsage || !strings.Contains(errs, "-P 50") || strings.Count(errs, "\n") != 1 {
		t.Errorf("-f 50: %d %q", code, errs)
	}
	code, _, errs = run("-F", "none", "-p", "50", "-H", "web1,web2", "--dry-run", "--", "true")
	if code != ExitOK || !strings.Contains(errs, "warning: -p 50 is the remote port") || !strings.Contains(errs, "-P 50") || strings.Count(errs, "\n") != 1 {
		t.Errorf("-p 50: %d %q", code, errs)
	}
	code, _, errs = run("-F", cfg, "-l", "deploy", "-H", "h1", "--", "true")
	if code != ExitUsage || !strings.Contains(errs, "-u USER") {
		t.Errorf("-l deploy: %d %q", code, errs)
	}
}

// TestSameTargetOnce: h1 and its spelling with user and port are one
// target: run once, and said.
func TestSameTargetOnce(t *testing.T) {
	cfg, _, servers := labServers(t, 1)
	code, out, errs := run("-F", cfg, "-H", "h1,root@h1:"+strconv.Itoa(servers[0].Port()), "--", "echo", "once")
	if code != ExitOK || out != "once\n" || !strings.Contains(errs, "same target as h1") {
		t.Fatalf("exit %d out %q err %q", code, out, errs)
	}
}

// TestSingleHostExitStatus: with one host the command's exit status is
// loom's, as with ssh.
func TestSingleHostExitStatus(t *testing.T) {
	cfg, _ := lab(t, 2)
	if code, _, errs := run("-F", cfg, "-H", "h1", "--", "exit 7"); code != 7 {
		t.Fatalf("one host, exit 7: loom exited %d (%q)", code, errs)
	}
	if code, _, _ := run("-F", cfg, "-H", "h1,h2", "--", "exit 7"); code != ExitFailed {
		t.Fatalf("two hosts, exit 7: loom exited %d", code)
	}
}
