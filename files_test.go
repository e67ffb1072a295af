//go:build unix

package loom_test

// Integration tests of the file operations (Put, Get, Sync, Template and
// the helpers) against a real OpenSSH sshd (internal/sshdtest). The sshd
// runs on this machine, so the tests check the "remote" files directly on
// the local file system.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/loomtest"
)

// fileTarget starts an sshd and returns a connection to it and a scratch
// directory (absolute) that the login user owns.
func fileTarget(t *testing.T) (*sshdtest.Server, *loom.Conn, string) {
	t.Helper()
	s, d := target(t, sshdtest.Options{})
	return s, dial(t, d, "target"), scratch(t, s, s.Home)
}

// scratch makes a fresh directory under parent owned by the server's
// login user (the tests may run as root while sshd logs in as loomtest).
func scratch(t *testing.T, s *sshdtest.Server, parent string) string {
	t.Helper()
	dir, err := os.MkdirTemp(parent, "loomfiles-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	chownToUser(t, s, dir)
	return dir
}

func loginIDs(t *testing.T, s *sshdtest.Server) (int, int) {
	t.Helper()
	u, err := user.Lookup(s.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

func chownToUser(t *testing.T, s *sshdtest.Server, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	uid, gid := loginIDs(t, s)
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// chownTree gives everything under dir to the login user.
func chownTree(t *testing.T, s *sshdtest.Server, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	uid, gid := loginIDs(t, s)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Lchown(p, uid, gid)
		}
		return nil
	})
}

func writeFile(t *testing.T, name, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func modeOf(t *testing.T, name string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// noTemps fails if a Loom temporary file or staging directory is left
// anywhere under dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".loom-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

// tree lists the files under dir as "rel=content" and links as
// "rel->target", sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out = append(out, rel+"->"+l)
		case d.Type().IsRegular():
			out = append(out, rel+"="+readFile(t, p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestPutFile(t *testing.T) {
	s, c, dir := fileTarget(t)
	local := t.TempDir()
	src := filepath.Join(local, "app.conf")
	writeFile(t, src, "port = 8080\n", 0o750)

	dst := filepath.Join(dir, "etc", "app.conf") // parent created
	tr := c.Put(src, dst)
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if got := readFile(t, dst); got != "port = 8080\n" {
		t.Fatalf("content %q", got)
	}
	if m := modeOf(t, dst); m != 0o750 {
		t.Fatalf("mode %o, want the local 0750", m)
	}
	if tr.Files != 1 || tr.Bytes != 12 || len(tr.Changed) != 1 || tr.Changed[0] != dst || tr.Host != "target" {
		t.Fatalf("transfer %+v", tr)
	}

	// into an existing directory, with a mode given
	if tr := c.Put(src, filepath.Join(dir, "etc"), loom.Mode(0o600)); tr.Err != nil || modeOf(t, dst) != 0o600 {
		t.Fatalf("put into dir: %v, mode %o", tr.Err, modeOf(t, dst))
	}
	// setuid, given the Unix way (as the CLI's --mode 4750 does)
	if tr := c.Put(src, filepath.Join(dir, "suid"), loom.Mode(0o4750)); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "suid")); fi.Mode()&fs.ModeSetuid == 0 || fi.Mode().Perm() != 0o750 {
		t.Fatalf("setuid put: mode %v", fi.Mode())
	}
	// a trailing slash names a directory, created if missing
	if tr := c.Put(src, filepath.Join(dir, "new")+"/"); tr.Err != nil || readFile(t, filepath.Join(dir, "new", "app.conf")) != "port = 8080\n" {
		t.Fatalf("put into new dir: %v", tr.Err)
	}
	// ~ and the Cd scope
	if tr := c.Put(src, "~/"+filepath.Base(dir)+"/home.conf"); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	readFile(t, filepath.Join(dir, "home.conf"))
	if tr := c.Put(src, filepath.Base(dir)+"/relhome.conf"); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	readFile(t, filepath.Join(dir, "relhome.conf"))
	if tr := c.Cd(dir).Cd("etc").Put(src, "scoped.conf"); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	readFile(t, filepath.Join(dir, "etc", "scoped.conf"))
	if tr := c.Cd("~/"+filepath.Base(dir)).Put(src, "tilde-scope.conf"); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	readFile(t, filepath.Join(dir, "tilde-scope.conf"))
	// Owner without sudo: the login user may give files to itself only
	if tr := c.Put(src, filepath.Join(dir, "own.conf"), loom.Owner(s.User, "")); tr.Err != nil {
		t.Fatalf("owner self: %v", tr.Err)
	}
	if tr := c.Put(src, filepath.Join(dir, "root.conf"), loom.Owner("root", "")); tr.Err == nil || !strings.Contains(tr.Err.Error(), "chown") {
		t.Fatalf("owner root without sudo: %v", tr.Err)
	}
	if _, err := os.Stat(filepath.Join(dir, "root.conf")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a file was left after a failed chown")
	}
	c.ResetErr()
	noTemps(t, dir)
	if n := s.Connections(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestPutReader(t *testing.T) {
	_, c, dir := fileTarget(t)
	dst := filepath.Join(dir, "greeting")
	tr := c.PutReader(strings.NewReader("hello\n"), dst)
	if tr.Err != nil || readFile(t, dst) != "hello\n" || modeOf(t, dst) != 0o644 || tr.Bytes != 6 {
		t.Fatalf("put reader: %+v", tr)
	}
	if tr := c.PutReader(strings.NewReader("x"), dst, loom.Mode(0o640)); tr.Err != nil || modeOf(t, dst) != 0o640 {
		t.Fatalf("mode: %v %o", tr.Err, modeOf(t, dst))
	}
	if tr := c.PutReader(strings.NewReader("x"), dir+"/"); tr.Err == nil {
		t.Fatal("PutReader to a directory name succeeded")
	}
}

func TestPutTree(t *testing.T) {
	_, c, dir := fileTarget(t)
	local := filepath.Join(t.TempDir(), "site")
	want := []string{}
	for i := 0; i < 1000; i++ {
		rel := filepath.Join(fmt.Sprintf("d%02d", i%20), fmt.Sprintf("sub%d", i%3), fmt.Sprintf("f%04d.txt", i))
		writeFile(t, filepath.Join(local, rel), "file "+strconv.Itoa(i), 0o644)
		want = append(want, rel+"=file "+strconv.Itoa(i))
	}
	writeFile(t, filepath.Join(local, "run.sh"), "#!/bin/sh\n", 0o755)
	want = append(want, "run.sh=#!/bin/sh\n")
	if err := os.Symlink("run.sh", filepath.Join(local, "start")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "start->run.sh")
	writeFile(t, filepath.Join(local, "cache", "big.bin"), "excluded", 0o644)
	writeFile(t, filepath.Join(local, "d00", "x.pyc"), "excluded", 0o644)
	if err := os.Mkdir(filepath.Join(local, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)

	dst := filepath.Join(dir, "srv", "site")
	tr := c.Put(local, dst, loom.Exclude("cache", "*.pyc"))
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if got := tree(t, dst); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("remote tree differs: %d entries, want %d", len(got), len(want))
	}
	if tr.Files != 1002 || len(tr.Changed) != 1002 {
		t.Fatalf("files %d changed %d, want 1002", tr.Files, len(tr.Changed))
	}
	if m := modeOf(t, filepath.Join(dst, "run.sh")); m != 0o755 {
		t.Fatalf("run.sh mode %o", m)
	}
	if m := modeOf(t, filepath.Join(dst, "empty")); m != 0o700 {
		t.Fatalf("new directory mode %o, want the local 0700", m)
	}
	noTemps(t, dir)
	t.Logf("1002 files in %v", tr.Duration)
}

func TestPutGlob(t *testing.T) {
	_, c, dir := fileTarget(t)
	local := t.TempDir()
	writeFile(t, filepath.Join(local, "a.txt"), "a", 0o644)
	writeFile(t, filepath.Join(local, "b.txt"), "b", 0o600)
	writeFile(t, filepath.Join(local, "c.log"), "c", 0o644)
	writeFile(t, filepath.Join(local, ".hidden.txt"), "like a shell, * skips dot files", 0o644)
	writeFile(t, filepath.Join(local, "t.txt", "inner"), "tree", 0o644) // a directory matching too
	tr := c.Put(filepath.Join(local, "*.txt"), filepath.Join(dir, "out"))
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	got := tree(t, filepath.Join(dir, "out"))
	if want := []string{"a.txt=a", "b.txt=b", "t.txt/inner=tree"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v, want %v", got, want)
	}
	if modeOf(t, filepath.Join(dir, "out", "b.txt")) != 0o600 {
		t.Fatal("mode not kept")
	}
	if tr := c.Put(filepath.Join(local, "*.nothing"), dir); tr.Err == nil || !strings.Contains(tr.Err.Error(), "no local file matches") {
		t.Fatalf("empty glob: %v", tr.Err)
	}
}

// A reader of the target sees the old content or the new, never a part.
func TestPutAtomic(t *testing.T) {
	s, c, dir := fileTarget(t)
	dst := filepath.Join(dir, "big")
	old := bytes.Repeat([]byte("old!"), 1<<20) // 4 MB
	neu := make([]byte, 32<<20)
	rand.Read(neu)
	writeFile(t, dst, string(old), 0o644)
	chownToUser(t, s, dst)
	sums := map[[32]byte]string{sha256.Sum256(old): "old", sha256.Sum256(neu): "new"}

	var stop atomic.Bool
	var reads, bad atomic.Int32
	var seen sync.Map
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for last := false; !last; {
			last = stop.Load() // one more read once the put has returned
			b, err := os.ReadFile(dst)
			reads.Add(1)
			if err != nil {
				bad.Add(1)
				continue
			}
			if v, ok := sums[sha256.Sum256(b)]; ok {
				seen.Store(v, true)
			} else {
				bad.Add(1)
			}
		}
	}()
	tr := c.PutReader(bytes.NewReader(neu), dst)
	stop.Store(true)
	wg.Wait()
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if bad.Load() != 0 {
		t.Fatalf("%d of %d reads saw a partial or missing file", bad.Load(), reads.Load())
	}
	if _, ok := seen.Load("new"); !ok {
		t.Fatal("the reader never saw the new content")
	}
	_, sawOld := seen.Load("old")
	t.Logf("%d reads during the upload (saw old: %v), %v", reads.Load(), sawOld, tr.Duration)
	noTemps(t, dir)
}

// cancelReader cancels a context once n bytes have been read from it.
type cancelReader struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n -= int64(k)
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func TestPutCancelled(t *testing.T) {
	s, c, dir := fileTarget(t)
	dst := filepath.Join(dir, "target")
	writeFile(t, dst, "old content\n", 0o644)
	chownToUser(t, s, dst)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	big := make([]byte, 64<<20)
	tr := c.WithContext(ctx).PutReader(&cancelReader{r: bytes.NewReader(big), n: 4 << 20, cancel: cancel}, dst)
	if !errors.Is(tr.Err, context.Canceled) {
		t.Fatalf("cancelled put: %v", tr.Err)
	}
	if got := readFile(t, dst); got != "old content\n" {
		t.Fatalf("target changed to %d bytes", len(got))
	}
	noTemps(t, dir)
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("the Conn did not record the failure: %v", c.Err())
	}

	// a local file unreadable half way is the same: nothing changes
	c.ResetErr()
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, src, "new", 0o644)
	tr = c.Timeout(time.Nanosecond).Put(src, dst)
	if tr.Err == nil || !strings.Contains(tr.Err.Error(), "timed out") || readFile(t, dst) != "old content\n" {
		t.Fatalf("timed out put: %v", tr.Err)
	}
	noTemps(t, dir)
}

func TestFilesSkippedAfterFailure(t *testing.T) {
	_, c, dir := fileTarget(t)
	src := filepath.Join(t.TempDir(), "f")
	writeFile(t, src, "x", 0o644)
	first := c.Run("false").Err
	checks := map[string]error{
		"put":      c.Put(src, filepath.Join(dir, "f")).Err,
		"reader":   c.PutReader(strings.NewReader("x"), filepath.Join(dir, "g")).Err,
		"get":      c.Get(filepath.Join(dir, "f"), t.TempDir()+"/").Err,
		"sync":     c.Sync(filepath.Dir(src), dir).Err,
		"template": c.Template(src, filepath.Join(dir, "t"), nil).Err,
		"append":   c.AppendLine(filepath.Join(dir, "a"), "x"),
		"replace":  c.Replace(filepath.Join(dir, "a"), regexp.MustCompile("x"), "y"),
		"mkdir":    c.EnsureDir(filepath.Join(dir, "d"), 0o755),
		"symlink":  c.Symlink("x", filepath.Join(dir, "l")),
	}
	for name, err := range checks {
		if !errors.Is(err, loom.ErrSkipped) {
			t.Errorf("%s after a failure: %v, want ErrSkipped", name, err)
		}
	}
	if c.Exists(dir) {
		t.Error("Exists ran after a failure")
	}
	if c.Err() != first {
		t.Fatalf("the recorded error changed: %v", c.Err())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("something was written after the failure: %v", entries)
	}

	// and a failing file operation stops what comes after it
	c.ResetErr()
	tr := c.Put(filepath.Join(t.TempDir(), "missing"), filepath.Join(dir, "m"))
	var fe *loom.FileError
	if !errors.As(tr.Err, &fe) || !errors.Is(tr.Err, fs.ErrNotExist) || fe.Host != "target" || fe.Op != "put" {
		t.Fatalf("put of a missing file: %#v", tr.Err)
	}
	if r := c.Run("true"); !errors.Is(r.Err, loom.ErrSkipped) || c.Err() != tr.Err {
		t.Fatalf("after a failed put: %v / %v", r.Err, c.Err())
	}
}

func TestFileErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs a directory the login user cannot write: run as root")
	}
	s, c, _ := fileTarget(t)
	src := filepath.Join(t.TempDir(), "app.conf")
	writeFile(t, src, "x", 0o644)
	root := filepath.Join(s.Dir, "rootonly") // s.Dir is readable by the login user
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := c.Put(src, filepath.Join(root, "app.conf"))
	want := "target: put " + src + " -> " + filepath.Join(root, "app.conf") + ": permission denied"
	if tr.Err == nil || tr.Err.Error() != want || !errors.Is(tr.Err, fs.ErrPermission) {
		t.Fatalf("error %q,\nwant %q", tr.Err, want)
	}
	c.ResetErr()
	if c.Exists(filepath.Join(root, "x")) || c.Err() != nil {
		t.Fatalf("exists of a missing file: %v", c.Err())
	}
	os.Chmod(root, 0o700)
	if c.Exists(filepath.Join(root, "x")) || !errors.Is(c.Err(), fs.ErrPermission) {
		t.Fatalf("exists in an unreadable directory: %v", c.Err())
	}
}

// twoHosts starts two sshd servers named web1 and web2 in one ssh_config.
func twoHosts(t *testing.T) ([]*sshdtest.Server, []*loom.Conn) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	var servers []*sshdtest.Server
	for _, name := range []string{"web1", "web2"} {
		s := sshdtest.Start(t, sshdtest.Options{})
		s.WriteSSHConfig(cfg, name)
		servers = append(servers, s)
	}
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	t.Cleanup(func() { d.Close() })
	return servers, []*loom.Conn{dial(t, d, "web1"), dial(t, d, "web2")}
}

func TestGet(t *testing.T) {
	servers, conns := twoHosts(t)
	// the two servers share this machine's file system: give each host
	// its own remote directory, named the same way on both
	remote := scratch(t, servers[0], servers[0].Home)
	logs := filepath.Join(remote, "log")
	writeFile(t, filepath.Join(logs, "app.log"), "app log", 0o640)
	writeFile(t, filepath.Join(logs, "db.log"), "db log", 0o644)
	writeFile(t, filepath.Join(logs, "other.txt"), "other", 0o644)
	writeFile(t, filepath.Join(logs, ".hidden.log"), "not matched by *.log", 0o644)
	writeFile(t, filepath.Join(logs, "old", "2025.log"), "old log", 0o644)
	writeFile(t, filepath.Join(logs, "old", "skip.gz"), "gz", 0o644)
	os.Symlink("app.log", filepath.Join(logs, "current"))
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(logs, "app.log"), mtime, mtime)
	chownTree(t, servers[0], remote)

	local := t.TempDir()
	var wg sync.WaitGroup
	res := make([]*loom.Transfer, 2)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = c.Get(filepath.Join(logs, "*.log"), filepath.Join(local, "logs", "{host}", "{basename}"))
		}()
	}
	wg.Wait()
	for i, host := range []string{"web1", "web2"} {
		tr := res[i]
		if tr.Err != nil {
			t.Fatal(tr.Err)
		}
		dir := filepath.Join(local, "logs", host)
		want := []string{"app.log=app log", "db.log=db log"}
		if got := tree(t, dir); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: got %v", host, got)
		}
		if tr.Files != 2 || tr.Bytes != 13 || tr.Host != host {
			t.Fatalf("%s: transfer %+v", host, tr)
		}
		fi, _ := os.Stat(filepath.Join(dir, "app.log"))
		if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mtime) {
			t.Fatalf("mode %o, mtime %v: not kept", fi.Mode().Perm(), fi.ModTime())
		}
	}

	c := conns[0]
	// a file, into an existing directory
	if tr := c.Get(filepath.Join(logs, "db.log"), local); tr.Err != nil || readFile(t, filepath.Join(local, "db.log")) != "db log" {
		t.Fatalf("get into dir: %v", tr.Err)
	}
	// a tree, with {path}, Exclude and a link
	tr := c.Get(logs, filepath.Join(local, "trees", "{host}", "{path}"), loom.Exclude("*.gz"))
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	want := []string{".hidden.log=not matched by *.log", "app.log=app log", "current->app.log", "db.log=db log", "old/2025.log=old log", "other.txt=other"}
	got := tree(t, filepath.Join(local, "trees", "web1", strings.TrimPrefix(logs, "/")))
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("tree: got %v", got)
	}
	// two matches that would land on one file
	if tr := c.Get(filepath.Join(logs, "*.log"), filepath.Join(local, "one.log")); tr.Err == nil || !strings.Contains(tr.Err.Error(), "{basename}") {
		t.Fatalf("colliding get: %v", tr.Err)
	}
	c.ResetErr()
	if tr := c.Get(filepath.Join(logs, "missing"), local+"/"); !errors.Is(tr.Err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", tr.Err)
	}
	noTemps(t, local)
}

func TestSync(t *testing.T) {
	s, c, dir := fileTarget(t)
	local := filepath.Join(t.TempDir(), "app")
	for i := 0; i < 50; i++ {
		writeFile(t, filepath.Join(local, fmt.Sprintf("d%d", i%5), fmt.Sprintf("f%d", i)), strings.Repeat("x", i), 0o644)
	}
	writeFile(t, filepath.Join(local, "bin", "run"), "#!/bin/sh\n", 0o755)
	os.Chmod(filepath.Join(local, "bin", "run"), 0o755|fs.ModeSetuid) // compared like the other bits
	os.Symlink("bin/run", filepath.Join(local, "start"))
	writeFile(t, filepath.Join(local, "tmp", "junk"), "excluded", 0o644)
	past := time.Now().Add(-time.Hour)
	filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			os.Chtimes(p, past, past) // so that a Sync that did not keep them would show
		}
		return nil
	})
	dst := filepath.Join(dir, "app")

	tr := c.Sync(local, dst, loom.Exclude("tmp"))
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if tr.Files != 52 || tr.Skipped != 0 {
		t.Fatalf("first sync: files %d skipped %d, want 52 and 0", tr.Files, tr.Skipped)
	}
	wantTree := tree(t, local)
	wantTree = wantTree[:len(wantTree)-1] // tmp/junk
	if got := tree(t, dst); strings.Join(got, ",") != strings.Join(wantTree, ",") {
		t.Fatalf("remote tree:\n%v\nwant\n%v", got, wantTree)
	}

	tr = c.Sync(local, dst, loom.Exclude("tmp"))
	if tr.Err != nil || tr.Files != 0 || tr.Bytes != 0 || len(tr.Changed) != 0 || tr.Skipped != 52 {
		t.Fatalf("second sync sent something: %+v", tr)
	}

	// one change, one new file, one chmod; a remote extra file and dir
	writeFile(t, filepath.Join(local, "d1", "f1"), "changed", 0o644)
	writeFile(t, filepath.Join(local, "new"), "new", 0o644)
	os.Chmod(filepath.Join(local, "d2", "f2"), 0o600)
	writeFile(t, filepath.Join(dst, "extra"), "extra", 0o644)
	writeFile(t, filepath.Join(dst, "gone", "deep", "file"), "gone", 0o644)
	writeFile(t, filepath.Join(dst, "tmp", "remote-only"), "kept: excluded", 0o644)
	for _, p := range []string{"extra", "gone", "tmp"} { // (a chown of bin/run would clear its setuid)
		chownTree(t, s, filepath.Join(dst, p))
	}

	dry := c.Sync(local, dst, loom.Exclude("tmp"), loom.Delete(), loom.DryRun())
	wantChanged := []string{filepath.Join(dst, "d1", "f1"), filepath.Join(dst, "d2", "f2"), filepath.Join(dst, "new")}
	wantRemoved := []string{filepath.Join(dst, "extra"), filepath.Join(dst, "gone")}
	if dry.Err != nil || !dry.DryRun || strings.Join(dry.Changed, ",") != strings.Join(wantChanged, ",") ||
		strings.Join(dry.Removed, ",") != strings.Join(wantRemoved, ",") {
		t.Fatalf("dry run: %v changed %v removed %v", dry.Err, dry.Changed, dry.Removed)
	}
	if readFile(t, filepath.Join(dst, "d1", "f1")) != "x" || readFile(t, filepath.Join(dst, "extra")) != "extra" {
		t.Fatal("the dry run changed something")
	}

	tr = c.Sync(local, dst, loom.Exclude("tmp"), loom.Delete())
	if tr.Err != nil || strings.Join(tr.Changed, ",") != strings.Join(wantChanged, ",") || strings.Join(tr.Removed, ",") != strings.Join(wantRemoved, ",") {
		t.Fatalf("sync with delete: %v changed %v removed %v", tr.Err, tr.Changed, tr.Removed)
	}
	if readFile(t, filepath.Join(dst, "d1", "f1")) != "changed" || modeOf(t, filepath.Join(dst, "d2", "f2")) != 0o600 {
		t.Fatal("changes not synced")
	}
	if _, err := os.Stat(filepath.Join(dst, "gone")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("extra directory not deleted")
	}
	if readFile(t, filepath.Join(dst, "tmp", "remote-only")) != "kept: excluded" {
		t.Fatal("an excluded remote file was touched")
	}

	// same size and time, other content: only Checksum sees it
	f3 := filepath.Join(local, "d3", "f3")
	fi, _ := os.Stat(f3)
	writeFile(t, f3, "yyy", 0o644)
	os.Chtimes(f3, fi.ModTime(), fi.ModTime())
	if tr := c.Sync(local, dst, loom.Exclude("tmp")); tr.Err != nil || tr.Files != 0 {
		t.Fatalf("size+mtime sync: %v, %d files", tr.Err, tr.Files)
	}
	tr = c.Sync(local, dst, loom.Exclude("tmp"), loom.Checksum())
	if tr.Err != nil || strings.Join(tr.Changed, ",") != filepath.Join(dst, "d3", "f3") || readFile(t, filepath.Join(dst, "d3", "f3")) != "yyy" {
		t.Fatalf("checksum sync: %v %v", tr.Err, tr.Changed)
	}
	if tr := c.Sync(local, dst, loom.Exclude("tmp"), loom.Checksum()); tr.Err != nil || tr.Files != 0 {
		t.Fatalf("second checksum sync: %v, %d files", tr.Err, tr.Files)
	}

	// a remote file where a local directory is: an error unless Delete
	os.RemoveAll(filepath.Join(dst, "bin"))
	writeFile(t, filepath.Join(dst, "bin"), "in the way", 0o644)
	chownToUser(t, s, filepath.Join(dst, "bin"))
	if tr := c.Sync(local, dst, loom.Exclude("tmp")); tr.Err == nil || !strings.Contains(tr.Err.Error(), "in the way") {
		t.Fatalf("conflict: %v", tr.Err)
	}
	c.ResetErr()
	if tr := c.Sync(local, dst, loom.Exclude("tmp"), loom.Delete()); tr.Err != nil || readFile(t, filepath.Join(dst, "bin", "run")) != "#!/bin/sh\n" {
		t.Fatalf("conflict with delete: %v", tr.Err)
	}
	noTemps(t, dir)
}

type syscallStat = syscall.Stat_t

// A big file comes back from Get exactly as Put sent it (concurrent,
// out-of-order requests on both ways).
func TestPutGetBig(t *testing.T) {
	_, c, dir := fileTarget(t)
	src := bigFile(t, 40<<20+12345)
	var progress bytes.Buffer
	if tr := c.Put(src, filepath.Join(dir, "big"), loom.Progress(&progress)); tr.Err != nil || tr.Bytes != 40<<20+12345 {
		t.Fatalf("put: %+v", tr)
	}
	out := filepath.Join(t.TempDir(), "big")
	if tr := c.Get(filepath.Join(dir, "big"), out); tr.Err != nil || tr.Bytes != 40<<20+12345 {
		t.Fatalf("get: %+v", tr)
	}
	a, b := readFile(t, src), readFile(t, out)
	if sha256.Sum256([]byte(a)) != sha256.Sum256([]byte(b)) {
		t.Fatal("the file changed on the way")
	}
	t.Logf("progress output: %q", progress.String())
}

// A server without SFTP gives a clear error, recorded like any other.
func TestFilesWithoutSFTP(t *testing.T) {
	_, d, cleanup := exampleHosts(0)
	defer cleanup()
	s := loomtest.NewServer(t, loomtest.Options{NoSFTP: true, AuthorizedKeys: []ssh.PublicKey{d.Signers[0].PublicKey()}})
	d.Options = append(d.Options, "StrictHostKeyChecking=no")
	c, err := d.Dial(context.Background(), s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := c.PutReader(strings.NewReader("x"), "/tmp/x")
	if tr.Err == nil || !strings.Contains(tr.Err.Error(), "sftp subsystem") || c.Err() != tr.Err {
		t.Fatalf("put without sftp: %v", tr.Err)
	}
	t.Log(tr.Err)
	if r := c.Run("true"); !errors.Is(r.Err, loom.ErrSkipped) {
		t.Fatalf("after the failed put: %v", r.Err)
	}
}
