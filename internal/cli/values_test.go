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
		{[]string{"--timeout", "5"}, "invalid value"}, // no unit
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
