package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		Env{Stdin: strings.NewReader(s.Password + "\nnot forwarded\n"), Stdout: &o, Stderr: &e})
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
