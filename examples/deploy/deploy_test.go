package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/cli"
	"github.com/loomssh/loom/loomtest"
)

// TestDeployExample runs this directory's loomfile with the loom command
// against four in-process hosts: deploys, a failed deploy that rolls
// back, status, rollback and cleanup.
func TestDeployExample(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to compile the loomfile with")
	}
	// Work on a copy: the build writes dist/ next to the loomfile.
	work := t.TempDir()
	copyTree(t, ".", work, "loomfile.go", "app")
	// The inventory: the test's hosts are the web role (the loomfile's
	// groups ask for it; -H only narrows them).
	os.WriteFile(filepath.Join(work, "loom.yaml"), []byte("hosts:\n  h[1-4]:\n    roles: [web]\n"), 0o644)
	t.Setenv("LOOM_CACHE", t.TempDir())
	wd, _ := os.Getwd()
	if err := os.Chdir(work); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)

	cfg, hosts := fourHosts(t)
	loom := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := cli.Run(context.Background(), append([]string{"-F", cfg, "-H", "h[1-4]"}, args...), cli.Env{Stdout: &o, Stderr: &e})
		return code, o.String(), e.String()
	}
	on := func(i int, name string) string {
		b, _ := os.ReadFile(filepath.Join(hosts[i].Dir(), "srv", name))
		return strings.TrimSpace(string(b))
	}
	current := func(i int) string {
		l, _ := os.Readlink(filepath.Join(hosts[i].Dir(), "srv", "current"))
		return l
	}
	expect := func(what, release string) {
		t.Helper()
		for i := range hosts {
			if current(i) != "releases/"+release || on(i, "running") != release {
				t.Fatalf("%s: h%d has current -> %q and runs %q, want %s", what, i+1, current(i), on(i, "running"), release)
			}
		}
	}

	for _, v := range []string{"v1.9", "v1.10"} {
		if code, out, errs := loom("deploy", v, "--dir=srv", "--batch=2"); code != 0 || !strings.Contains(out, "deployed "+v+" to 4 hosts") {
			ls, _ := exec.Command("ls", "-laR", hosts[0].Dir()).CombinedOutput()
			t.Fatalf("deploy %s: %d %q %q\n%s", v, code, out, errs, ls)
		}
		expect("deploy "+v, v)
	}
	if b, err := os.ReadFile(filepath.Join(hosts[2].Dir(), "srv", "releases", "v1.10", "index.html")); err != nil || !bytes.Contains(b, []byte("Deployed by Loom")) {
		t.Fatalf("uploaded release: %q %v", b, err)
	}

	// v2 is unhealthy on h3: the first batch (h1, h2) switches, the
	// second fails on h3, and every switched host goes back to v1.10.
	os.WriteFile(filepath.Join(hosts[2].Dir(), "srv", "unhealthy-v2"), nil, 0o644)
	code, out, errs := loom("deploy", "v2", "--dir=srv", "--batch=2")
	if code != 1 || !strings.Contains(errs, "deploying v2 failed") || !strings.Contains(errs, "h3") || !strings.Contains(errs, "rolled") {
		t.Fatalf("unhealthy deploy: %d %q %q", code, out, errs)
	}
	expect("after the rollback of v2", "v1.10")

	code, out, errs = loom("status", "--dir=srv")
	if code != 0 || strings.Count(out, "v1.10") != 4 {
		t.Fatalf("status: %d %q %q", code, out, errs)
	}
	if code, out, errs := loom("rollback", "--dir=srv"); code != 0 {
		t.Fatalf("rollback: %d %q %q", code, out, errs)
	}
	expect("rollback", "v1.9")
	// Cleanup asks first: with nobody to answer it is an error, and
	// nothing is removed.
	if code, _, errs := loom("cleanup", "--dir=srv", "--keep=1"); code != 1 || !strings.Contains(errs, "LOOM_YES") {
		t.Fatalf("cleanup with nobody to ask: %d %q", code, errs)
	}
	if entries, _ := os.ReadDir(filepath.Join(hosts[0].Dir(), "srv", "releases")); len(entries) != 3 {
		t.Fatalf("an unconfirmed cleanup left %d releases, want 3", len(entries))
	}
	t.Setenv("LOOM_YES", "1")
	if code, out, errs := loom("cleanup", "--dir=srv", "--keep=1"); code != 0 {
		t.Fatalf("cleanup: %d %q %q", code, out, errs)
	}
	entries, _ := os.ReadDir(filepath.Join(hosts[0].Dir(), "srv", "releases"))
	if len(entries) != 1 || entries[0].Name() != "v2" {
		// keep=1 keeps the newest (v2); v1.9 is current and is kept too.
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "v1.9 v2" {
			t.Fatalf("cleanup --keep=1 left %v, want v1.9 (current) and v2 (newest)", names)
		}
	}
	if code, _, errs := loom("deploy", "../etc", "--dir=srv"); code != 1 || !strings.Contains(errs, "version") {
		t.Fatalf("bad version: %d %q", code, errs)
	}
}

// fourHosts starts in-process hosts h1..h4 and writes an ssh_config for
// them.
func fourHosts(t *testing.T) (string, []*loomtest.Server) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	key := filepath.Join(dir, "id")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	signer, _ := ssh.NewSignerFromKey(priv)
	var c, k strings.Builder
	var servers []*loomtest.Server
	for i := 1; i <= 4; i++ {
		s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
		servers = append(servers, s)
		fmt.Fprintf(&c, "Host h%d\n  HostName %s\n  Port %d\n", i, s.Host(), s.Port())
		k.WriteString(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey()) + "\n")
	}
	kh := filepath.Join(dir, "known_hosts")
	fmt.Fprintf(&c, "Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  BatchMode yes\n", key, kh)
	os.WriteFile(kh, []byte(k.String()), 0o600)
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte(c.String()), 0o600)
	return cfg, servers
}

// copyTree copies the named files and directories from src into dst.
func copyTree(t *testing.T, src, dst string, names ...string) {
	t.Helper()
	for _, n := range names {
		if out, err := exec.Command("cp", "-R", filepath.Join(src, n), dst).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v %s", n, err, out)
		}
	}
}
