//go:build unix

package loomtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// sshBinary returns the OpenSSH client, or skips the test if there is none.
func sshBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no OpenSSH client (ssh) in PATH; skipping interoperability test")
	}
	return bin
}

// clientKeyFile writes a fresh ed25519 key in OpenSSH format and returns its
// path and public half.
func clientKeyFile(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "loomtest")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return file, signer.PublicKey()
}

// sshArgs returns OpenSSH client arguments that connect to port, trusting
// only the host key of trusted, and ignore every configuration file and
// agent of the machine.
func sshArgs(t *testing.T, port int, trusted *Server) []string {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := trusted.KnownHostsLine(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"-F", "/dev/null",
		"-p", strconv.Itoa(port),
		"-o", "UserKnownHostsFile=" + kh,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "IdentityAgent=none",
		"-o", "ConnectTimeout=5",
		"-o", "LogLevel=ERROR",
	}
}

// runOpenSSH runs bin with args, feeding stdin, within testTimeout.
func runOpenSSH(t *testing.T, bin string, args []string, env []string, stdin string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running ssh: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("ssh did not finish within %v; stderr: %s", testTimeout, e.String())
	}
	return o.String(), e.String(), code
}

func TestOpenSSHClient(t *testing.T) {
	t.Parallel()
	bin := sshBinary(t)
	keyFile, pub := clientKeyFile(t)
	s := NewServer(t, Options{User: "loom", AuthorizedKeys: []ssh.PublicKey{pub}})
	withKey := func(port int, trusted *Server, rest ...string) []string {
		a := sshArgs(t, port, trusted)
		a = append(a, "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes")
		return append(a, rest...)
	}
	args := withKey(s.Port(), s)

	t.Run("exec", func(t *testing.T) {
		a := append(args[:len(args):len(args)], "-o", "SetEnv=LOOM_X=from-client", "loom@127.0.0.1",
			`echo out; echo err >&2; echo "$LOOM_X"; cat; exit 3`)
		stdout, stderr, code := runOpenSSH(t, bin, a, nil, "from stdin\n")
		if stdout != "out\nfrom-client\nfrom stdin\n" || code != 3 || !strings.Contains(stderr, "err\n") {
			t.Errorf("stdout %q, stderr %q, exit %d; want out, from-client, from stdin; err; 3", stdout, stderr, code)
		}
	})
	t.Run("pty", func(t *testing.T) {
		a := append(args[:len(args):len(args)], "-tt", "loom@127.0.0.1", `echo "term=$TERM"`)
		stdout, stderr, code := runOpenSSH(t, bin, a, []string{"TERM=vt100"}, "")
		if code != 0 || !strings.Contains(stdout, "term=vt100") {
			t.Errorf("stdout %q, stderr %q, exit %d; want term=vt100", stdout, stderr, code)
		}
	})
	t.Run("wrong user", func(t *testing.T) {
		a := append(args[:len(args):len(args)], "root@127.0.0.1", "true")
		if _, stderr, code := runOpenSSH(t, bin, a, nil, ""); code != 255 || !strings.Contains(stderr, "Permission denied") {
			t.Errorf("exit %d, stderr %q; want 255, permission denied", code, stderr)
		}
	})
	t.Run("wrong host key", func(t *testing.T) {
		// known_hosts holds s's key, under other's port.
		other := NewServer(t, Options{AuthorizedKeys: []ssh.PublicKey{pub}})
		a := withKey(other.Port(), s, "loom@127.0.0.1", "true")
		if _, stderr, code := runOpenSSH(t, bin, a, nil, ""); code != 255 || !strings.Contains(stderr, "Host key verification failed") {
			t.Errorf("exit %d, stderr %q; want 255, host key verification failed", code, stderr)
		}
	})
}

func TestOpenSSHPassword(t *testing.T) {
	t.Parallel()
	bin := sshBinary(t)
	s := NewServer(t, Options{Password: "hunter2"})
	askpass := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho hunter2\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	// SSH_ASKPASS_REQUIRE=force (OpenSSH 8.4+) makes ssh ask the program
	// even though there is no terminal and no display.
	env := []string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"}
	for _, method := range []string{"password", "keyboard-interactive"} {
		t.Run(method, func(t *testing.T) {
			args := append(sshArgs(t, s.Port(), s),
				"-o", "PubkeyAuthentication=no",
				"-o", "PreferredAuthentications="+method,
				"-o", "NumberOfPasswordPrompts=1",
				"someone@127.0.0.1", "echo logged in")
			stdout, stderr, code := runOpenSSH(t, bin, args, env, "")
			if code != 0 || stdout != "logged in\n" {
				t.Errorf("stdout %q, stderr %q, exit %d", stdout, stderr, code)
			}
		})
	}
}

func TestOpenSSHAgentForwarding(t *testing.T) {
	t.Parallel()
	bin := sshBinary(t)
	agentBin, err := exec.LookPath("ssh-agent")
	if err != nil {
		t.Skip("no ssh-agent in PATH")
	}
	addBin, err := exec.LookPath("ssh-add")
	if err != nil {
		t.Skip("no ssh-add in PATH")
	}
	keyFile, pub := clientKeyFile(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command(agentBin, "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agentCmd.Process.Kill()
		agentCmd.Wait()
	})
	waitFor(t, "ssh-agent socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	add := exec.Command(addBin, keyFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}

	s := NewServer(t, Options{AuthorizedKeys: []ssh.PublicKey{pub}})
	args := sshArgs(t, s.Port(), s)
	for i, a := range args {
		if a == "IdentityAgent=none" {
			args[i] = "IdentityAgent=" + sock
		}
	}
	// Authenticate through the agent, forward it, and list its keys from
	// the "remote" side.
	args = append(args, "-A", "-o", "BatchMode=yes", "u@127.0.0.1", "ssh-add -L")
	stdout, stderr, code := runOpenSSH(t, bin, args, nil, "")
	if code != 0 || !strings.Contains(stdout, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))) {
		t.Errorf("ssh-add -L through the forwarded agent: stdout %q, stderr %q, exit %d", stdout, stderr, code)
	}
	if got := s.AgentForwardRequests(); got != 1 {
		t.Errorf("AgentForwardRequests = %d, want 1", got)
	}
}
