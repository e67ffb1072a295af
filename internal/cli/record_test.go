package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestRerunFailed: a run with 7 failing hosts of 10 records them;
// --rerun-failed (and -H @failed) then runs on exactly those 7; loom last
// shows the record, which holds no output, in a private file.
func TestRerunFailed(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	cfg, _, servers := labServers(t, 10)
	var failing []string
	for i, s := range servers {
		if i < 7 {
			os.WriteFile(filepath.Join(s.Dir(), "fail"), nil, 0o600)
			failing = append(failing, fmt.Sprintf("h%d", i+1))
		}
	}
	code, _, errs := run("-F", cfg, "-H", "h[1-10]", "--", "echo secret-output; [ ! -e fail ]")
	if code != ExitFailed {
		t.Fatalf("first run: exit %d: %s", code, errs)
	}
	for _, sel := range [][]string{{"--rerun-failed"}, {"-H", "@failed"}} {
		args := append(append([]string{"-F", cfg}, sel...), "--json", "--", "echo again")
		code, out, errs := run(args...)
		if code != ExitOK {
			t.Fatalf("%q: exit %d: %s", sel, code, errs)
		}
		var got []string
		for _, ln := range strings.Split(strings.TrimSpace(out), "\n") {
			var j struct{ Host string }
			json.Unmarshal([]byte(ln), &j)
			got = append(got, j.Host)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(failing, ",") {
			t.Fatalf("%q ran on %v, want %v", sel, got, failing)
		}
		// That run succeeded everywhere: the record is now of it, and
		// nothing is left to rerun.
		if code, _, errs := run("-F", cfg, "--rerun-failed", "--", "true"); code != ExitUsage || !strings.Contains(errs, "had no failed host") {
			t.Fatalf("after a clean run: exit %d: %s", code, errs)
		}
		run("-F", cfg, "-H", "h[1-10]", "--", "[ ! -e fail ]") // fail again for the next round
	}
	code, out, _ := run("last")
	if code != ExitOK || !strings.Contains(out, "h1   failed (exit 1)") || !strings.Contains(out, "3 ok, 7 failed") {
		t.Fatalf("loom last: exit %d:\n%s", code, out)
	}
	dir := filepath.Join(state, "loom")
	di, _ := os.Stat(dir)
	fi, err := os.Stat(filepath.Join(dir, "last.json"))
	if err != nil || fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Fatalf("modes: dir %v file %v (%v)", di.Mode(), fi.Mode(), err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "last.json"))
	if strings.Contains(string(b), "secret-output") {
		t.Fatalf("the record holds output:\n%s", b)
	}
	os.Chmod(filepath.Join(dir, "last.json"), 0o666)
	if code, _, errs := run("-F", cfg, "--rerun-failed", "--", "true"); code != ExitUsage || !strings.Contains(errs, "others may write it") {
		t.Fatalf("a record others may write: exit %d: %s", code, errs)
	}
}
