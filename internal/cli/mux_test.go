//go:build linux

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/sshdtest"
)

// `loom -F cfg -H host -- cmd` on a host with ControlMaster auto and a
// ControlPath where the user's own OpenSSH master listens runs on that
// master: -v names it, sshd sees no new connection, the exit status is
// the command's. With --persist too, the master wins (no holder starts).
func TestCLIUsesOpenSSHMaster(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte("Host web\n  ControlMaster auto\n  ControlPath "+dir+"/cm-%r@%h:%p\n"), 0o600)
	s.WriteSSHConfig(cfg, "web")
	sock := fmt.Sprintf("%s/cm-%s@%s:%d", dir, s.User, s.Host, s.Port)
	m := s.StartMaster(t, cfg, "web", sock)
	holderDir := useHolderDir(t)

	code, out, errs := run("-F", cfg, "-v", "-H", "web", "--", "echo hi; echo oops >&2; exit 3")
	if code != 3 || out != "hi\n" || !strings.Contains(errs, "oops") {
		t.Fatalf("through the master: %d %q %q", code, out, errs)
	}
	if want := fmt.Sprintf("web: through OpenSSH's master at %s (pid %d)", sock, m.PID); !strings.Contains(errs, want) {
		t.Fatalf("-v does not name the master (%q):\n%s", want, errs)
	}
	code, out, errs = run("-F", cfg, "--persist", "1m", "-H", "web", "--", "echo", "again")
	if code != ExitOK || out != "again\n" || strings.Contains(errs, "warning") {
		t.Fatalf("--persist with a live master: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(holderDir, holder.SocketName)); err == nil {
		t.Fatal("--persist started a holder for a host an OpenSSH master serves")
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("sshd accepted %d connections, want only the master's (no new login)", n)
	}

	// The master gone (killed), the same command connects directly.
	m.Kill()
	code, out, errs = run("-F", cfg, "-v", "-H", "web", "--", "echo", "direct")
	if code != ExitOK || out != "direct\n" || !strings.Contains(errs, "does not answer") || s.Connections() != 2 {
		t.Fatalf("without the master: %d %q %q, %d connections", code, out, errs, s.Connections())
	}
}
