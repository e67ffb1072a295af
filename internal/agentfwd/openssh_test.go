package agentfwd

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/loomssh/loom/internal/sshdtest"
)

// writeKeyFiles writes k as an OpenSSH private key file (mode 0600) and its
// .pub, and returns the private key's path.
func writeKeyFiles(t *testing.T, dir string, k testKey) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(k.priv, k.comment)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.NewReplacer("@", "_", "/", "_").Replace(k.comment))
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(k.pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// openssh runs an OpenSSH tool with SSH_AUTH_SOCK=sock and returns its
// combined output and exit status.
func openssh(t *testing.T, sock string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(requireTool(t, name), args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock, "SSH_ASKPASS=/bin/false", "DISPLAY=")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// TestSSHAddInterop points OpenSSH's own ssh-add and ssh-keygen at the
// filtering agent, served both by this package's Serve loop and by
// agent.ServeAgent, with a real ssh-agent upstream.
func TestSSHAddInterop(t *testing.T) {
	requireTool(t, "ssh-add")
	upstream := startSSHAgent(t)
	alice, deploy := newKey(t, "alice@laptop"), newKey(t, "deploy-ci")
	addToAgent(t, upstream, alice, deploy)
	dir := t.TempDir()
	deployFile := writeKeyFiles(t, dir, deploy)
	// Only public key files for signing, so that ssh-keygen must use the agent.
	pubDir := t.TempDir()
	deployPub, alicePub := filepath.Join(pubDir, "deploy.pub"), filepath.Join(pubDir, "alice.pub")
	for path, k := range map[string]testKey{deployPub: deploy, alicePub: alice} {
		if err := os.WriteFile(path, ssh.MarshalAuthorizedKey(k.pub), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	planted := writeKeyFiles(t, dir, newKey(t, "planted"))
	up := NewUpstream(upstream, 4)
	defer up.Close()
	// agent.ServeAgent logs every refusal with log.Printf; keep the test output clean.
	old := log.Writer()
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(old) })

	for name, serve := range map[string]func(*Agent, net.Conn){
		"Serve":      func(a *Agent, c net.Conn) { serveConn(context.Background(), a, c) },
		"ServeAgent": func(a *Agent, c net.Conn) { agent.ServeAgent(a, c) },
	} {
		t.Run(name, func(t *testing.T) {
			a := New(up, "web1", Policy{Keys: []string{"deploy-*"}}, nil)
			sock := serveSocket(t, func(c net.Conn) { serve(a, c) })

			out, code := openssh(t, sock, "ssh-add", "-l")
			t.Logf("ssh-add -l (exit %d):\n%s", code, out)
			if code != 0 || !strings.Contains(out, deploy.fp) || strings.Contains(out, alice.fp) {
				t.Errorf("ssh-add -l should list %s only", deploy.fp)
			}
			out, code = openssh(t, sock, "ssh-add", "-L")
			if code != 0 || strings.TrimSpace(out) != strings.TrimSpace(string(ssh.MarshalAuthorizedKey(deploy.pub)))+" deploy-ci" {
				t.Errorf("ssh-add -L (exit %d):\n%s", code, out)
			}

			for _, tc := range []struct {
				args []string
				want string
				op   string
			}{
				{[]string{"-D"}, "Failed to remove all identities", OpRefusedRemoveAll},
				{[]string{planted}, "Could not add identity", OpRefusedAdd},
				{[]string{"-d", deployFile}, "Could not remove identity", OpRefusedRemove},
				{[]string{"-t", "60", planted}, "Could not add identity", OpRefusedAdd},
			} {
				out, code := openssh(t, sock, "ssh-add", tc.args...)
				t.Logf("ssh-add %s (exit %d): %s", strings.Join(tc.args, " "), code, strings.TrimSpace(out))
				if code == 0 || !strings.Contains(out, tc.want) {
					t.Errorf("ssh-add %s: exit %d, output %q; want a failure saying %q", strings.Join(tc.args, " "), code, out, tc.want)
				}
				if ev := a.Events(); ev[len(ev)-1].Op != tc.op {
					t.Errorf("ssh-add %s: last event %+v, want %s", strings.Join(tc.args, " "), ev[len(ev)-1], tc.op)
				}
			}

			// Real signatures, made by ssh-keygen through the filter.
			sign := func(pubFile string) (string, int) {
				data := filepath.Join(t.TempDir(), "data")
				if err := os.WriteFile(data, []byte("release v1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				out, code := openssh(t, sock, "ssh-keygen", "-Y", "sign", "-n", "file", "-f", pubFile, data)
				if _, err := os.Stat(data + ".sig"); (err == nil) != (code == 0) {
					t.Errorf("ssh-keygen exit %d, but signature file: %v", code, err)
				}
				return out, code
			}
			before := a.Signatures()
			if out, code := sign(deployPub); code != 0 {
				t.Errorf("ssh-keygen -Y sign with the allowed key (exit %d): %s", code, out)
			}
			out, code = sign(alicePub)
			t.Logf("ssh-keygen -Y sign with a key not allowed (exit %d): %s", code, strings.TrimSpace(out))
			if code == 0 {
				t.Error("ssh-keygen signed with a key not allowed")
			}
			if got := a.Signatures() - before; got != 1 {
				t.Errorf("%d signatures, want 1", got)
			}
			// ssh-keygen does not even ask: the key is not listed. (A sign
			// request for a guessed key is tested in TestServe.)
			if !strings.Contains(out, "No private key found") {
				t.Errorf("ssh-keygen should not find alice's key in the agent")
			}
			var signs []Event
			for _, e := range a.Events() {
				if e.Op == OpSign {
					signs = append(signs, e)
				}
			}
			if len(signs) != 1 || signs[0].Key != deploy.fp || signs[0].Comment != "deploy-ci" || signs[0].Err != "" {
				t.Errorf("sign events %+v: want one, deploy-ci signed", signs)
			}
		})
	}
	// Nothing reached the real agent.
	keys := listAgent(t, upstream)
	if len(keys) != 2 {
		t.Errorf("real agent holds %d keys, want the 2 it started with", len(keys))
	}
}

// TestForwardThroughSSHD is the whole path with real OpenSSH: Loom connects
// to host A with the filtering agent forwarded; on A, ssh-add and ssh use it
// to log in to host B. Only an allowed key gets through.
func TestForwardThroughSSHD(t *testing.T) {
	requireTool(t, "ssh")
	hostA := sshdtest.Start(t, sshdtest.Options{AgentForwarding: true})
	hostB := sshdtest.Start(t, sshdtest.Options{})
	raw, err := os.ReadFile(hostB.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	bKey, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	other := newKey(t, "other")
	f := startFakeAgent(t, keyring(t, other))
	if err := f.ag.Add(agent.AddedKey{PrivateKey: bKey, Comment: "hop-key"}); err != nil {
		t.Fatal(err)
	}
	hopFP := ssh.FingerprintSHA256(hostB.ClientSigner.PublicKey())
	up := NewUpstream(f.path, 2)
	defer up.Close()

	hop := fmt.Sprintf("ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes "+
		"-o UserKnownHostsFile=%s -o IdentitiesOnly=no -p %d %s@%s echo hop-ok",
		hostB.KnownHosts, hostB.Port, hostB.User, hostB.Host)
	script := "ssh-add -l; ssh-add -D; echo remove-all=$?; " + hop + " 2>&1; echo hop=$?"

	for _, tc := range []struct {
		name    string
		keys    []string
		wantHop bool
	}{
		{"allowed", []string{"hop-*"}, true},
		{"not allowed", []string{other.fp}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var recorded []Event
			a := New(up, "hostA", Policy{Keys: tc.keys}, func(e Event) { mu.Lock(); recorded = append(recorded, e); mu.Unlock() })
			sess := forwardedSession(t, hostA, a)
			outb, err := sess.CombinedOutput(script)
			out := string(outb)
			t.Logf("on host A:\n%s", out)
			if err != nil {
				t.Fatalf("remote script: %v", err)
			}
			if strings.Contains(out, hopFP) != tc.wantHop || strings.Contains(out, other.fp) == tc.wantHop {
				t.Errorf("ssh-add -l on A lists the wrong keys")
			}
			if !strings.Contains(out, "Failed to remove all identities") || !strings.Contains(out, "remove-all=1") {
				t.Errorf("ssh-add -D on A did not fail")
			}
			if strings.Contains(out, "hop-ok") != tc.wantHop || strings.Contains(out, "hop=0") != tc.wantHop {
				t.Errorf("hop to B through the forwarded agent: want success %v", tc.wantHop)
			}
			mu.Lock()
			defer mu.Unlock()
			var signed, removeAll bool
			for _, e := range recorded {
				if e.Host != "hostA" {
					t.Errorf("event for host %q", e.Host)
				}
				signed = signed || (e.Op == OpSign && e.Key == hopFP && e.Comment == "hop-key" && e.Err == "")
				removeAll = removeAll || e.Op == OpRefusedRemoveAll
			}
			if signed != tc.wantHop || !removeAll {
				t.Errorf("events %v: want signed with %s: %v, and refused:remove-all", recorded, hopFP, tc.wantHop)
			}
			if a.Signatures() != map[bool]int{true: 1, false: 0}[tc.wantHop] {
				t.Errorf("Signatures = %d", a.Signatures())
			}
		})
	}
	if keys := listAgent(t, f.path); len(keys) != 2 {
		t.Errorf("real agent holds %d keys, want 2", len(keys))
	}
}

// forwardedSession connects to host, serves a on the connection's agent
// channels and returns a session that asked for the agent; all are closed
// when the test ends.
func forwardedSession(t *testing.T, host *sshdtest.Server, a *Agent) *ssh.Session {
	t.Helper()
	client, err := ssh.Dial("tcp", host.Addr, host.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := Serve(client, a); err != nil {
		t.Fatal(err)
	}
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	if err := agent.RequestAgentForwarding(sess); err != nil {
		t.Fatal(err)
	}
	return sess
}
