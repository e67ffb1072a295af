//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/testkit"
)

// --persist starts a background holder on first use; the next run goes
// through it without logging in again; --persist-stop ends it and its
// connections.
func TestPersistHoldsConnectionsAcrossRuns(t *testing.T) {
	cfg, _, hosts := labServers(t, 2)
	dir := filepath.Join(t.TempDir(), "holder")
	t.Setenv("LOOM_HOLDER_DIR", dir)
	t.Cleanup(func() { run("--persist-stop") })

	for i, want := range []int{1, 1} {
		code, out, errs := run("-F", cfg, "--persist", "1m", "-H", "h1,h2", "--", "echo", "hi; exit 3")
		if code != ExitOK || !strings.Contains(out, "h1 | hi; exit 3") || !strings.Contains(out, "h2 | hi; exit 3") {
			t.Fatalf("run %d: %d %q %q", i+1, code, out, errs)
		}
		if strings.Contains(errs, "warning") {
			t.Fatalf("run %d: %q", i+1, errs)
		}
		for j, h := range hosts {
			if n := h.Connections(); n != want {
				t.Fatalf("run %d: h%d has had %d connections, want %d", i+1, j+1, n, want)
			}
		}
	}
	code, out, errs := run("-F", cfg, "--persist", "1m", "-H", "h1", "--", "exit 4")
	if code != 4 { // one host: its exit status is loom's, as with ssh
		t.Fatalf("exit status through the holder: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, holder.SocketName)); err != nil {
		t.Fatalf("no holder socket: %v", err)
	}
	if code, _, errs := run("--persist-stop"); code != ExitOK || !strings.Contains(errs, "stopped") {
		t.Fatalf("--persist-stop: %d %q", code, errs)
	}
	for _, h := range hosts {
		testkit.WaitFor(t, "the held connections to close", func() bool { return h.OpenConnections() == 0 })
	}
	if code, _, errs := run("--persist-stop"); code != ExitOK || !strings.Contains(errs, "no connection holder") {
		t.Fatalf("--persist-stop again: %d %q", code, errs)
	}
	if code, _, errs := run("put", "-F", cfg, "--persist", "1m", "-H", "h1", "x", "y"); code != ExitUsage || !strings.Contains(errs, "--persist") {
		t.Fatalf("put --persist: %d %q", code, errs)
	}
}
