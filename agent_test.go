package loom_test

import (
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/loomtest"
)

// localAgent serves an in-process agent holding the key in keyFile on a
// unix socket, and counts the connections made to it.
func localAgent(t *testing.T, keyFile string) (string, *atomic.Int32) {
	t.Helper()
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	kr.Add(agent.AddedKey{PrivateKey: priv, Comment: "deploy@laptop"})
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	return sock, &conns
}

func TestSSHDAgentForwarding(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ssh-add"); err != nil {
		t.Skip("OpenSSH client tools (ssh-add, ssh) not installed")
	}
	jump := sshdtest.Start(t, sshdtest.Options{AgentForwarding: true})
	a := sshdtest.Start(t, sshdtest.Options{AgentForwarding: true})
	b := sshdtest.Start(t, sshdtest.Options{}) // the hop's destination
	refusing := sshdtest.Start(t, sshdtest.Options{AgentForwarding: false})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	jump.WriteSSHConfig(cfg, "jump")
	a.WriteSSHConfig(cfg, "a")
	a.WriteSSHConfig(cfg, "a-via-jump")
	refusing.WriteSSHConfig(cfg, "refusing")
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("Host a-via-jump\n  ProxyJump jump\n")
	f.Close()
	// Remove the key file from the config: the key lives only in the agent.
	b2, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b2), "IdentitiesOnly yes", "IdentitiesOnly no")), 0o600)
	sock, conns := localAgent(t, a.ClientKey)

	// b trusts a's client key, which only the local agent holds.
	hop := agentHop(a, b)

	var stderr strings.Builder
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: sock, ForwardAgent: true, Stderr: &stderr}
	defer d.Close()
	c := dial(t, d, "a")
	if r := c.Run(hop...); r.Text() != b.User {
		t.Fatalf("hop with forwarded agent: %q %q %v", r.Stdout, r.Stderr, r.Err)
	}
	r := c.Run("ssh-add", "-l")
	if !strings.Contains(r.Stdout, "deploy@laptop") {
		t.Fatalf("ssh-add -l: %q %v", r.Stdout, r.Err)
	}
	if r := c.Warn().Run("ssh-add", "-D"); r.ExitCode == 0 {
		t.Fatal("ssh-add -D was allowed")
	}
	ops := map[string]int{}
	for _, e := range c.AgentEvents() {
		ops[e.Op]++
		if e.Host != "a" {
			t.Fatalf("event host %q", e.Host)
		}
	}
	if ops["sign"] == 0 || ops["list"] == 0 || len(ops) < 3 {
		t.Fatalf("agent events: %v", ops)
	}
	if conns.Load() == 0 || conns.Load() > 16 {
		t.Fatalf("local agent connections: %d", conns.Load())
	}

	// Through a jump host: the target gets the agent.
	cj := dial(t, d, "a-via-jump")
	if r := cj.Run(hop...); r.Text() != b.User {
		t.Fatalf("hop through jump: %q %q %v", r.Stdout, r.Stderr, r.Err)
	}

	// Without -A the hop fails: the test can tell.
	d2 := &loom.Dialer{ConfigFile: cfg, AgentSocket: sock}
	defer d2.Close()
	c2 := dial(t, d2, "a")
	if r := c2.Warn().Run(hop...); r.ExitCode == 0 {
		t.Fatal("hop worked without agent forwarding")
	}
	if got := c2.Shell(`echo "[$SSH_AUTH_SOCK]"`).Text(); got != "[]" {
		t.Fatalf("SSH_AUTH_SOCK without -A: %s", got)
	}

	// A server that refuses forwarding: a warning, and the command still runs.
	cr := dial(t, d, "refusing")
	if got := cr.Run("echo", "ran").Text(); got != "ran" {
		t.Fatalf("refusing server: %q", got)
	}
	if !strings.Contains(stderr.String(), "refused agent forwarding") {
		t.Fatalf("no warning for the refusing server: %q", stderr.String())
	}

	// A key allowlist that matches nothing: the remote sees no keys.
	d3 := &loom.Dialer{ConfigFile: cfg, AgentSocket: sock, ForwardAgent: true, AgentKeys: []string{"*@elsewhere"}}
	defer d3.Close()
	if r := dial(t, d3, "a").Warn().Run("ssh-add", "-l"); strings.Contains(r.Stdout, "deploy@laptop") {
		t.Fatalf("allowlist ignored: %q", r.Stdout)
	}
	// A host allowlist that leaves the host out: no forwarding.
	d4 := &loom.Dialer{ConfigFile: cfg, AgentSocket: sock, ForwardAgent: true, AgentHosts: []string{"web*"}}
	defer d4.Close()
	if got := dial(t, d4, "a").Shell(`echo "[$SSH_AUTH_SOCK]"`).Text(); got != "[]" {
		t.Fatalf("host allowlist ignored: %s", got)
	}
}

// The jump host never gets the agent; the target behind it does, once per
// connection however many commands run.
func TestAgentNotForwardedToJumpHost(t *testing.T) {
	signer, _ := ssh.NewSignerFromKey(mustEd25519(t))
	// Both servers try to open an agent channel to the client, as a
	// hostile jump host would: only the target, which the agent is
	// forwarded to, may get one.
	jump := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}, AllowTCPForwarding: true, ProbeAgent: true})
	target := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}, ProbeAgent: true})
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(jump.KnownHostsLine("")+"\n"+target.KnownHostsLine("")+"\n"), 0o600)
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte("Host jump\n  HostName "+jump.Host()+"\n  Port "+itoa(jump.Port())+"\n"+
		"Host target\n  HostName "+target.Host()+"\n  Port "+itoa(target.Port())+"\n  ProxyJump jump\n"+
		"Host *\n  UserKnownHostsFile "+kh+"\n  IdentitiesOnly yes\n"), 0o600)
	sock, _ := localAgent(t, writeKeyFile(t, dir))
	d := &loom.Dialer{ConfigFile: cfg, Signers: []ssh.Signer{signer}, AgentSocket: sock, ForwardAgent: true}
	defer d.Close()
	c := dial(t, d, "target")
	for i := 0; i < 3; i++ {
		if r := c.Shell(`test -S "$SSH_AUTH_SOCK" && echo agent`); r.Text() != "agent" {
			t.Fatalf("command %d on the target has no agent: %q %v", i, r.Stdout, r.Err)
		}
	}
	if n := target.AgentForwardRequests(); n != 1 {
		t.Fatalf("target got %d agent requests, want 1 per connection", n)
	}
	if n := jump.AgentForwardRequests(); n != 0 {
		t.Fatalf("the jump host got %d agent requests", n)
	}
	// The probes went out when the first channels opened; wait for their
	// answers with the connections still up (a closed connection would
	// refuse the probe for the wrong reason).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p, _ := jump.AgentProbes()
		q, _ := target.AgentProbes()
		if p == 1 && q == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent probes answered: jump %d, target %d; want 1 each", p, q)
		}
	}
	if _, accepted := jump.AgentProbes(); accepted != 0 {
		t.Fatal("the jump host could open an agent channel: the agent is forwarded to it")
	}
	if _, accepted := target.AgentProbes(); accepted != 1 {
		t.Fatalf("the target's agent channel was refused (%d accepted): the probe shows nothing", accepted)
	}
}

// writeKeyFile writes a fresh unencrypted key for the agent to hold.
func writeKeyFile(t *testing.T, dir string) string {
	block, _ := ssh.MarshalPrivateKey(mustEd25519(t), "agent key")
	p := filepath.Join(dir, "agent_key")
	os.WriteFile(p, pem.EncodeToMemory(block), 0o600)
	return p
}

// agentHop makes b trust a's client key and returns the command that,
// run on a, logs in to b with the forwarded agent and nothing else (ssh
// in batch mode, b's host key known) and prints the user.
func agentHop(a, b *sshdtest.Server) []string {
	ak, _ := os.OpenFile(filepath.Join(b.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	ak.Write(ssh.MarshalAuthorizedKey(a.ClientSigner.PublicKey()))
	ak.Close()
	kh := filepath.Join(a.Dir, "hop_known_hosts")
	os.WriteFile(kh, []byte(b.KnownHostsLine("")+"\n"), 0o644)
	return []string{"ssh", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + kh, "-o", "StrictHostKeyChecking=yes",
		"-p", itoa(b.Port), b.User + "@127.0.0.1", "id", "-un"}
}
