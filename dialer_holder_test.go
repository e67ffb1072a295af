//go:build unix

package loom_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/testkit"
)

// heldDialer returns a Dialer whose hosts are held by the in-process
// holder serving dir (a run of its own, as a loom command is).
func heldDialer(t *testing.T, cfg, dir string) *loom.Dialer {
	t.Helper()
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	heldRun(t, d, dir)
	return d
}

// serveHolder runs a holder in this process and returns its directory.
func serveHolder(t *testing.T) string {
	t.Helper()
	dir, _ := holderServer(t)
	return dir
}

// A task's file operations on a held host go through the holder, and two
// runs share one login (real sshd).
func TestHeldHostFileOperations(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "web1")
	dir := serveHolder(t)
	remote := filepath.Join(s.Home, "held-files")
	os.RemoveAll(remote)
	t.Cleanup(func() { os.RemoveAll(remote) })
	local := filepath.Join(t.TempDir(), "app.conf")
	os.WriteFile(local, []byte("port = 8080\n"), 0o640)

	for i := range 2 {
		d := heldDialer(t, cfg, dir)
		c, err := d.Dial(context.Background(), "web1")
		if err != nil {
			t.Fatal(err)
		}
		if tr := c.Put(local, "held-files/app.conf"); !tr.OK() {
			t.Fatalf("run %d: put through the holder: %v", i+1, tr.Err)
		}
		if r := c.Shell("cat held-files/app.conf"); r.Stdout != "port = 8080\n" {
			t.Fatalf("run %d: %q %v", i+1, r.Stdout, r.Err)
		}
		back := filepath.Join(t.TempDir(), "back.conf")
		if tr := c.Get("held-files/app.conf", back); !tr.OK() {
			t.Fatalf("run %d: get through the holder: %v", i+1, tr.Err)
		}
		if b, _ := os.ReadFile(back); string(b) != "port = 8080\n" {
			t.Fatalf("run %d: got %q", i+1, b)
		}
		c.Close()
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("sshd had %d connections for two runs through the holder, want 1", n)
	}
}

// Ctrl-C in one run (its context ends) interrupts only that run's
// commands: another run's command on the same held connection goes on
// (real sshd).
func TestHeldInterruptOnlyThatRun(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "web1")
	dir := serveHolder(t)
	mark := filepath.Join(s.Home, "held-interrupt-started")
	os.Remove(mark)
	t.Cleanup(func() { os.Remove(mark) })

	c1, err := heldDialer(t, cfg, dir).Dial(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := heldDialer(t, cfg, dir).Dial(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	b := make(chan *loom.Result, 1)
	go func() { b <- c2.Shell("sleep 3; echo b-done") }()
	ctx, cancel := context.WithCancel(context.Background())
	a := make(chan *loom.Result, 1)
	go func() { a <- c1.WithContext(ctx).Shell("touch " + mark + "; sleep 60; echo a-done") }()
	testkit.WaitFor(t, "run a's command to start", func() bool { _, err := os.Stat(mark); return err == nil })
	cancel()
	select {
	case r := <-a:
		if r.Err == nil || strings.Contains(r.Stdout, "a-done") {
			t.Fatalf("run a after Ctrl-C: %q %v", r.Stdout, r.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run a's command was not interrupted")
	}
	r := <-b
	if r.Err != nil || r.Stdout != "b-done\n" {
		t.Fatalf("run b's command: %q %v", r.Stdout, r.Err)
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("%d connections, want 1 held", n)
	}
}

// Two runs at once on one held connection each get their own output and
// exit status, never the other's (real sshd).
func TestHeldRunsDoNotMix(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "web1")
	dir := serveHolder(t)
	results := make(chan string, 2)
	for _, name := range []string{"a", "b"} {
		c, err := heldDialer(t, cfg, dir).Dial(context.Background(), "web1")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			var bad []string
			want := ""
			for j := 1; j <= 200; j++ {
				want += name + "-" + strconv.Itoa(j) + "\n"
			}
			for i := range 5 {
				r := c.Shell("for j in $(seq 200); do echo " + name + "-$j; echo " + name + "-err >&2; done")
				if r.Stdout != want || strings.Count(r.Stderr, "-err") != strings.Count(r.Stderr, name+"-err") || r.Err != nil {
					bad = append(bad, fmt.Sprintf("%s run %d: stdout %d bytes, stderr %q, %v", name, i, len(r.Stdout), r.Stderr, r.Err))
				}
			}
			code := map[string]int{"a": 3, "b": 4}[name]
			var ee *loom.ExitError
			if r := c.Shell("exit " + strconv.Itoa(code)); !errors.As(r.Err, &ee) || ee.Code != code {
				bad = append(bad, fmt.Sprintf("%s: exit %d: %v", name, code, r.Err))
			}
			results <- strings.Join(bad, "; ")
		}()
	}
	for range 2 {
		if bad := <-results; bad != "" {
			t.Fatal(bad)
		}
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("%d connections, want 1 held", n)
	}
}

// On a held host, ssh_config's SendEnv sends the run's own variables (not
// the holder's, which has the environment of the run that started it) and
// SetEnv its values, with each command.
func TestHeldHostSendsEnv(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{Extra: "AcceptEnv LOOM_SE_* GREETING\n"})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "web1")
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("  SendEnv LOOM_SE_*\n  SetEnv GREETING=hi\n")
	f.Close()
	dir := serveHolder(t)
	for _, v := range []string{"first run", "second run"} {
		t.Setenv("LOOM_SE_A", v)
		d := heldDialer(t, cfg, dir)
		c, err := d.Dial(context.Background(), "web1")
		if err != nil {
			t.Fatal(err)
		}
		if c.Client() != nil {
			t.Fatal("web1 is not held")
		}
		if r := c.Shell(`echo "$LOOM_SE_A/$GREETING"`); r.Err != nil || r.Stdout != v+"/hi\n" {
			t.Errorf("%s: %q %v; want %q", v, r.Stdout, r.Err, v+"/hi\n")
		}
		c.Close()
	}
}
