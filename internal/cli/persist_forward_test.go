//go:build unix

package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/agent"

	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/testkit"
)

// -A, -L and --remote-forward on a held host go through the holder: the
// host sees the run's agent (and --json has the run's agent requests),
// and tunnels carry bytes both ways, with no new login for the tunnels
// (real sshd).
func TestPersistAgentAndTunnels(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ssh-add"); err != nil {
		t.Skip("ssh-add not installed")
	}
	s := sshdtest.Start(t, sshdtest.Options{AgentForwarding: true})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "s1")
	useHolderDir(t)
	// An agent holding a key the host's ssh-add can list.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	kr := agent.NewKeyring()
	kr.Add(agent.AddedKey{PrivateKey: priv, Comment: "persist@laptop"})
	sock := filepath.Join(t.TempDir(), "agent.sock")
	testkit.Serve(t, "unix", sock, func(c net.Conn) { agent.ServeAgent(kr, c) })
	t.Setenv("SSH_AUTH_SOCK", sock)

	for i := range 2 {
		code, out, errs := run("-F", cfg, "--persist", "1m", "-A", "--json", "-H", "s1", "--", "ssh-add", "-l")
		if code != ExitOK || !strings.Contains(out, "persist@laptop") || !strings.Contains(out, `"op":"list"`) {
			t.Fatalf("run %d: -A through the holder: %d %q %q", i+1, code, out, errs)
		}
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("%d connections for two -A runs, want 1 held", n)
	}

	echo, local := echoServer(t), freePort(t)
	done := filepath.Join(s.Dir, "done-L")
	answer := talk(t, local, done)
	code, _, errs := run("-F", cfg, "--persist", "1m", "-H", "s1", "-L", fmt.Sprintf("%d:127.0.0.1:%d", local, echo), "--timeout", "120s", "--", "until [ -e "+done+" ]; do sleep 0.05; done")
	if a := <-answer; code != ExitOK || a != "echo: hello" {
		t.Fatalf("-L through the holder: exit %d answer %q err %q", code, a, errs)
	}

	remote := freePort(t)
	done = filepath.Join(s.Dir, "done-R")
	answer = talk(t, remote, done)
	code, _, errs = run("-F", cfg, "--persist", "1m", "-H", "s1", "--remote-forward", fmt.Sprintf("%d:127.0.0.1:%d", remote, echo), "--timeout", "120s", "--", "until [ -e "+done+" ]; do sleep 0.05; done")
	if a := <-answer; code != ExitOK || a != "echo: hello" {
		t.Fatalf("--remote-forward through the holder: exit %d answer %q err %q", code, a, errs)
	}
	if n := s.Connections(); n != 2 {
		t.Fatalf("%d connections, want 2 held (one forwarding the agent, one not)", n)
	}
}
