package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/testkit"
)

func TestJSONOutput(t *testing.T) {
	cfg, _ := lab(t, 3)
	dead := refusedAddr(t)
	code, out, errs := run("-F", cfg, "-o", "StrictHostKeyChecking=no", "--json", "-H", "h[1-3],"+dead, "--", "echo hi; echo oops >&2; [ $(hostname) ] && exit 0")
	if code != ExitUnreachable {
		t.Fatalf("code %d, want 3 (one host unreachable, none failed): %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 JSON lines on stdout, got %d: %q", len(lines), out)
	}
	seen := map[string]bool{}
	for _, ln := range lines {
		var j map[string]any
		if err := json.Unmarshal([]byte(ln), &j); err != nil {
			t.Fatalf("not JSON: %q", ln)
		}
		for _, k := range []string{"host", "ok", "exit_code", "stdout", "stderr", "error", "duration_ms"} {
			if _, ok := j[k]; !ok {
				t.Fatalf("%q lacks %q", ln, k)
			}
		}
		h := j["host"].(string)
		seen[h] = true
		if h == dead {
			if j["ok"] != false || j["reason"] != "unreachable" || j["error"] == nil || j["exit_code"] != nil {
				t.Fatalf("dead host: %q", ln)
			}
			continue
		}
		if j["ok"] != true || j["stdout"] != "hi\n" || j["stderr"] != "oops\n" || j["exit_code"] != 0.0 || j["error"] != nil {
			t.Fatalf("ok host: %q", ln)
		}
	}
	if len(seen) != 4 {
		t.Fatalf("hosts seen: %v", seen)
	}
}

func TestGatherFolds(t *testing.T) {
	cfg, _ := lab(t, 5)
	code, out, errs := run("-F", cfg, "--gather", "-H", "h[1-5]", "--", `case "$PWD" in *) echo same;; esac; [ -n "$X" ]`)
	if code != ExitFailed {
		t.Fatalf("code %d: %s", code, errs)
	}
	// All five printed the same and exited 1: one group, hosts folded.
	if strings.Count(out, "same\n") != 1 || !strings.Contains(out, "h[1-5] (5) exit 1") {
		t.Fatalf("gather output: %q", out)
	}
	code, out, _ = run("-F", cfg, "--gather", "-H", "h[1-5]", "--", "echo same")
	if code != 0 || strings.Count(out, "same\n") != 1 || !strings.Contains(out, "h[1-5] (5)\n") {
		t.Fatalf("gather ok: %q", out)
	}
}

func TestLogDirAndExclude(t *testing.T) {
	cfg, _ := lab(t, 3)
	dir := t.TempDir()
	code, _, errs := run("-F", cfg, "--log-dir", dir, "-H", "h1,h2,h3", "-x", "h2", "--", "echo out; echo err >&2")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	for _, h := range []string{"h1", "h3"} {
		b, err := os.ReadFile(filepath.Join(dir, h+".log"))
		if err != nil || !strings.Contains(string(b), "out\n") || !strings.Contains(string(b), "err\n") {
			t.Fatalf("%s log: %q %v", h, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "h2.log")); err == nil {
		t.Fatal("excluded host ran")
	}
}

func TestDryRunConnectsNowhere(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte("Host web*\n  User deploy\n  ProxyJump bastion\n"), 0o600)
	code, out, errs := run("-F", cfg, "--dry-run", "-H", "web[01-03].example.com,db1", "-x", "web02*", "-P", "5", "--", "systemctl", "restart", "my app")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	for _, want := range []string{"web01.example.com  deploy@web01.example.com:22 via bastion  $ systemctl restart 'my app'", "web03.example.com", "db1", "# 3 hosts, -P 5"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "web02") {
		t.Error("excluded host listed")
	}
}

func TestFanoutFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-H", "h[3-1]", "--", "true"},
		{"-H", "h1", "--max-fail", "x", "--", "true"},
		{"-H", "h1", "--batch", "120%", "--", "true"},
		{"-H", "h1", "-P", "0", "--", "true"},
		{"-H", "h1", "--json", "--gather", "--", "true"},
		{"-R", "web", "-I", "/nonexistent/loom.yaml", "--", "true"},
	} {
		code, _, errs := run(args...)
		if code != ExitUsage || strings.TrimSpace(errs) == "" {
			t.Errorf("%q: code %d, stderr %q", args, code, errs)
		}
	}
}

func TestMaxFailStops(t *testing.T) {
	cfg, _ := lab(t, 6)
	code, _, errs := run("-F", cfg, "-P", "1", "--max-fail", "1", "-H", "h[1-6]", "--", "false")
	if code != ExitFailed || !strings.Contains(errs, "2 failed") || !strings.Contains(errs, "4 not started") || !strings.Contains(errs, "loom: not started: h[3-6] (4 hosts): more than 1 host failed") {
		t.Fatalf("code %d: %s", code, errs)
	}
}

func TestInventoryRolesAndSettings(t *testing.T) {
	cfg, _ := lab(t, 4)
	dir := t.TempDir()
	script := filepath.Join(dir, "hosts-from-db")
	os.WriteFile(script, []byte("#!/bin/sh\necho h4 db\n"), 0o755)
	inv := filepath.Join(dir, "loom.yaml")
	os.WriteFile(inv, []byte(`
defaults:
  vars: {env: test}
hosts:
  h[1-2]:
    roles: [web]
  h3:
    roles: [cache]
    vars: {env: staging}
dynamic:
  - command: ./hosts-from-db
    roles: [fromdb]
`), 0o600)
	code, out, errs := run("-F", cfg, "-I", inv, "-R", "web,db", "--gather", "--", "echo hello")
	if code != 0 || !strings.Contains(out, "h[1-2,4] (3)") {
		t.Fatalf("roles web,db: code %d out %q err %q", code, out, errs)
	}
	code, _, errs = run("-F", cfg, "-I", inv, "-R", "nosuch", "--", "true")
	if code != ExitUsage || !strings.Contains(errs, "nosuch") {
		t.Fatalf("unknown role: %d %q", code, errs)
	}
	// loom.yaml is found upward from the working directory.
	sub := filepath.Join(dir, "a", "b")
	os.MkdirAll(sub, 0o755)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(sub)
	code, out, errs = run("-F", cfg, "-R", "cache", "--dry-run", "--", "true")
	if code != 0 || !strings.HasPrefix(out, "h3 ") {
		t.Fatalf("found upward: %d %q %q", code, out, errs)
	}
}

func TestInterruptSummary(t *testing.T) {
	cfg, _ := lab(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	var o, e strings.Builder
	start := time.Now()
	code := Run(ctx, []string{"-F", cfg, "-P", "2", "-H", "h[1-4]", "--", "sleep 30"}, Env{Stdout: &o, Stderr: &e})
	if code != ExitInterrupted || time.Since(start) > 10*time.Second {
		t.Fatalf("code %d after %v: %s", code, time.Since(start), e.String())
	}
	if !strings.Contains(e.String(), "2 interrupted, 2 not started") || !strings.Contains(e.String(), "loom: interrupted: h[1-2]") {
		t.Fatalf("summary: %s", e.String())
	}
}

func TestTerminalEscapesSanitised(t *testing.T) {
	cfg, _ := lab(t, 2)
	code, out, errs := run("-F", cfg, "-H", "h1,h2", "--", `printf '\033]0;pwned\007\033[2Jhi\n'; printf '\033[31mbad\n' >&2; exit 1`)
	if code != ExitFailed {
		t.Fatalf("code %d", code)
	}
	if strings.ContainsRune(out, 0x1b) || strings.ContainsRune(errs, 0x1b) || strings.ContainsRune(out, 0x07) {
		t.Fatalf("escape sequences reached the terminal: %q %q", out, errs)
	}
	if !strings.Contains(out, "h1 | ^[]0;pwned^G^[[2Jhi") {
		t.Fatalf("output: %q", out)
	}
}

func refusedAddr(t testing.TB) string { return testkit.RefusedAddr(t) }
