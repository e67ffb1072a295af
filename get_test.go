//go:build unix

package loom_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/loomtest"
)

// getLab starts a loomtest server with fault f and a Dialer that reaches it
// under any host name ("Host *"), so tests can dial names like "..".
func getLab(t *testing.T, f loomtest.Fault) (*loomtest.Server, *loom.Dialer) {
	t.Helper()
	signer, _ := ssh.NewSignerFromKey(mustEd25519(t))
	s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}, Fault: f, Logf: func(string, ...any) {}})
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey())+"\n"), 0o600)
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host *\n  HostName %s\n  Port %d\n  UserKnownHostsFile %s\n  IdentitiesOnly yes\n", s.Host(), s.Port(), kh)), 0o600)
	d := &loom.Dialer{ConfigFile: cfg, Signers: []ssh.Signer{signer}, AgentSocket: "/nonexistent"}
	t.Cleanup(func() { d.Close() })
	return s, d
}

func dialAs(t *testing.T, d *loom.Dialer, name string) *loom.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.Dial(ctx, name)
	if err != nil {
		t.Fatalf("dial %q: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.Timeout(time.Minute)
}

// TestGetNeverReplacesLocalFile: Get refuses to replace a local file that
// is already there, before it writes anything, unless Overwrite is given.
func TestGetNeverReplacesLocalFile(t *testing.T) {
	s, d := getLab(t, loomtest.NoFault)
	c := dialAs(t, d, "web1")
	writeFile(t, filepath.Join(s.Dir(), "app.conf"), "remote", 0o644)
	writeFile(t, filepath.Join(s.Dir(), "tree", "a.txt"), "remote a", 0o644)
	writeFile(t, filepath.Join(s.Dir(), "tree", "b.txt"), "remote b", 0o644)
	os.Symlink("a.txt", filepath.Join(s.Dir(), "tree", "link"))
	local := t.TempDir()

	dst := filepath.Join(local, "same.txt")
	writeFile(t, dst, "mine", 0o600)
	tr := c.Get("app.conf", dst)
	if !errors.Is(tr.Err, fs.ErrExist) || !strings.Contains(tr.Err.Error(), "Overwrite") {
		t.Fatalf("get over an existing file: %v", tr.Err)
	}
	if got := readFile(t, dst); got != "mine" {
		t.Fatalf("the local file was replaced: %q", got)
	}
	c.ResetErr()
	// A tree with one file already there: nothing of it is written.
	into := filepath.Join(local, "copy") + "/"
	got := filepath.Join(local, "copy", "tree")
	writeFile(t, filepath.Join(got, "b.txt"), "mine b", 0o600)
	if tr := c.Get("tree", into); !errors.Is(tr.Err, fs.ErrExist) || tr.Files != 0 {
		t.Fatalf("get of a tree over an existing file: %v (%d files)", tr.Err, tr.Files)
	}
	if files := tree(t, got); strings.Join(files, ",") != "b.txt=mine b" {
		t.Fatalf("the tree was partly written: %v", files)
	}
	c.ResetErr()
	// A link already there is not replaced either.
	os.Remove(filepath.Join(got, "b.txt"))
	os.Symlink("elsewhere", filepath.Join(got, "link"))
	if tr := c.Get("tree", into); !errors.Is(tr.Err, fs.ErrExist) {
		t.Fatalf("get of a tree over an existing link: %v", tr.Err)
	}
	c.ResetErr()
	noTemps(t, local)

	// Asked to: replaced.
	if tr := c.Get("app.conf", dst, loom.Overwrite()); tr.Err != nil || readFile(t, dst) != "remote" {
		t.Fatalf("get with Overwrite: %v", tr.Err)
	}
	writeFile(t, filepath.Join(got, "b.txt"), "mine b", 0o600)
	if tr := c.Get("tree", into, loom.Overwrite()); tr.Err != nil {
		t.Fatalf("get of a tree with Overwrite: %v", tr.Err)
	}
	if files := tree(t, got); strings.Join(files, ",") != "a.txt=remote a,b.txt=remote b,link->a.txt" {
		t.Fatalf("tree with Overwrite: %v", files)
	}
	noTemps(t, local)
}

// TestGetMasksModes: a fetched file never keeps setuid, setgid or sticky
// bits, and the umask applies, as with scp and sftp: a hostile host cannot
// plant a setuid program (as root, owned by root) on the machine running
// Loom.
func TestGetMasksModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	s, d := getLab(t, loomtest.NoFault)
	c := dialAs(t, d, "web1")
	for _, p := range []string{"suid", "tree/suid", "tree/sgid", "tree/sticky"} {
		writeFile(t, filepath.Join(s.Dir(), p), "#!/bin/sh\nid\n", 0o755)
	}
	for p, m := range map[string]fs.FileMode{"suid": fs.ModeSetuid | fs.ModeSetgid | 0o777, "tree/suid": fs.ModeSetuid | 0o777, "tree/sgid": fs.ModeSetgid | 0o775, "tree/sticky": fs.ModeSticky | 0o700} {
		if err := os.Chmod(filepath.Join(s.Dir(), p), m); err != nil {
			t.Fatal(err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(s.Dir(), "suid")); fi.Mode()&fs.ModeSetuid == 0 {
		t.Skip("cannot make a setuid file here")
	}
	local := t.TempDir()
	if tr := c.Get("suid", filepath.Join(local, "{host}", "{basename}")); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if tr := c.Get("tree", filepath.Join(local, "{host}", "tree")); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	for p, want := range map[string]fs.FileMode{"suid": 0o755, "tree/suid": 0o755, "tree/sgid": 0o755, "tree/sticky": 0o700} {
		fi, err := os.Stat(filepath.Join(local, "web1", p))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); got != want {
			t.Errorf("%s: fetched with mode %v, want %v", p, got, want)
		}
	}
	// Mode is the caller's own choice: it is applied as given.
	if tr := c.Get("suid", filepath.Join(local, "chosen"), loom.Mode(0o4750)); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if fi, _ := os.Stat(filepath.Join(local, "chosen")); fi.Mode() != fs.ModeSetuid|0o750 {
		t.Errorf("with Mode(0o4750): %v", fi.Mode())
	}
}

// TestGetCutsAtStatedSize: a host that sends more bytes than its stat said
// has the file cut at that size, and the cut is reported.
func TestGetCutsAtStatedSize(t *testing.T) {
	s, d := getLab(t, loomtest.ShortFileSizes)
	c := dialAs(t, d, "web1")
	big := strings.Repeat("0123456789", 100_000) // 1,000,000 bytes: several SFTP reads
	writeFile(t, filepath.Join(s.Dir(), "big.log"), big, 0o644)
	writeFile(t, filepath.Join(s.Dir(), "tree", "small.log"), "0123456789", 0o644)
	local := t.TempDir()

	dst := filepath.Join(local, "big.log")
	tr := c.Get("big.log", dst)
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if got := readFile(t, dst); got != big[:len(big)/2] {
		t.Fatalf("fetched %d bytes, want the %d the host's stat gave", len(got), len(big)/2)
	}
	if len(tr.Cut) != 1 || tr.Cut[0] != dst || tr.Bytes != int64(len(big)/2) {
		t.Fatalf("the cut is not reported: cut %v, bytes %d", tr.Cut, tr.Bytes)
	}
	tr = c.Get("tree", filepath.Join(local, "tree"))
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if got := readFile(t, filepath.Join(local, "tree", "small.log")); got != "01234" || len(tr.Cut) != 1 {
		t.Fatalf("tree: fetched %q, cut %v", got, tr.Cut)
	}
}

// TestGetHostPathSafe: {host} never takes a Get outside its directory:
// ".", ".." and names with a slash or control characters are escaped, so
// that each host still has a directory of its own.
func TestGetHostPathSafe(t *testing.T) {
	s, d := getLab(t, loomtest.NoFault)
	writeFile(t, filepath.Join(s.Dir(), "f"), "content", 0o644)
	local := t.TempDir()
	out := filepath.Join(local, "out")
	names := []string{"..", ".", "a_b", "%2E%2E", "web1"}
	for _, name := range names {
		c := dialAs(t, d, name)
		if tr := c.Get("f", filepath.Join(out, "{host}", "{basename}")); tr.Err != nil {
			t.Fatalf("%q: %v", name, tr.Err)
		}
	}
	if _, err := os.Stat(filepath.Join(local, "f")); err == nil {
		t.Fatal("host \"..\" wrote outside out/")
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() || strings.ContainsFunc(e.Name(), func(r rune) bool { return r < ' ' || r == 0x7f }) {
			t.Errorf("out/%q: want a directory with a printable name", e.Name())
		}
		dirs = append(dirs, e.Name())
		if got := readFile(t, filepath.Join(out, e.Name(), "f")); got != "content" {
			t.Errorf("out/%s/f: %q", e.Name(), got)
		}
	}
	if len(dirs) != len(names) {
		t.Fatalf("%d hosts, %d directories: %q", len(names), len(dirs), dirs)
	}
	t.Logf("host directories: %q", dirs)
}

// smallDisk mounts a 256 KiB tmpfs owned by the server's login user, or
// skips the test where that cannot be done (not root, no mount rights).
func smallDisk(t *testing.T, s *sshdtest.Server) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system needs root")
	}
	dir := scratch(t, s, s.Home)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	chownToUser(t, s, dir)
	return dir
}

// TestPutDiskFullSaysSo: a put onto a full disk says "no space left on
// device", not SFTP's generic "failure", over SFTP and with sudo.
func TestPutDiskFullSaysSo(t *testing.T) {
	s, d := target(t, sshdtest.Options{})
	sudo, _ := sshdtest.CanSudo()
	if sudo {
		d.SudoPassword = loom.NewSecret(s.Password)
	}
	c := dial(t, d, "target").Timeout(time.Minute)
	disk := smallDisk(t, s)
	big := filepath.Join(t.TempDir(), "big.bin")
	writeFile(t, big, strings.Repeat("x", 1<<20), 0o644)
	check := func(what string, tr *loom.Transfer) {
		t.Helper()
		if tr.Err == nil || !strings.Contains(tr.Err.Error(), "no space left on device") {
			t.Fatalf("%s onto a full disk: %v", what, tr.Err)
		}
		t.Logf("%s: %v", what, tr.Err)
		c.ResetErr()
		noTemps(t, disk)
	}
	check("put", c.Put(big, disk+"/"))
	check("put reader", c.PutReader(strings.NewReader(strings.Repeat("y", 1<<20)), disk+"/r.bin"))
	if sudo {
		check("put with sudo", c.Put(big, disk+"/", loom.UseSudo()))
	}
}

// TestGetSudoMasksModes: the sudo path (a tar archive) masks modes too,
// and refuses to replace a local file.
func TestGetSudoMasksModes(t *testing.T) {
	if ok, why := sshdtest.CanSudo(); !ok {
		t.Skip(why)
	}
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	s, d := target(t, sshdtest.Options{})
	d.SudoPassword = loom.NewSecret(s.Password)
	c := dial(t, d, "target").Timeout(time.Minute)
	root := filepath.Join(s.Dir, "sudo-modes") // s.Dir: not writable by the login user
	writeFile(t, filepath.Join(root, "suid"), "#!/bin/sh\nid\n", 0o755)
	writeFile(t, filepath.Join(root, "tree", "sgid"), "x", 0o644)
	os.Chmod(filepath.Join(root, "suid"), fs.ModeSetuid|fs.ModeSetgid|0o777)
	os.Chmod(filepath.Join(root, "tree", "sgid"), fs.ModeSetgid|fs.ModeSticky|0o666)
	os.Chmod(root, 0o700)
	out := t.TempDir()
	if tr := c.Get(filepath.Join(root, "suid"), filepath.Join(out, "suid"), loom.UseSudo()); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if tr := c.Get(filepath.Join(root, "tree"), filepath.Join(out, "tree"), loom.UseSudo()); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	for p, want := range map[string]fs.FileMode{"suid": 0o755, "tree/sgid": 0o644} {
		fi, err := os.Stat(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); got != want {
			t.Errorf("%s: fetched with mode %v, want %v", p, got, want)
		}
	}
	writeFile(t, filepath.Join(out, "again"), "mine", 0o600)
	if tr := c.Get(filepath.Join(root, "suid"), filepath.Join(out, "again"), loom.UseSudo()); !errors.Is(tr.Err, fs.ErrExist) || readFile(t, filepath.Join(out, "again")) != "mine" {
		t.Fatalf("sudo get over an existing file: %v", tr.Err)
	}
}
