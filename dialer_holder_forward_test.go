//go:build unix

package loom_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/testkit"
)

// holderServer serves a holder in this process and returns its dir and
// server.
func holderServer(t *testing.T) (string, *holder.Server) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "holder")
	ln, lock, ok, err := holder.Listen(dir)
	if err != nil || !ok {
		t.Fatalf("holder: %v %v", ok, err)
	}
	s := &holder.Server{Logf: t.Logf}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	t.Cleanup(func() { s.Stop(); <-done; lock.Close() })
	return dir, s
}

// heldRun attaches d to the holder in dir as a run of its own, and
// returns the run's end (as the loom command's exit, or its kill: the
// holder sees the run go).
func heldRun(t *testing.T, d *loom.Dialer, dir string) (end func()) {
	t.Helper()
	c := holder.Lazy(holder.Options{Dir: dir, Persist: time.Minute, Warn: func(l string) { t.Errorf("holder warning: %s", l) }})
	holder.Use(d, c)
	end = func() { d.Close(); c.Close() }
	t.Cleanup(end)
	return end
}

// A held host gets the run's forwarded agent through the holder: the
// remote lists and signs with it, the filter refuses what it refuses, and
// AgentEvents has that run's requests only. A run that does not forward
// (or whose host the filter leaves out) gets no agent (real sshd).
func TestHeldAgentForwarding(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ssh-add"); err != nil {
		t.Skip("OpenSSH client tools (ssh-add, ssh) not installed")
	}
	a := sshdtest.Start(t, sshdtest.Options{AgentForwarding: true})
	b := sshdtest.Start(t, sshdtest.Options{}) // the hop's destination
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	a.WriteSSHConfig(cfg, "a")
	sock, _ := localAgent(t, a.ClientKey)
	// b trusts a's client key: the remote reaches b with the forwarded
	// agent and nothing else.
	hop := agentHop(a, b)
	dir, srv := holderServer(t)

	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: sock, ForwardAgent: true}
	end := heldRun(t, d, dir)
	c := dial(t, d, "a")
	if r := c.Run(hop...); r.Text() != b.User {
		t.Fatalf("hop with the agent forwarded through the holder: %q %q %v", r.Stdout, r.Stderr, r.Err)
	}
	if r := c.Run("ssh-add", "-l"); !strings.Contains(r.Stdout, "deploy@laptop") {
		t.Fatalf("ssh-add -l: %q %v", r.Stdout, r.Err)
	}
	if r := c.Warn().Run("ssh-add", "-D"); r.ExitCode == 0 {
		t.Fatal("ssh-add -D was allowed through the holder")
	}
	ops := map[string]int{}
	for _, e := range c.AgentEvents() {
		ops[e.Op]++
		if e.Host != "a" {
			t.Fatalf("event host %q", e.Host)
		}
	}
	if ops["sign"] == 0 || ops["list"] == 0 || ops["refused:remove-all"] == 0 {
		t.Fatalf("agent events of the run: %v", ops)
	}
	if n := a.Connections(); n != 1 {
		t.Fatalf("%d connections to a, want 1 (through the holder)", n)
	}
	end()
	testkit.WaitFor(t, "the holder to see the first run go", func() bool { return srv.Runs() == 0 })

	// The next run's filter applies on the same held connection: no key
	// matches, so the remote sees none and the hop fails; its events are
	// its own.
	d2 := &loom.Dialer{ConfigFile: cfg, AgentSocket: sock, ForwardAgent: true, AgentKeys: []string{"*@elsewhere"}}
	end2 := heldRun(t, d2, dir)
	c2 := dial(t, d2, "a")
	if r := c2.Warn().Run("ssh-add", "-l"); strings.Contains(r.Stdout, "deploy@laptop") {
		t.Fatalf("the key filter is ignored through the holder: %q", r.Stdout)
	}
	if r := c2.Warn().Run(hop...); r.ExitCode == 0 {
		t.Fatal("the hop worked with a filter that allows no key")
	}
	for _, e := range c2.AgentEvents() {
		if e.Op == "sign" && e.Err == "" || e.Op == "refused:remove-all" {
			t.Fatalf("the second run's events have the first run's: %v", e)
		}
	}
	if len(c2.AgentEvents()) == 0 {
		t.Fatal("no agent events for the second run")
	}
	if n := a.Connections(); n != 1 {
		t.Fatalf("%d connections to a, want the 1 held", n)
	}
	end2()

	// A host the agent host list leaves out, and a run without -A: no
	// agent, on a connection that never forwarded.
	for _, d := range []*loom.Dialer{
		{ConfigFile: cfg, AgentSocket: sock, ForwardAgent: true, AgentHosts: []string{"web*"}},
		{ConfigFile: cfg, AgentSocket: sock},
	} {
		heldRun(t, d, dir)
		if got := dial(t, d, "a").Shell(`echo "[$SSH_AUTH_SOCK]"`).Text(); got != "[]" {
			t.Fatalf("SSH_AUTH_SOCK without forwarding, through the holder: %s", got)
		}
	}
	if n := a.Connections(); n != 2 {
		t.Fatalf("%d connections to a, want 2 held: one forwarding, one not", n)
	}
}

// Port forwards of a held host go through the holder: a local forward
// carries bytes both ways, a remote forward brings the host's connections
// back to this run; two runs' forwards never mix, and a run killed with
// its remote forward open leaves the port free for the next (real sshd).
func TestHeldPortForwarding(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "web1")
	dir, srv := holderServer(t)
	echo := echoServer(t)

	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	heldRun(t, d, dir)
	c := dial(t, d, "web1")
	tun, err := c.ForwardLocal("127.0.0.1:0", echo)
	if err != nil {
		t.Fatalf("a local forward on a held host: %v", err)
	}
	for range 3 {
		if got := roundTrip(t, tun.Addr(), "ping"); got != "echo: ping" {
			t.Fatalf("local forward through the holder: %q", got)
		}
	}
	tun.Close()
	var seen string
	if err := c.WithTunnel(echo, func(addr string) error { seen = roundTrip(t, addr, "scoped"); return nil }); err != nil || seen != "echo: scoped" {
		t.Fatalf("WithTunnel through the holder: %v %q", err, seen)
	}

	// Two runs at once, each with its remote forward to a service of its
	// own.
	runs := make(chan string, 2)
	for _, name := range []string{"a", "b"} {
		d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
		heldRun(t, d, dir)
		c := dial(t, d, "web1")
		rt, err := c.ForwardRemote("127.0.0.1:0", testkit.LineServer(t, "run "+name+": "))
		if err != nil {
			t.Fatalf("a remote forward on a held host: %v", err)
		}
		defer rt.Close()
		go func() {
			for range 5 {
				if got := roundTrip(t, rt.Addr(), "hi"); got != "run "+name+": hi" {
					runs <- "run " + name + "'s remote forward answered " + got
					return
				}
			}
			runs <- ""
		}()
	}
	for range 2 {
		if bad := <-runs; bad != "" {
			t.Fatal(bad)
		}
	}

	// A run killed with its remote forward open: the holder cancels it.
	dk := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	kill := heldRun(t, dk, dir)
	rt, err := dial(t, dk, "web1").ForwardRemote("127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	port := rt.Addr()
	if got := roundTrip(t, port, "before"); got != "echo: before" {
		t.Fatalf("remote forward: %q", got)
	}
	kill()
	testkit.WaitFor(t, "the holder to see the killed run go", func() bool { return srv.Runs() <= 3 })
	dn := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	heldRun(t, dn, dir)
	cn := dial(t, dn, "web1")
	var again *loom.Tunnel
	testkit.WaitFor(t, "the next run to bind "+port, func() bool {
		again, err = cn.ForwardRemote(port, echo)
		return err == nil
	})
	if got := roundTrip(t, again.Addr(), "after"); got != "echo: after" {
		t.Fatalf("the next run's remote forward on the same port: %q", got)
	}
	again.Close()
	if n := s.Connections(); n != 1 {
		t.Fatalf("%d connections for every run's forwards, want 1 held", n)
	}

	// The local machine cannot forward, and says why.
	if _, err := loom.Local().ForwardLocal("127.0.0.1:0", echo); err == nil || !strings.Contains(err.Error(), "this machine") {
		t.Fatalf("a local Conn's forward: %v", err)
	}
}
