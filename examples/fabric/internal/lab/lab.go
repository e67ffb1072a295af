// Package lab runs the ported fabfiles of examples/fabric: each test copies
// its loomfile to a temporary directory and runs it with the loom command
// against in-process hosts whose commands find fake programs (sbt, sudo,
// service...) first on their PATH, each logging how it was called.
package lab

import (
	"bufio"
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

// Lab is a working directory holding a copy of a loomfile, a directory of
// fake programs on this machine's PATH and on the hosts', and the hosts.
type Lab struct {
	t     *testing.T
	Work  string             // the copy's directory, the working directory
	Bin   string             // the fake programs
	Log   string             // what the fake programs were asked to do, one line a call
	Hosts []*loomtest.Server // h1, h2, ...
	cfg   string             // the ssh_config naming them
}

// New copies loomfile.go of the working directory to a fresh directory,
// replacing each old string of replace (old, new, old, new...) with the new
// one (a port's absolute paths moved into the lab), makes that directory
// the working directory, and starts n hosts h1..hn. The fake programs are
// written with Fake.
func New(t *testing.T, n int, replace ...string) *Lab {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to compile the loomfile with")
	}
	src, err := os.ReadFile("loomfile.go")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(text, replace[i]) {
			t.Fatalf("loomfile.go has no %q to replace", replace[i])
		}
		text = strings.ReplaceAll(text, replace[i], replace[i+1])
	}
	l := &Lab{t: t, Work: t.TempDir(), Bin: t.TempDir()}
	l.Log = filepath.Join(l.Bin, "calls.log")
	if err := os.WriteFile(filepath.Join(l.Work, "loomfile.go"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LOOM_CACHE", t.TempDir())
	t.Setenv("PATH", l.Bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("CALLS", l.Log)
	wd, _ := os.Getwd()
	if err := os.Chdir(l.Work); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	l.start(n)
	return l
}

// start starts the hosts and writes an ssh_config for them.
func (l *Lab) start(n int) {
	dir := l.t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	key := filepath.Join(dir, "id")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	signer, _ := ssh.NewSignerFromKey(priv)
	var c, k strings.Builder
	env := []string{"PATH=" + os.Getenv("PATH"), "CALLS=" + l.Log}
	for i := 1; i <= n; i++ {
		s := loomtest.NewServer(l.t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}, Env: env})
		l.Hosts = append(l.Hosts, s)
		fmt.Fprintf(&c, "Host h%d\n  HostName %s\n  Port %d\n", i, s.Host(), s.Port())
		k.WriteString(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey()) + "\n")
	}
	kh := filepath.Join(dir, "known_hosts")
	fmt.Fprintf(&c, "Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  BatchMode yes\n", key, kh)
	os.WriteFile(kh, []byte(k.String()), 0o600)
	l.cfg = filepath.Join(dir, "ssh_config")
	os.WriteFile(l.cfg, []byte(c.String()), 0o600)
}

// Fake writes a fake program name whose shell body is script. Every fake
// first appends "name ARGS" to the log.
func (l *Lab) Fake(name, script string) {
	l.t.Helper()
	body := "#!/bin/sh\necho \"" + name + " $*\" >>\"$CALLS\"\n" + script + "\n"
	if err := os.WriteFile(filepath.Join(l.Bin, name), []byte(body), 0o755); err != nil {
		l.t.Fatal(err)
	}
}

// FakeSudo writes a sudo that runs its command (what follows "--") as is.
func (l *Lab) FakeSudo() {
	l.Fake("sudo", `while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done; shift; exec "$@"`)
}

// Loom runs the loom command with the lab's hosts and returns its exit
// status, stdout and stderr.
func (l *Lab) Loom(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := cli.Run(context.Background(), append([]string{"-F", l.cfg}, args...), cli.Env{Stdout: &o, Stderr: &e})
	return code, o.String(), e.String()
}

// Calls returns the fake programs' log lines that start with prefix.
func (l *Lab) Calls(prefix string) []string {
	b, _ := os.ReadFile(l.Log)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

// CodeLines counts the lines of a Go file that are neither blank nor
// comments: the measure the ports' READMEs give (docstrings and comments
// are left out of the fabfiles' counts the same way).
func CodeLines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" && !strings.HasPrefix(s, "//") {
			n++
		}
	}
	return n
}
