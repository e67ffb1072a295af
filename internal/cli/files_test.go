package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

func TestPutGetSync(t *testing.T) {
	s1 := sshdtest.Start(t, sshdtest.Options{})
	s2 := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s1.WriteSSHConfig(cfg, "s1")
	s2.WriteSSHConfig(cfg, "s2")
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "app.conf"), []byte("port = 8080\n"), 0o640)
	remote1 := filepath.Join(s1.Home, "cli-put")
	for _, r := range []string{remote1} {
		os.RemoveAll(r)
		t.Cleanup(func() { os.RemoveAll(r) })
	}
	code, out, errs := run("put", "-F", cfg, "-H", "s1", filepath.Join(local, "app.conf"), "cli-put/app.conf")
	if code != 0 || !strings.Contains(errs, "sent 1 file") {
		t.Fatalf("put: %d %q %q", code, out, errs)
	}
	b, err := os.ReadFile(filepath.Join(remote1, "app.conf"))
	if err != nil || string(b) != "port = 8080\n" {
		t.Fatalf("remote file: %q %v", b, err)
	}
	if st, _ := os.Stat(filepath.Join(remote1, "app.conf")); st == nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("mode not preserved: %v", st)
	}

	// get from two hosts into per-host paths, as JSON.
	dst := t.TempDir()
	code, out, errs = run("get", "--json", "-F", cfg, "-H", "s1,s2", "cli-put/app.conf", filepath.Join(dst, "{host}", "{basename}"))
	if code != 0 { // both servers log in as the same user on this machine: both have it
		t.Fatalf("get: %d %q", code, errs)
	}
	var j map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(out), "\n") {
		if err := json.Unmarshal([]byte(ln), &j); err != nil {
			t.Fatalf("json: %q", ln)
		}
		if j["ok"] != true || j["files"] != 1.0 {
			t.Fatalf("get: %q", ln)
		}
	}
	for _, h := range []string{"s1", "s2"} {
		if b, err := os.ReadFile(filepath.Join(dst, h, "app.conf")); err != nil || string(b) != "port = 8080\n" {
			t.Fatalf("fetched from %s: %q %v", h, b, err)
		}
	}

	// sync twice: the second sends nothing; --check lists without writing.
	tree := t.TempDir()
	for _, f := range []string{"a.txt", "sub/b.txt", "sub/deeper/c.txt"} {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(tree, f), []byte(f), 0o644)
	}
	if code, _, errs := run("sync", "-F", cfg, "-H", "s1", tree, "cli-put/tree"); code != 0 || !strings.Contains(errs, "sent 3 files") {
		t.Fatalf("sync 1: %d %q", code, errs)
	}
	if code, _, errs := run("sync", "-F", cfg, "-H", "s1", tree, "cli-put/tree"); code != 0 || !strings.Contains(errs, "sent 0 files (0 B), 3 unchanged") {
		t.Fatalf("sync 2: %d %q", code, errs)
	}
	os.WriteFile(filepath.Join(tree, "new.txt"), []byte("new"), 0o644)
	if code, _, errs := run("sync", "--check", "-F", cfg, "-H", "s1", tree, "cli-put/tree"); code != 0 || !strings.Contains(errs, "would write") || !strings.Contains(errs, "new.txt") {
		t.Fatalf("sync --check: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(remote1, "tree", "new.txt")); err == nil {
		t.Fatal("--check wrote a file")
	}
	// Usage errors.
	for _, args := range [][]string{
		{"put", "-H", "s1", "only-one-arg"},
		{"get", "-H", "s1", "a"},
		{"put", "--mode", "9z9", "-H", "s1", "a", "b"},
		{"put", "--delete", "-H", "s1", "a", "b"},
		{"-H", "s1", "--mode", "0644", "--", "true"},
	} {
		if code, _, _ := run(args...); code != ExitUsage {
			t.Errorf("%q: code %d, want 2", args, code)
		}
	}
}

func TestSudoPasswordStdin(t *testing.T) {
	if ok, why := sshdtest.CanSudo(); !ok {
		t.Skip(why)
	}
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "s")
	var o, e strings.Builder
	code := Run(context.Background(), []string{"-F", cfg, "-H", "s", "--sudo", "--sudo-password-stdin", "--", "id", "-un"},
		Env{Stdin: strings.NewReader(s.Password + "\n"), Stdout: &o, Stderr: &e})
	if code != 0 || strings.TrimSpace(o.String()) != "root" {
		t.Fatalf("code %d out %q err %q", code, o.String(), e.String())
	}
	if strings.Contains(o.String()+e.String(), s.Password) {
		t.Fatal("password in output")
	}
	code = Run(context.Background(), []string{"-F", cfg, "-H", "s", "--sudo", "--sudo-password-stdin", "--", "true"},
		Env{Stdin: strings.NewReader("wrong-password\n"), Stdout: &o, Stderr: &e})
	if code != ExitFailed || !strings.Contains(e.String(), "incorrect password") || strings.Contains(e.String(), "wrong-password") {
		t.Fatalf("wrong password: code %d err %q", code, e.String())
	}
}

// TestGetNeverLosesAFile: several hosts never write one local path (refused
// before anything is written, with a hint at {host}), and an existing local
// file is replaced only with --overwrite.
func TestGetNeverLosesAFile(t *testing.T) {
	cfg, _, servers := labServers(t, 3)
	for i, s := range servers {
		os.WriteFile(filepath.Join(s.Dir(), "same.txt"), []byte(fmt.Sprintf("from h%d", i+1)), 0o644)
	}
	out := t.TempDir()
	mine := filepath.Join(out, "same.txt")
	os.WriteFile(mine, []byte("mine"), 0o644)
	unchanged := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(mine); string(b) != "mine" {
			t.Fatalf("%s: the local file now holds %q", what, b)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 1 {
			t.Fatalf("%s: %d entries in the local directory", what, len(entries))
		}
	}
	for _, dst := range []string{mine, out + "/", filepath.Join(out, "{basename}")} {
		code, _, errs := run("get", "-F", cfg, "-H", "h1,h2,h3", "same.txt", dst)
		if code != ExitUsage || !strings.Contains(errs, "3 hosts would write") || !strings.Contains(errs, "{host}") {
			t.Fatalf("get %s from 3 hosts: code %d, %q", dst, code, errs)
		}
		unchanged("get " + dst + " from 3 hosts")
	}
	code, _, errs := run("get", "-F", cfg, "-H", "h1", "same.txt", mine)
	if code != ExitFailed || !strings.Contains(errs, "h1: get") || !strings.Contains(errs, "already exists") || !strings.Contains(errs, "--overwrite") {
		t.Fatalf("get over an existing file: code %d, %q", code, errs)
	}
	unchanged("get over an existing file")
	if code, _, errs := run("get", "--overwrite", "-F", cfg, "-H", "h1", "same.txt", mine); code != ExitOK {
		t.Fatalf("get --overwrite: code %d, %q", code, errs)
	}
	if b, _ := os.ReadFile(mine); string(b) != "from h1" {
		t.Fatalf("get --overwrite: %q", b)
	}
	if code, _, errs := run("get", "-F", cfg, "-H", "h1,h2,h3", "same.txt", filepath.Join(out, "{host}", "{basename}")); code != ExitOK {
		t.Fatalf("get into {host}: code %d, %q", code, errs)
	}
	for i := 1; i <= 3; i++ {
		if b, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("h%d", i), "same.txt")); string(b) != fmt.Sprintf("from h%d", i) {
			t.Fatalf("h%d: %q", i, b)
		}
	}
	for _, args := range [][]string{
		{"put", "--overwrite", "-F", cfg, "-H", "h1", mine, "x"},
		{"--overwrite", "-F", cfg, "-H", "h1", "--", "true"},
	} {
		if code, _, errs := run(args...); code != ExitUsage || !strings.Contains(errs, "--overwrite") {
			t.Errorf("%q: code %d, %q", args, code, errs)
		}
	}
}

// TestFileFailuresSayWhy: a put that fails on several hosts shows its cause
// in the summary, not only "put failed".
func TestFileFailuresSayWhy(t *testing.T) {
	cfg, _ := lab(t, 3)
	f := filepath.Join(t.TempDir(), "a.txt")
	os.WriteFile(f, []byte("x"), 0o644)
	code, _, errs := run("put", "-F", cfg, "-H", "h1,h2,h3", f, "/proc/loom-nope/x")
	if code != ExitFailed || !strings.Contains(errs, "h[1-3] (3 hosts): put "+f+" -> /proc/loom-nope/x: ") {
		t.Fatalf("code %d, %q", code, errs)
	}
}

// TestSudoFileFailuresSayWhy: with --sudo, a one-host put or get that fails
// prints its cause (it used to exit 1 and print nothing), and a wrong sudo
// password says so.
func TestSudoFileFailuresSayWhy(t *testing.T) {
	if ok, why := sshdtest.CanSudo(); !ok {
		t.Skip(why)
	}
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "s")
	f := filepath.Join(t.TempDir(), "a.txt")
	os.WriteFile(f, []byte("x"), 0o644)
	sudo := func(password string, args ...string) (int, string) {
		var o, e strings.Builder
		args = append([]string{args[0], "-F", cfg, "-H", "s", "--sudo", "--sudo-password-stdin"}, args[1:]...)
		code := Run(context.Background(), args, Env{Stdin: strings.NewReader(password + "\n"), Stdout: &o, Stderr: &e})
		return code, e.String()
	}
	if code, errs := sudo(s.Password, "put", f, "/proc/loom-nope/x"); code != ExitFailed || !strings.Contains(errs, "s: put") || !strings.Contains(errs, "/proc/loom-nope") {
		t.Fatalf("put --sudo: code %d, %q", code, errs)
	}
	if code, errs := sudo(s.Password, "get", "/proc/self/loom-nope", filepath.Join(t.TempDir(), "x")); code != ExitFailed || !strings.Contains(errs, "s: get") || !strings.Contains(errs, "loom-nope") {
		t.Fatalf("get --sudo: code %d, %q", code, errs)
	}
	for _, args := range [][]string{{"put", f, "/tmp/loom-x"}, {"get", "/etc/hostname", filepath.Join(t.TempDir(), "x")}, {"sync", filepath.Dir(f), "/tmp/loom-sync-x"}} {
		code, errs := sudo("wrong-password", args...)
		t.Logf("%s, wrong password: %s", args[0], errs)
		if code != ExitFailed || !strings.Contains(errs, "s: "+args[0]) || !strings.Contains(errs, "sudo: incorrect password") || strings.Contains(errs, "wrong-password") {
			t.Errorf("%s with a wrong sudo password: code %d, %q", args[0], code, errs)
		}
	}
}

// A file get cut at the size the host gave is named on the host's line.
func TestDescribeCut(t *testing.T) {
	line := describeTransfer("get", &loom.Transfer{Files: 2, Bytes: 10, Cut: []string{"logs/web1/app.log"}})
	if !strings.Contains(line, "fetched 2 files") || !strings.Contains(line, "1 cut at the size the host gave") || !strings.Contains(line, "logs/web1/app.log") {
		t.Fatalf("%q", line)
	}
}
