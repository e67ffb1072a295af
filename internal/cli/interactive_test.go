//go:build linux

package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loomssh/loom/internal/ptytest"
	"github.com/loomssh/loom/internal/sshdtest"
)

// TestSSHInteractiveOnPty: loom ssh HOST COMMAND on a real terminal
// forwards what is typed (a read in the command gets it), and the
// command's exit status is loom's.
func TestSSHInteractiveOnPty(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "s")
	r := startPty(t, childSpec{Mode: "main", Args: []string{"-F", cfg, "ssh", "s", `echo ready; read x; echo got=$x; exit 5`}})
	r.waitFor("the command", time.Minute, func(s *ptytest.Screen) bool { return strings.Contains(s.String(), "ready") })
	r.typeLine("hello")
	code := r.exit()
	if out := r.String(); code != 5 || !strings.Contains(out, "got=hello") {
		t.Fatalf("exit %d, want 5; the terminal shows:\n%s", code, out)
	}
}

// TestTtyOneHostIsInteractive: -t with one host on a terminal is the
// same: the typed line reaches the command (it used to hang).
func TestTtyOneHostIsInteractive(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "s")
	r := startPty(t, childSpec{Mode: "main", Args: []string{"-F", cfg, "-t", "-H", "s", "--", `echo ready; read x; echo got=$x`}})
	r.waitFor("the command", time.Minute, func(s *ptytest.Screen) bool { return strings.Contains(s.String(), "ready") })
	r.typeLine("typed")
	if code := r.exit(); code != 0 || !strings.Contains(r.String(), "got=typed") {
		t.Fatalf("exit %d; the terminal shows:\n%s", code, r.String())
	}
}

// TestSSHWindowChange: a change of the local terminal's size reaches the
// remote pseudo-terminal.
func TestSSHWindowChange(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "s")
	script := `echo size=$(stty size); until [ "$(stty size)" = "30 100" ]; do sleep 0.05; done; echo resized`
	r := startPty(t, childSpec{Mode: "main", Args: []string{"-F", cfg, "ssh", "s", script}})
	r.waitFor("the first size", time.Minute, func(s *ptytest.Screen) bool { return strings.Contains(s.String(), "size=40 200") })
	if err := unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}); err != nil {
		t.Fatal(err)
	}
	r.waitFor("the new size", time.Minute, func(s *ptytest.Screen) bool { return strings.Contains(s.String(), "resized") })
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.String())
	}
}

// TestSSHInteractiveOnHeldHost: loom ssh on a host whose commands go
// through the holder (--persist, or ssh_config ControlPersist) gets a
// terminal session of its own, instead of failing with "an interactive
// session needs an SSH connection".
func TestSSHInteractiveOnHeldHost(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "s")
	useHolderDir(t)
	if code, _, errs := run("--persist", "1m", "-F", cfg, "-H", "s", "--", "true"); code != ExitOK {
		t.Fatalf("holding s: %d %q", code, errs)
	}
	r := startPty(t, childSpec{Mode: "main", Args: []string{"--persist", "1m", "-F", cfg, "ssh", "s", `echo ready; read x; echo got=$x; exit 5`}})
	r.waitFor("the command", time.Minute, func(s *ptytest.Screen) bool {
		return strings.Contains(s.String(), "ready") || strings.Contains(s.String(), "loom:")
	})
	r.typeLine("hello")
	code := r.exit()
	if out := r.String(); code != 5 || !strings.Contains(out, "got=hello") {
		t.Fatalf("exit %d, want 5; the terminal shows:\n%s", code, out)
	}
}
