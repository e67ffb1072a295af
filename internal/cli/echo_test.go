package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEcho: --echo (and -v) print "HOST $ COMMAND" on stderr as each
// command starts; a script of several lines shows its first; --hide echo
// turns -v's off.
func TestEcho(t *testing.T) {
	cfg, _ := lab(t, 2)
	code, out, errs := run("-F", cfg, "-H", "h1,h2", "--echo", "--", "echo", "hi there")
	if code != ExitOK || !strings.Contains(out, "h1 | hi there") {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	for _, want := range []string{"h1 $ echo 'hi there'\n", "h2 $ echo 'hi there'\n"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if strings.Contains(out, "$ echo") {
		t.Errorf("echo on stdout:\n%s", out)
	}
	_, _, errs = run("-F", cfg, "-H", "h1", "-v", "--", "echo a\necho b")
	if !strings.Contains(errs, "h1 $ echo a …\n") {
		t.Errorf("-v: stderr lacks the echo:\n%s", errs)
	}
	_, _, errs = run("-F", cfg, "-H", "h1", "-v", "--hide", "echo", "--", "true")
	if strings.Contains(errs, "$ true") {
		t.Errorf("--hide echo still echoes:\n%s", errs)
	}
	_, _, errs = run("-F", cfg, "-H", "h1", "--", "true")
	if strings.Contains(errs, "$ true") {
		t.Errorf("echo without --echo:\n%s", errs)
	}
}

// TestHideShow: --hide leaves a stream out of the live output (the log
// file keeps it); --show puts it back; a bad word is a usage error.
func TestHideShow(t *testing.T) {
	cfg, _ := lab(t, 2)
	logs := t.TempDir()
	code, out, errs := run("-F", cfg, "-H", "h1,h2", "--hide", "stdout", "--log-dir", logs, "--", "echo out; echo err >&2")
	if code != ExitOK || strings.Contains(out, "out") || !strings.Contains(errs, "h1 ! err") {
		t.Fatalf("--hide stdout: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(logs, "h1.log")); !strings.Contains(string(b), "out") {
		t.Errorf("the log lost the hidden stdout: %q", b)
	}
	_, out, errs = run("-F", cfg, "-H", "h1", "--hide", "stdout,stderr", "--", "echo out; echo err >&2")
	if out != "" || strings.Contains(errs, "err") {
		t.Errorf("--hide stdout,stderr on one host: stdout %q stderr %q", out, errs)
	}
	_, out, _ = run("-F", cfg, "-H", "h1,h2", "--hide", "stdout", "--show", "stdout", "--", "echo out")
	if !strings.Contains(out, "h1 | out") {
		t.Errorf("--show stdout did not win over --hide: %q", out)
	}
	for _, args := range [][]string{{"--hide", "stdot"}, {"--json", "--hide", "stdout"}} {
		code, _, errs := run(append(append([]string{"-F", cfg, "-H", "h1"}, args...), "--", "true")...)
		if code != ExitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "--hide") {
			t.Errorf("%q: exit %d, %q", args, code, errs)
		}
	}
}

// TestGatherHint: when many hosts print the same output the summary
// suggests --gather; different outputs get no hint.
func TestGatherHint(t *testing.T) {
	cfg, _ := lab(t, 4)
	_, _, errs := run("-F", cfg, "-H", "h[1-4]", "--", "echo same")
	if !strings.Contains(errs, "loom: 4 of 4 hosts printed the same output: --gather shows it once") {
		t.Errorf("no hint:\n%s", errs)
	}
	_, _, errs = run("-F", cfg, "-H", "h[1-4]", "--", "echo $PWD")
	if strings.Contains(errs, "--gather") {
		t.Errorf("a hint for different outputs:\n%s", errs)
	}
	_, _, errs = run("-F", cfg, "-H", "h[1-4]", "--gather", "--", "echo same")
	if strings.Contains(errs, "printed the same output") {
		t.Errorf("a hint with --gather:\n%s", errs)
	}
}

// TestEchoInTask: --echo shows a task's commands, its local ones too.
func TestEchoInTask(t *testing.T) {
	needGo(t)
	cfg, _ := lab(t, 2)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(testLoomfile), 0o644)
	code, out, errs := run("-F", cfg, "-f", dir, "--echo", "-H", "h1", "mixed")
	if code != ExitOK {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	for _, want := range []string{"local $ echo 'local step for' h1\n", "h1 $ echo 'remote step'\n"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}
