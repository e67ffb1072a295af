package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNonsenseValuesAreUsageErrors: a value that makes no sense is exit
// 2 with one line naming the flag and what it wants, and nothing runs.
func TestNonsenseValuesAreUsageErrors(t *testing.T) {
	cfg, _ := lab(t, 1)
	marker := filepath.Join(t.TempDir(), "ran")
	for _, tc := range []struct {
		flags []string
		want  string // in the message, besides the flag
	}{
		{[]string{"--connect-timeout", "-1s"}, "positive duration"},
		{[]string{"--connect-timeout", "0"}, "positive duration"},
		{[]string{"-p", "0"}, "1 to 65535"},
		{[]string{"-p", "65536"}, "1 to 65535"},
		{[]string{"-p", "-22"}, "1 to 65535"},
		{[]string{"--batch", "0"}, "at least 1"},
		{[]string{"--batch", "0%"}, "at least 1"},
		{[]string{"--max-fail", "-1"}, "want a number"},
		{[]string{"-P", "0"}, "at least 1"},
		{[]string{"-P", "-4"}, "at least 1"},
		{[]string{"--handshakes", "0"}, "at least 1"},
		{[]string{"--handshakes", "-1"}, "at least 1"},
		{[]string{"--retries", "-1"}, "0 or more"},
		{[]string{"--timeout", "-1s"}, "positive duration"},
		{[]string{"--host-timeout", "-5s"}, "positive duration"},
		{[]string{"--timeout", "5"}, "needs a unit, e.g. 5s"},
	} {
		args := append(append([]string{"-F", cfg, "-H", "h1"}, tc.flags...), "--", "touch "+marker)
		code, out, errs := run(args...)
		flag := strings.TrimLeft(tc.flags[0], "-")
		if code != ExitUsage || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", tc.flags, code, out)
		}
		if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "loom: ") || !strings.Contains(errs, flag) || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: want one line naming %s and %q, got %q", tc.flags, flag, tc.want, errs)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%q: the command ran", tc.flags)
		}
	}
	// Zero where zero has a meaning stays accepted.
	for _, flags := range [][]string{{"--timeout", "0"}, {"--host-timeout", "0"}, {"--max-fail", "0"}, {"--retries", "0"}, {"--batch", "1%"}} {
		args := append(append([]string{"-F", cfg, "-H", "h1"}, flags...), "--", "true")
		if code, _, errs := run(args...); code != ExitOK {
			t.Errorf("%q: exit %d: %s", flags, code, errs)
		}
	}
}

// TestFailFastExitsOne: --fail-fast interrupts the hosts still running
// after the first failure, and the run exits 1, the failure's status;
// 130 is for Ctrl-C.
func TestFailFastExitsOne(t *testing.T) {
	cfg, _, servers := labServers(t, 3)
	shared := t.TempDir()
	os.WriteFile(filepath.Join(servers[0].Dir(), "fail"), nil, 0o600)
	// h1 fails once h2 and h3 are running, so that they are interrupted
	// (not merely never started).
	script := `if [ -e fail ]; then
  until [ "$(ls ` + shared + ` | wc -l)" -ge 2 ]; do sleep 0.05; done
  exit 1
fi
mktemp ` + shared + `/started.XXXXXX >/dev/null
sleep 60`
	start := time.Now()
	code, _, errs := run("-F", cfg, "-H", "h[1-3]", "--fail-fast", "--", script)
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errs)
	}
	if !strings.Contains(errs, "failed (exit 1): h1") || !strings.Contains(errs, "2 interrupted") {
		t.Errorf("summary: %s", errs)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("took %v: the running hosts were not interrupted", el)
	}
}

// TestLogDirMadeOrRefused: --log-dir makes its directory (0700) before
// anything runs, or refuses to run; it never exits 0 with the logs lost.
func TestLogDirMadeOrRefused(t *testing.T) {
	cfg, _ := lab(t, 2)
	dir := filepath.Join(t.TempDir(), "logs", "today")
	code, _, errs := run("-F", cfg, "-H", "h1,h2", "--log-dir", dir, "--", "echo hi")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("log dir: %v %v", fi, err)
	}
	for _, h := range []string{"h1", "h2"} {
		if b, err := os.ReadFile(filepath.Join(dir, h+".log")); err != nil || string(b) != "hi\n" {
			t.Errorf("%s.log: %q %v", h, b, err)
		}
	}

	// A path that cannot be a directory: exit 2, naming the flag, and
	// nothing runs.
	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, nil, 0o600)
	marker := filepath.Join(t.TempDir(), "ran")
	code, _, errs = run("-F", cfg, "-H", "h1,h2", "--log-dir", filepath.Join(file, "sub"), "--", "touch "+marker)
	if code != ExitUsage || !strings.Contains(errs, "--log-dir "+filepath.Join(file, "sub")) || strings.Count(errs, "\n") != 1 {
		t.Errorf("log dir under a file: exit %d: %q", code, errs)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran")
	}

	// A directory where no file can be made (mode checks do not bind
	// root: only as another user).
	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro")
		os.Mkdir(ro, 0o500)
		code, _, errs = run("-F", cfg, "-H", "h1,h2", "--log-dir", ro, "--", "touch "+marker)
		if code != ExitUsage || !strings.Contains(errs, "cannot create files") {
			t.Errorf("read-only log dir: exit %d: %q", code, errs)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("the command ran")
		}
	}
}

// TestLogFileLostIsNotSuccess: when a host's log file cannot be created
// during the run, the run says so and does not exit 0.
func TestLogFileLostIsNotSuccess(t *testing.T) {
	cfg, _ := lab(t, 2)
	dir := t.TempDir()
	// h2.log is a directory: it cannot be opened for writing.
	os.Mkdir(filepath.Join(dir, "h2.log"), 0o700)
	code, _, errs := run("-F", cfg, "-H", "h1,h2", "--log-dir", dir, "--", "echo hi")
	if code == ExitOK || !strings.Contains(errs, "the log of 1 host is missing or incomplete (first: h2:") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// TestEmptyHostsFile: an @FILE with no host in it says so, for -H and
// for -x, instead of "no hosts left (after -x)" or excluding nothing.
func TestEmptyHostsFile(t *testing.T) {
	cfg, _ := lab(t, 2)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# the web hosts\n\n   \n"), 0o600)
	code, _, errs := run("-F", cfg, "-H", "@"+empty, "--", "true")
	if code != ExitUsage || errs != "loom: -H @"+empty+": hosts file "+empty+" is empty (no host in it, only blank lines or comments)\n" {
		t.Errorf("-H @empty: exit %d: %q", code, errs)
	}
	code, _, errs = run("-F", cfg, "-H", "h1,h2", "-x", "@"+empty, "--", "true")
	if code != ExitUsage || !strings.Contains(errs, "-x @"+empty+": hosts file "+empty+" is empty") {
		t.Errorf("-x @empty: exit %d: %q", code, errs)
	}
	// -x @FILE reads the file, like -H.
	skip := filepath.Join(dir, "skip")
	os.WriteFile(skip, []byte("h2 # down for maintenance\n"), 0o600)
	code, out, errs := run("-F", cfg, "-H", "h1,h2", "-x", "@"+skip, "--", "echo x")
	if code != ExitOK || out != "x\n" {
		t.Errorf("-x @skip: exit %d out %q err %q", code, out, errs)
	}
	code, _, errs = run("-F", cfg, "-H", "h1,h2", "-x", "h[1-2]", "--", "true")
	if code != ExitUsage || !strings.Contains(errs, "-x excluded every one") {
		t.Errorf("-x all: exit %d: %q", code, errs)
	}
}

// TestForeignInventoryUpward: a loom.yaml found upward that others may
// write is refused in one line that says how to override; -I FILE uses
// it, -I none uses none.
func TestForeignInventoryUpward(t *testing.T) {
	cfg, _ := lab(t, 1)
	root := t.TempDir()
	inv := filepath.Join(root, "loom.yaml")
	os.WriteFile(inv, []byte("hosts:\n  h1: {}\n"), 0o644)
	os.Chmod(inv, 0o666)
	sub := filepath.Join(root, "src")
	os.Mkdir(sub, 0o755)
	t.Chdir(sub)
	code, _, errs := run("-F", cfg, "-H", "h1", "--", "true")
	if code != ExitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, inv+": writable by every user") || !strings.Contains(errs, "-I "+inv) {
		t.Fatalf("exit %d: %q", code, errs)
	}
	for _, flag := range []string{inv, "none"} {
		if code, _, errs := run("-F", cfg, "-I", flag, "-H", "h1", "--", "true"); code != ExitOK {
			t.Errorf("-I %s: exit %d: %s", flag, code, errs)
		}
	}
}
