//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/testkit"
)

// --persist starts a background holder on first use; the next run goes
// through it without logging in again; --persist-stop ends it and its
// connections.
func TestPersistHoldsConnectionsAcrossRuns(t *testing.T) {
	cfg, _, hosts := labServers(t, 2)
	dir := useHolderDir(t)

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
}

// ssh_config's ControlMaster auto with ControlPersist holds that host, as
// in ssh, with no flag; ControlPath (OpenSSH's socket) is left alone.
// --persist-stop -H drops one host's held connection and leaves the rest
// (ssh -O exit).
func TestControlPersistHoldsAndPersistStopDropsOneHost(t *testing.T) {
	cfg, _, hosts := labServers(t, 3)
	useHolderDir(t)
	cp := filepath.Join(t.TempDir(), "cm-%C")
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append([]byte("Host h1 h3\n  ControlMaster auto\n  ControlPersist 1m\n  ControlPath "+cp+"\n"), data...), 0o600)

	for i := range 2 {
		code, out, errs := run("-F", cfg, "-v", "-H", "h1,h2,h3", "--", "echo hi")
		if code != ExitOK || strings.Count(out, "| hi") != 3 || strings.Contains(errs, "warning") || strings.Contains(errs, "not supported") {
			t.Fatalf("run %d: %d %q %q", i+1, code, out, errs)
		}
	}
	if n := hosts[0].Connections(); n != 1 {
		t.Fatalf("h1 (ControlPersist 1m) had %d connections over two runs, want 1 held", n)
	}
	if n := hosts[1].Connections(); n != 2 {
		t.Fatalf("h2 (no ControlMaster) had %d connections over two runs, want 2", n)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(cp), "cm-*")); len(m) != 0 {
		t.Fatalf("something at OpenSSH's ControlPath: %v", m)
	}
	code, _, errs := run("-F", cfg, "--persist-stop", "-H", "h1,h2")
	if code != ExitOK || !strings.Contains(errs, "h1: held connection closed") || !strings.Contains(errs, "h2: no held connection") {
		t.Fatalf("--persist-stop -H h1,h2: %d %q", code, errs)
	}
	testkit.WaitFor(t, "h1's held connection to close", func() bool { return hosts[0].OpenConnections() == 0 })
	if n := hosts[2].OpenConnections(); n != 1 {
		t.Fatalf("h3's held connection: %d open, want 1 (only h1 was dropped)", n)
	}
	if code, _, errs := run("-F", cfg, "-H", "h3", "--", "true"); code != ExitOK || hosts[2].Connections() != 1 {
		t.Fatalf("h3 after dropping h1: %d %q, %d connections", code, errs, hosts[2].Connections())
	}
}

// useHolderDir gives the test a holder directory of its own
// ($LOOM_HOLDER_DIR); the holder is stopped when the test ends, and its
// log shown if the test failed.
func useHolderDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "holder")
	t.Setenv("LOOM_HOLDER_DIR", dir)
	t.Cleanup(func() {
		run("--persist-stop")
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, holder.LogName))
			t.Logf("holder log:\n%s", b)
		}
	})
	return dir
}

// loom.yaml's settings: persist: holds every host, as --persist does.
func TestInventoryPersist(t *testing.T) {
	cfg, _, hosts := labServers(t, 1)
	useHolderDir(t)
	inv := filepath.Join(t.TempDir(), "loom.yaml")
	os.WriteFile(inv, []byte("settings:\n  persist: 1m\nhosts: [h1]\n"), 0o600)
	for i := range 2 {
		if code, out, errs := run("-F", cfg, "-I", inv, "-H", "h1", "--", "echo hi"); code != ExitOK || out != "hi\n" {
			t.Fatalf("run %d: %d %q %q", i+1, code, out, errs)
		}
	}
	if n := hosts[0].Connections(); n != 1 {
		t.Fatalf("h1 had %d connections over two runs, want 1 held", n)
	}
}

// put, get and sync go through the holder on a held host (the sftp
// subsystem and the file engine's janitor as streams of the holder's, like
// commands): against OpenSSH's sshd, one login for all of them.
func TestPersistFileTransfer(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "s1")
	useHolderDir(t)
	local := t.TempDir()
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB: many SFTP packets
	os.WriteFile(filepath.Join(local, "app.conf"), []byte(big), 0o640)
	remote := filepath.Join(s.Home, "persist-put")
	os.RemoveAll(remote)
	t.Cleanup(func() { os.RemoveAll(remote) })

	if code, out, errs := run("put", "--persist", "1m", "-F", cfg, "-H", "s1", filepath.Join(local, "app.conf"), "persist-put/app.conf"); code != 0 || !strings.Contains(errs, "sent 1 file") {
		t.Fatalf("put: %d %q %q", code, out, errs)
	}
	if b, err := os.ReadFile(filepath.Join(remote, "app.conf")); err != nil || string(b) != big {
		t.Fatalf("remote file: %d bytes, %v", len(b), err)
	}
	dst := t.TempDir()
	if code, _, errs := run("get", "--persist", "1m", "-F", cfg, "-H", "s1", "persist-put/app.conf", filepath.Join(dst, "app.conf")); code != 0 {
		t.Fatalf("get: %d %q", code, errs)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "app.conf")); err != nil || string(b) != big {
		t.Fatalf("fetched: %d bytes, %v", len(b), err)
	}
	tree := t.TempDir()
	for _, f := range []string{"a.txt", "sub/b.txt"} {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(tree, f), []byte(f), 0o644)
	}
	for i, want := range []string{"sent 2 files", "sent 0 files (0 B), 2 unchanged"} {
		if code, _, errs := run("sync", "--persist", "1m", "-F", cfg, "-H", "s1", tree, "persist-put/tree"); code != 0 || !strings.Contains(errs, want) {
			t.Fatalf("sync %d: %d %q", i+1, code, errs)
		}
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("sshd had %d connections for put, get and two syncs through the holder; want 1", n)
	}
}

// A host that drops its held connection is dialled again (once) by the
// next run; a host that is gone is then reported unreachable, as without
// the holder.
func TestPersistHostDropsHeldConnection(t *testing.T) {
	cfg, _, hosts := labServers(t, 1)
	useHolderDir(t)
	h := hosts[0]
	if code, out, errs := run("-F", cfg, "--persist", "1m", "-H", "h1", "--", "echo hi"); code != ExitOK || out != "hi\n" {
		t.Fatalf("first run: %d %q %q", code, out, errs)
	}
	h.DropConnections()
	testkit.WaitFor(t, "the host to drop it", func() bool { return h.OpenConnections() == 0 })
	// The holder may not have seen the drop when the next command is
	// sent: that command is then lost, as on a direct connection (Loom
	// never runs a command twice); the one after is redialled.
	var code int
	var out, errs string
	testkit.WaitFor(t, "a run after the drop", func() bool {
		code, out, errs = run("-F", cfg, "--persist", "1m", "-H", "h1", "--", "echo again")
		if code != ExitOK && !strings.Contains(errs, "connection lost") {
			t.Fatalf("after the drop: %d %q %q", code, out, errs)
		}
		return code == ExitOK
	})
	if out != "again\n" || h.Connections() != 2 {
		t.Fatalf("after the drop: %q, %d connections (want 2: held, then redialled once)", out, h.Connections())
	}
	h.Close()
	testkit.WaitFor(t, "the gone host reported unreachable", func() bool {
		code, out, errs = run("-F", cfg, "--persist", "1m", "-H", "h1", "--", "echo gone")
		if code != ExitUnreachable && !strings.Contains(errs, "connection lost") {
			t.Fatalf("gone host: %d %q %q", code, out, errs)
		}
		return code == ExitUnreachable
	})
	_, _, direct := run("-F", cfg, "-H", "h1", "--", "echo gone")
	if !strings.Contains(errs, "h1: cannot connect") || errs != direct {
		t.Fatalf("gone host through the holder: %q; direct: %q", errs, direct)
	}
}
