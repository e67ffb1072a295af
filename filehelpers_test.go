//go:build unix

package loom_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

func TestTemplate(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "web1")
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	t.Cleanup(func() { d.Close() })
	c, err := d.DialHost(context.Background(), loom.Host{Name: "web1", Vars: map[string]string{"port": "8080"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := scratch(t, s, s.Home)
	tmpl := filepath.Join(t.TempDir(), "app.conf.tmpl")
	writeFile(t, tmpl, "# {{.Host}}\nlisten {{.Vars.port}}\nworkers {{.Data.Workers}}\n", 0o644)
	dst := filepath.Join(dir, "app.conf")

	tr := c.Template(tmpl, dst, map[string]int{"Workers": 4})
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if got := readFile(t, dst); got != "# web1\nlisten 8080\nworkers 4\n" || modeOf(t, dst) != 0o644 {
		t.Fatalf("rendered %q mode %o", got, modeOf(t, dst))
	}
	if tr.Files != 1 || tr.Skipped != 0 {
		t.Fatalf("first write: %+v", tr)
	}

	// identical: not written again (the file keeps its inode)
	before, _ := os.Stat(dst)
	var diff bytes.Buffer
	tr = c.Template(tmpl, dst, map[string]int{"Workers": 4}, loom.ShowDiff(&diff))
	after, _ := os.Stat(dst)
	if tr.Err != nil || tr.Skipped != 1 || tr.Files != 0 || diff.Len() != 0 || !os.SameFile(before, after) {
		t.Fatalf("unchanged template rewritten: %+v diff %q", tr, diff.String())
	}

	// a change: diff, mode kept
	os.Chmod(dst, 0o640)
	tr = c.Template(tmpl, dst, map[string]int{"Workers": 8}, loom.ShowDiff(&diff))
	wantDiff := "--- web1:" + dst + "\n+++ web1:" + dst + " (new)\n@@ -1,3 +1,3 @@\n # web1\n listen 8080\n-workers 4\n+workers 8\n"
	if tr.Err != nil || diff.String() != wantDiff {
		t.Fatalf("diff:\n%s\nwant\n%s(err %v)", diff.String(), wantDiff, tr.Err)
	}
	if readFile(t, dst) != "# web1\nlisten 8080\nworkers 8\n" || modeOf(t, dst) != 0o640 {
		t.Fatalf("changed template: %q mode %o", readFile(t, dst), modeOf(t, dst))
	}

	// DryRun shows the diff and writes nothing
	diff.Reset()
	tr = c.Template(tmpl, dst, map[string]int{"Workers": 2}, loom.ShowDiff(&diff), loom.DryRun())
	if tr.Err != nil || !tr.DryRun || !strings.Contains(diff.String(), "+workers 2") || readFile(t, dst) != "# web1\nlisten 8080\nworkers 8\n" {
		t.Fatalf("dry run: %v %q", tr.Err, diff.String())
	}

	// a missing variable is an error, and nothing is written
	writeFile(t, tmpl, "listen {{.Vars.nope}}\n", 0o644)
	tr = c.Template(tmpl, dst, nil)
	if tr.Err == nil || !strings.Contains(tr.Err.Error(), "nope") || readFile(t, dst) != "# web1\nlisten 8080\nworkers 8\n" {
		t.Fatalf("missing key: %v", tr.Err)
	}
	noTemps(t, dir)
}

func TestFileHelpers(t *testing.T) {
	s, c, dir := fileTarget(t)
	f := filepath.Join(dir, "hosts")
	if c.Exists(f) || c.Contains(f, "x") || c.Err() != nil {
		t.Fatalf("missing file: %v", c.Err())
	}
	if err := c.AppendLine(f, "10.0.0.1 db"); err != nil {
		t.Fatal(err)
	}
	if !c.Exists(f) || !c.Exists(dir) || readFile(t, f) != "10.0.0.1 db\n" {
		t.Fatalf("append to a new file: %q", readFile(t, f))
	}
	writeFile(t, f, "127.0.0.1 localhost", 0o600) // no final newline
	for i := 0; i < 2; i++ {
		if err := c.AppendLine(f, "10.0.0.1 db"); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, f); got != "127.0.0.1 localhost\n10.0.0.1 db\n" || modeOf(t, f) != 0o600 {
		t.Fatalf("append twice: %q mode %o", got, modeOf(t, f))
	}
	if !c.Contains(f, "localhost\n10.0.0.1") || c.Contains(f, "10.0.0.2") {
		t.Fatal("contains")
	}
	if err := c.AppendLine(f, "two\nlines"); err == nil {
		t.Fatal("a line with a newline was appended")
	}
	c.ResetErr()

	// a pattern full of shell syntax reaches no shell
	cfg := filepath.Join(dir, "cfg")
	writeFile(t, cfg, "cmd = $(rm -rf ~); `id` 'x' \"y\" | & ; *\nkeep\n", 0o644)
	re := regexp.MustCompile(`\$\(rm -rf ~\); ` + "`id`" + ` 'x' "y" \| & ; \*`)
	if err := c.Replace(cfg, re, "x"); err == nil || !strings.Contains(err.Error(), "owned by 0:0") || !strings.Contains(readFile(t, cfg), "rm -rf") {
		if os.Geteuid() == 0 { // the test wrote cfg as root: the login user can't keep that owner
			t.Fatalf("replacing a file of another owner: %v", err)
		}
	}
	c.ResetErr()
	chownToUser(t, s, cfg)
	if err := c.Replace(cfg, re, "safe $$HOME"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, cfg); got != "cmd = safe $HOME\nkeep\n" {
		t.Fatalf("replace: %q", got)
	}
	if err := c.Replace(cfg, regexp.MustCompile(`^keep$`), "kept"); err != nil || readFile(t, cfg) != "cmd = safe $HOME\nkeep\n" {
		t.Fatalf("non-multiline pattern: %v %q", err, readFile(t, cfg))
	}
	if err := c.Replace(cfg, regexp.MustCompile(`(?m)^(\w+)$`), "${1}ed"); err != nil || readFile(t, cfg) != "cmd = safe $HOME\nkeeped\n" {
		t.Fatalf("replace with a group: %v %q", err, readFile(t, cfg))
	}
	if err := c.Replace(filepath.Join(dir, "missing"), re, "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("replace in a missing file: %v", err)
	}
	c.ResetErr()

	// EnsureDir: parents, mode, idempotent
	nd := filepath.Join(dir, "a", "b", "c")
	for i := 0; i < 2; i++ {
		if err := c.EnsureDir(nd, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if modeOf(t, nd) != 0o750 {
		t.Fatalf("ensure dir mode %o", modeOf(t, nd))
	}
	if err := c.EnsureDir(f, 0o755); err == nil {
		t.Fatal("EnsureDir on a file succeeded")
	}
	c.ResetErr()
	noTemps(t, dir)
}

// Switching a link never leaves a moment where it does not resolve.
func TestSymlinkSwitch(t *testing.T) {
	s, c, dir := fileTarget(t)
	for _, r := range []string{"r1", "r2"} {
		writeFile(t, filepath.Join(dir, "releases", r, "VERSION"), r, 0o644)
	}
	chownTree(t, s, dir)
	cur := filepath.Join(dir, "current")
	if err := c.Symlink("releases/r1", cur); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var reads, bad atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(filepath.Join(cur, "VERSION"))
			reads.Add(1)
			if err != nil || (string(b) != "r1" && string(b) != "r2") {
				bad.Add(1)
			}
		}
	}()
	// at least 100 switches, and until the reader has read 200 times
	i := 0
	for ; i < 100 || reads.Load() < 200 && i < 10000; i++ {
		if err := c.Symlink("releases/r"+string(rune('1'+i%2)), cur); err != nil {
			t.Fatal(err)
		}
	}
	if i%2 == 1 { // end on r2
		if err := c.Symlink("releases/r2", cur); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d reads through the link failed", bad.Load(), reads.Load())
	}
	if l, _ := os.Readlink(cur); l != "releases/r2" {
		t.Fatalf("link -> %q", l)
	}
	if err := c.Symlink("releases/r1", filepath.Join(dir, "releases")); err == nil {
		t.Fatal("a directory was replaced by a link")
	}
	c.ResetErr()
	noTemps(t, dir)
	t.Logf("%d reads during %d switches", reads.Load(), i)
}

// The file operations work on Local too (an in-process SFTP server).
func TestLocalFiles(t *testing.T) {
	c := loom.Local()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, src, "local\n", 0o600)
	if tr := c.Put(src, filepath.Join(dir, "out", "dst")); tr.Err != nil || readFile(t, filepath.Join(dir, "out", "dst")) != "local\n" {
		t.Fatalf("local put: %v", tr.Err)
	}
	if tr := c.Cd(dir).Get("src", filepath.Join(dir, "got", "{host}-{basename}")); tr.Err != nil || readFile(t, filepath.Join(dir, "got", "local-src")) != "local\n" {
		t.Fatalf("local get: %v", tr.Err)
	}
	if err := c.AppendLine(src, "more"); err != nil || readFile(t, src) != "local\nmore\n" {
		t.Fatalf("local append: %v", err)
	}
	if tr := c.Sync(filepath.Join(dir, "out"), filepath.Join(dir, "mirror")); tr.Err != nil || tr.Files != 1 {
		t.Fatalf("local sync: %+v", tr)
	}
	if tr := c.Sync(filepath.Join(dir, "out"), filepath.Join(dir, "mirror")); tr.Err != nil || tr.Files != 0 {
		t.Fatalf("local sync again: %+v", tr)
	}
	c.Close()
	noTemps(t, dir)
}

// TestFilesSudo runs every file operation with UseSudo against a
// directory only root can enter, step by step on one connection; a step
// that fails stops the ones after it, which build on what it wrote.
func TestFilesSudo(t *testing.T) {
	if ok, why := sshdtest.CanSudo(); !ok {
		t.Skip(why)
	}
	s, d := target(t, sshdtest.Options{})
	d.SudoPassword = loom.NewSecret(s.Password)
	c := dial(t, d, "target").Timeout(60 * time.Second)
	uid, gid := loginIDs(t, s)
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	// a root-owned directory the login user can't even enter
	root := filepath.Join(s.Dir, "etc") // s.Dir: readable, not writable, by the login user
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	local, out := t.TempDir(), t.TempDir()
	src := filepath.Join(local, "app.conf")
	dst := filepath.Join(root, "app", "app.conf")
	writeFile(t, src, "secret = 1\n", 0o640)

	step("put without sudo is refused", func(t *testing.T) {
		if tr := c.Put(src, dst); tr.Err == nil {
			t.Fatal("put into a root-only directory without sudo succeeded")
		}
		c.ResetErr()
	})
	step("put with owner", func(t *testing.T) {
		tr := c.Put(src, dst, loom.UseSudo(), loom.Owner(s.User, "root"))
		if tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if tr.Files != 1 {
			t.Errorf("Files = %d, want 1", tr.Files)
		}
		if got := readFile(t, dst); got != "secret = 1\n" {
			t.Errorf("content %q", got)
		}
		if m := modeOf(t, dst); m != 0o640 {
			t.Errorf("mode %o, want the local file's 0640", m)
		}
		if u, g := ownerOf(t, dst); u != uid || g != 0 {
			t.Errorf("owner %d:%d, want %d:0", u, g, uid)
		}
	})
	step("put again with a mode", func(t *testing.T) { // the old owner is not kept by Put
		writeFile(t, src, "secret = 2\n", 0o644)
		if tr := c.Put(src, dst, loom.UseSudo(), loom.Mode(0o600)); tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if got := readFile(t, dst); got != "secret = 2\n" {
			t.Errorf("content %q", got)
		}
		if m := modeOf(t, dst); m != 0o600 {
			t.Errorf("mode %o, want 0600", m)
		}
	})
	step("put a tree", func(t *testing.T) { // into the same directory: merged, atomic per file
		writeFile(t, filepath.Join(local, "tree", "a"), "A", 0o644)
		writeFile(t, filepath.Join(local, "tree", "sub", "b"), "B", 0o600)
		writeFile(t, filepath.Join(local, "tree", "suid"), "S", 0o755)
		os.Chmod(filepath.Join(local, "tree", "suid"), 0o755|fs.ModeSetuid)
		os.Symlink("a", filepath.Join(local, "tree", "link"))
		tr := c.Put(filepath.Join(local, "tree"), filepath.Join(root, "app"), loom.UseSudo())
		if tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if tr.Files != 4 {
			t.Errorf("Files = %d, want 4", tr.Files)
		}
		if got := strings.Join(tree(t, filepath.Join(root, "app")), ","); got != "a=A,app.conf=secret = 2\n,link->a,sub/b=B,suid=S" {
			t.Errorf("tree: %q", got)
		}
		noTemps(t, root)
	})

	step("get a file", func(t *testing.T) {
		if tr := c.Get(dst, filepath.Join(out, "{host}", "{basename}"), loom.UseSudo()); tr.Err != nil {
			t.Fatal(tr.Err)
		}
		got := filepath.Join(out, "target", "app.conf")
		if s := readFile(t, got); s != "secret = 2\n" {
			t.Errorf("content %q", s)
		}
		if m := modeOf(t, got); m != 0o600 {
			t.Errorf("mode %o, want the remote file's 0600", m)
		}
	})
	step("get a tree with Exclude", func(t *testing.T) {
		if tr := c.Get(filepath.Join(root, "app"), filepath.Join(out, "tree"), loom.UseSudo(), loom.Exclude("sub")); tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if got := strings.Join(tree(t, filepath.Join(out, "tree")), ","); got != "a=A,app.conf=secret = 2\n,link->a,suid=S" {
			t.Errorf("tree: %q", got)
		}
	})
	step("get a glob", func(t *testing.T) {
		tr := c.Get(filepath.Join(root, "app", "*"), filepath.Join(out, "glob", "{basename}"), loom.UseSudo())
		if tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if tr.Files != 5 {
			t.Errorf("Files = %d, want 5", tr.Files)
		}
	})
	step("get a missing file", func(t *testing.T) {
		if tr := c.Get(filepath.Join(root, "nope"), out+"/", loom.UseSudo()); !errors.Is(tr.Err, fs.ErrNotExist) {
			t.Errorf("err %v, want fs.ErrNotExist", tr.Err)
		}
		c.ResetErr()
	})
	step("get a file holding the sudo password", func(t *testing.T) { // comes back intact
		withPw := "user=x\npassword=" + s.Password + "\n"
		writeFile(t, filepath.Join(root, "pw"), withPw, 0o600)
		if tr := c.Get(filepath.Join(root, "pw"), filepath.Join(out, "pw"), loom.UseSudo()); tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if got := readFile(t, filepath.Join(out, "pw")); got != withPw {
			t.Errorf("content %q, want %q", got, withPw)
		}
	})

	// helpers and templates with sudo keep the owner of a root file
	hosts := filepath.Join(root, "hosts")
	step("append twice", func(t *testing.T) {
		writeFile(t, hosts, "127.0.0.1 localhost\n", 0o644)
		os.Chown(hosts, 0, gid)
		for i := 0; i < 2; i++ {
			if err := c.AppendLine(hosts, "10.0.0.1 db", loom.UseSudo()); err != nil {
				t.Fatal(err)
			}
		}
		if got := readFile(t, hosts); got != "127.0.0.1 localhost\n10.0.0.1 db\n" {
			t.Errorf("content %q", got)
		}
		if u, g := ownerOf(t, hosts); u != 0 || g != gid {
			t.Errorf("owner %d:%d, want the old 0:%d", u, g, gid)
		}
		if m := modeOf(t, hosts); m != 0o644 {
			t.Errorf("mode %o, want the old 0644", m)
		}
	})
	step("contains and exists", func(t *testing.T) {
		if !c.Contains(hosts, "10.0.0.1 db", loom.UseSudo()) {
			t.Errorf("Contains is false: %v", c.Err())
		}
		if !c.Exists(hosts, loom.UseSudo()) {
			t.Errorf("Exists is false: %v", c.Err())
		}
		if c.Exists(hosts+".no", loom.UseSudo()) {
			t.Error("Exists of a missing file is true")
		}
		if err := c.Err(); err != nil {
			t.Error(err)
		}
	})
	step("replace", func(t *testing.T) {
		if err := c.Replace(hosts, regexp.MustCompile(`10\.0\.0\.1`), "10.0.0.2", loom.UseSudo()); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, hosts); !strings.Contains(got, "10.0.0.2 db") {
			t.Errorf("content %q", got)
		}
	})
	step("template twice", func(t *testing.T) {
		tmpl := filepath.Join(local, "t.tmpl")
		writeFile(t, tmpl, "host {{.Host}}\n", 0o644)
		if tr := c.Template(tmpl, filepath.Join(root, "t.conf"), nil, loom.UseSudo()); tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if got := readFile(t, filepath.Join(root, "t.conf")); got != "host target\n" {
			t.Errorf("content %q", got)
		}
		tr := c.Template(tmpl, filepath.Join(root, "t.conf"), nil, loom.UseSudo())
		if tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if tr.Skipped != 1 {
			t.Errorf("again: Skipped = %d, want 1", tr.Skipped)
		}
	})

	// sudo sync (the listing is done by the login user)
	synced := filepath.Join(root, "synced")
	step("sync with owner", func(t *testing.T) {
		os.Chmod(root, 0o755)
		tr := c.Sync(filepath.Join(local, "tree"), synced, loom.UseSudo(), loom.Owner(s.User, ""))
		if tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if tr.Files != 4 {
			t.Errorf("Files = %d, want 4", tr.Files)
		}
		if u, _ := ownerOf(t, filepath.Join(synced, "suid")); u != uid {
			t.Errorf("owner %d, want %d", u, uid)
		}
		if fi, err := os.Stat(filepath.Join(synced, "suid")); err != nil || fi.Mode()&fs.ModeSetuid == 0 {
			t.Errorf("setuid lost to chown: %v %v", fi.Mode(), err)
		}
	})
	step("sync again", func(t *testing.T) {
		tr := c.Sync(filepath.Join(local, "tree"), synced, loom.UseSudo())
		if tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if tr.Files != 0 {
			t.Errorf("Files = %d, want 0", tr.Files)
		}
	})
	step("sync with delete", func(t *testing.T) {
		writeFile(t, filepath.Join(synced, "extra"), "x", 0o644)
		tr := c.Sync(filepath.Join(local, "tree"), synced, loom.UseSudo(), loom.Delete())
		if tr.Err != nil {
			t.Fatal(tr.Err)
		}
		if len(tr.Removed) != 1 {
			t.Errorf("Removed = %q, want the one extra file", tr.Removed)
		}
	})

	step("ensure dir", func(t *testing.T) {
		e := filepath.Join(root, "d", "e")
		if err := c.EnsureDir(e, 0o750, loom.UseSudo(), loom.Owner(s.User, "")); err != nil {
			t.Fatal(err)
		}
		if u, _ := ownerOf(t, e); u != uid {
			t.Errorf("owner %d, want %d", u, uid)
		}
		if m := modeOf(t, e); m != 0o750 {
			t.Errorf("mode %o, want 0750", m)
		}
	})
	step("symlink, replaced", func(t *testing.T) {
		cur := filepath.Join(root, "current")
		if err := c.Symlink("d", cur, loom.UseSudo()); err != nil {
			t.Fatal(err)
		}
		if err := c.Symlink("synced", cur, loom.UseSudo()); err != nil {
			t.Fatal(err)
		}
		if l, _ := os.Readlink(cur); l != "synced" {
			t.Errorf("link -> %q, want synced", l)
		}
		if _, err := os.Lstat(filepath.Join(root, "d", "synced")); err == nil {
			t.Error("the link was moved into the directory it pointed at")
		}
		noTemps(t, root)
	})
}

// ownerOf returns the uid and gid of a local file.
func ownerOf(t *testing.T, name string) (int, int) {
	t.Helper()
	fi, err := os.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscallStat)
	return int(st.Uid), int(st.Gid)
}

// As is for Sudo: a file operation without UseSudo on a Conn with As works
// as the login user, its own helper commands (getent for Owner, sha256sum
// for Checksum) included, rather than failing on them.
func TestFilesAsWithoutSudo(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	c := loom.Local().As("nobody")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "l", "f"), "new", 0o644)
	writeFile(t, filepath.Join(dir, "r", "f"), "old", 0o644)
	if tr := c.Put(filepath.Join(dir, "l", "f"), filepath.Join(dir, "owned"), loom.Owner(me.Username, "")); tr.Err != nil {
		t.Errorf("put with Owner: %v", tr.Err)
	}
	c.ResetErr()
	tr := c.Sync(filepath.Join(dir, "l"), filepath.Join(dir, "r"), loom.Checksum())
	if tr.Err != nil {
		t.Fatalf("sync with Checksum: %v", tr.Err)
	}
	if got := readFile(t, filepath.Join(dir, "r", "f")); got != "new" {
		t.Errorf("sync with Checksum left %q", got)
	}
}
