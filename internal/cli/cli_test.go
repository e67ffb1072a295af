package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/loomtest"
)

// lab starts n in-process hosts named h1..hn and writes an ssh_config for
// them; it returns the config path and the known_hosts path.
func lab(t *testing.T, n int) (cfg, kh string) {
	t.Helper()
	cfg, kh, _ = labServers(t, n)
	return cfg, kh
}

// labServers is lab that also returns the servers, h1 first.
func labServers(t *testing.T, n int) (cfg, kh string, servers []*loomtest.Server) {
	t.Helper()
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	key := filepath.Join(dir, "id")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	signer, _ := ssh.NewSignerFromKey(priv)
	var c, k strings.Builder
	for i := 1; i <= n; i++ {
		s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
		servers = append(servers, s)
		name := fmt.Sprintf("h%d", i)
		fmt.Fprintf(&c, "Host %s\n  HostName %s\n  Port %d\n", name, s.Host(), s.Port())
		k.WriteString(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey()) + "\n")
	}
	kh = filepath.Join(dir, "known_hosts")
	fmt.Fprintf(&c, "Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  BatchMode yes\n", key, kh)
	cfg = filepath.Join(dir, "ssh_config")
	os.WriteFile(kh, []byte(k.String()), 0o600)
	os.WriteFile(cfg, []byte(c.String()), 0o600)
	return cfg, kh, servers
}

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, Env{Stdout: &o, Stderr: &e})
	return code, o.String(), e.String()
}

func TestExitStatuses(t *testing.T) {
	cfg, kh := lab(t, 2)
	if code, out, errs := run("-F", cfg, "-H", "h1", "--", "echo", "hi there"); code != ExitOK || out != "hi there\n" {
		t.Fatalf("one host: code %d out %q err %q", code, out, errs)
	}
	if code, _, _ := run("-F", cfg, "-H", "h1", "--", "false"); code != ExitFailed {
		t.Fatalf("false: %d", code)
	}
	if code, _, errs := run("-F", cfg, "-H", "h1,h2", "--", "exit 7"); code != ExitFailed || !strings.Contains(errs, "failed (exit 7): h[1-2]") || !strings.Contains(errs, ": 0 ok, 2 failed") {
		t.Fatalf("exit 7: %d %q", code, errs)
	}
	// A wrong key for h2: exit 3, naming the host and the file.
	b, _ := os.ReadFile(kh)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	os_, _ := ssh.NewSignerFromKey(other)
	lines[1] = knownhosts.Line([]string{strings.Fields(lines[1])[0]}, os_.PublicKey())
	os.WriteFile(kh, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	code, _, errs := run("-F", cfg, "-H", "h2", "--", "true")
	if code != ExitUnreachable || !strings.Contains(errs, "h2") || !strings.Contains(errs, kh+":2") || !strings.Contains(errs, "CHANGED") {
		t.Fatalf("mismatch: code %d stderr %q", code, errs)
	}
	// A command failure beats an unreachable host: 1.
	if code, _, _ := run("-F", cfg, "-H", "h1,h2", "--", "false"); code != ExitFailed {
		t.Fatalf("failed+unreachable: %d", code)
	}
	if code, _, _ := run("-F", cfg, "-H", "h1,h2", "--", "true"); code != ExitUnreachable {
		t.Fatalf("ok+unreachable: %d", code)
	}
}

func TestPrefixedOutput(t *testing.T) {
	cfg, _ := lab(t, 2)
	code, out, errs := run("-F", cfg, "-H", "h1,h2", "--", "echo out; echo err >&2; printf 'no newline'")
	if code != ExitOK {
		t.Fatalf("code %d: %s", code, errs)
	}
	for _, want := range []string{"h1 | out\n", "h2 | out\n", "h1 | no newline\n", "h2 | no newline\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q: %q", want, out)
		}
	}
	if !strings.Contains(errs, "h1 ! err\n") || !strings.Contains(errs, ": 2 ok, 0 failed") {
		t.Errorf("stderr: %q", errs)
	}
}

func TestUsageErrors(t *testing.T) {
	cfg, _ := lab(t, 1)
	for _, args := range [][]string{
		{"--", "true"},                     // no hosts
		{"-H", "h1"},                       // no command
		{"--bogus", "-H", "h1", "--", "x"}, // unknown flag
		{"-F", "/nonexistent/ssh_config", "-H", "h1", "--", "true"},
		{"-F", cfg, "-H", "bad host", "--", "true"},
		{"-F", cfg, "-o", "NoSuchOption=1", "-H", "h1", "--", "true"},
		{"-F", cfg, "-H", "@/nonexistent/hosts", "--", "true"},
	} {
		code, _, errs := run(args...)
		if code != ExitUsage || errs == "" {
			t.Errorf("%q: code %d stderr %q", args, code, errs)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") > 1 && !strings.Contains(errs, "Usage") {
			t.Errorf("%q: error is not short: %q", args, errs)
		}
	}
	if code, out, _ := run("--version"); code != 0 || !strings.HasPrefix(out, "loom ") {
		t.Errorf("--version: %d %q", code, out)
	}
}

func TestHostsFileAndDedup(t *testing.T) {
	cfg, _ := lab(t, 2)
	f := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(f, []byte("# web\nh1\nh2 # second\nh1\n"), 0o600)
	code, out, errs := run("-F", cfg, "-H", "@"+f, "-H", "h2", "--", "echo x")
	if code != 0 || strings.Count(out, "| x") != 2 {
		t.Fatalf("code %d out %q err %q", code, out, errs)
	}
}
