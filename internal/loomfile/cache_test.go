package loomfile

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGo writes a go command that "builds" a program printing what: a
// shell script, which passes the CheckArg run.
func fakeGo(t *testing.T, what string) string {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	fake := filepath.Join(t.TempDir(), "go")
	script := "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = -o ] && out=$2; shift; done\nprintf '#!/bin/sh\\necho " + what + "\\n' > \"$out\"\nchmod 755 \"$out\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return fake
}

// tinySource is enough of Loom's source for a build apart with fakeGo.
func tinySource(t *testing.T) fs.FS {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module github.com/loomssh/loom\n\ngo 1.26\n"), 0o644)
	return os.DirFS(dir)
}

// fixture is a loomfile and a fake go command to build it with.
type fixture struct {
	p    *Project
	info *Info
	cfg  BuildConfig
}

func newFixture(t *testing.T) *fixture {
	p, info := writeProject(t, map[string]string{"loomfile.go": tinyLoomfile})
	return &fixture{p, info, BuildConfig{GoCmd: fakeGo(t, "ours"), Source: tinySource(t)}}
}

// build builds the tiny loomfile with cache as the cache directory.
func (f *fixture) build(cache string) (bin string, built bool, err error) {
	cfg := f.cfg
	cfg.CacheDir = cache
	return Build(context.Background(), f.p, f.info, cfg)
}

// mustBuild builds and checks that the program is the one just built.
func (f *fixture) mustBuild(t *testing.T, cache, what string, wantBuilt bool) string {
	t.Helper()
	bin, built, err := f.build(cache)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if built != wantBuilt {
		t.Fatalf("%s: built %v, want %v", what, built, wantBuilt)
	}
	if b, _ := os.ReadFile(bin); !strings.Contains(string(b), "echo ours") {
		t.Fatalf("%s: the cache gave a program Loom did not build: %q", what, b)
	}
	return bin
}

// plant replaces the cached program with another user's.
func plant(t *testing.T, bin string) {
	t.Helper()
	os.Remove(bin)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho theirs\n"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(bin, 0o777)
}

// TestCacheRefusesWhatOthersCanWrite: a cache whose directories or
// program others may write is refused (the cache directory) or made
// again (bin/, src/, the program): another user's program never runs.
func TestCacheRefusesWhatOthersCanWrite(t *testing.T) {
	f := newFixture(t)
	// A shared cache directory: refused, naming it and LOOM_CACHE.
	shared := filepath.Join(t.TempDir(), "cache")
	os.Mkdir(shared, 0o700)
	os.Chmod(shared, 0o777)
	if _, _, err := f.build(shared); err == nil || !strings.Contains(err.Error(), shared+": writable by every user") || !strings.Contains(err.Error(), "LOOM_CACHE") {
		t.Fatalf("a 0777 cache: %v", err)
	}
	if os.Geteuid() == 0 {
		// Group-writable, for a group that is not the owner's own.
		os.Chown(shared, 0, 12345)
		os.Chmod(shared, 0o770)
		if _, _, err := f.build(shared); err == nil || !strings.Contains(err.Error(), "writable by group 12345") {
			t.Fatalf("a 0770 cache: %v", err)
		}
	}

	// Another user pre-created a 0777 bin/ and put a program in it: bin/
	// is made again and the program built anew.
	cache := filepath.Join(t.TempDir(), "cache")
	bin := f.mustBuild(t, cache, "first build", true)
	if fi, _ := os.Stat(bin); fi.Mode().Perm() != 0o700 {
		t.Errorf("the program is %v, want 0700", fi.Mode().Perm())
	}
	f.mustBuild(t, cache, "cached", false)
	os.Chmod(filepath.Dir(bin), 0o777)
	plant(t, bin)
	f.mustBuild(t, cache, "0777 bin/", true)
	if fi, _ := os.Stat(filepath.Dir(bin)); fi.Mode().Perm() != 0o700 {
		t.Errorf("bin/ is %v after, want 0700", fi.Mode().Perm())
	}

	// A program others may write: built again.
	os.Chmod(bin, 0o777)
	f.mustBuild(t, cache, "0777 program", true)
	if os.Geteuid() == 0 {
		os.Chown(bin, 0, 12345) // a group that is not root's own
		os.Chmod(bin, 0o720)
		f.mustBuild(t, cache, "0720 program", true)
	}

	// A link in place of the program: built again.
	other := filepath.Join(t.TempDir(), "theirs")
	os.WriteFile(other, []byte("#!/bin/sh\necho theirs\n"), 0o700)
	os.Remove(bin)
	os.Symlink(other, bin)
	f.mustBuild(t, cache, "linked program", true)

	// Loom's extracted source others may write: extracted again.
	src, _ := filepath.Glob(filepath.Join(cache, "src", "*"))
	if len(src) != 1 {
		t.Fatalf("src: %v", src)
	}
	os.Chmod(src[0], 0o777)
	os.WriteFile(filepath.Join(src[0], "planted.go"), nil, 0o666)
	os.Remove(bin)
	f.mustBuild(t, cache, "0777 src", true)
	if _, err := os.Stat(filepath.Join(src[0], "planted.go")); err == nil {
		t.Error("the planted source file is still there")
	}
}

// TestCacheParentChain: a cache under a directory others may write
// (without the sticky bit) is refused: they could rename it away and put
// theirs in its place. With the sticky bit (/tmp) it is fine.
func TestCacheParentChain(t *testing.T) {
	f := newFixture(t)
	open := filepath.Join(t.TempDir(), "shared")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	cache := filepath.Join(open, "mine")
	if _, _, err := f.build(cache); err == nil || !strings.Contains(err.Error(), open+": writable by every user") || !strings.Contains(err.Error(), "in its place") {
		t.Fatalf("under a 0777 directory: %v", err)
	}
	if _, err := os.Stat(cache); err == nil {
		t.Error("the cache was made all the same")
	}
	os.Chmod(open, 0o777|os.ModeSticky)
	f.mustBuild(t, cache, "under a sticky directory", true)
}

// TestCacheOtherOwner: as root, files another user owns are not trusted
// in the cache, whatever their mode.
func TestCacheOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	f := newFixture(t)
	const uid = 12345
	cache := filepath.Join(t.TempDir(), "cache")
	bin := f.mustBuild(t, cache, "first build", true)

	os.Chown(bin, uid, uid)
	f.mustBuild(t, cache, "program of another user", true)

	os.Chown(filepath.Dir(bin), uid, uid)
	plant(t, bin)
	f.mustBuild(t, cache, "bin/ of another user", true)

	os.Chown(cache, uid, uid)
	if _, _, err := f.build(cache); err == nil || !strings.Contains(err.Error(), "owned by uid 12345") {
		t.Fatalf("cache of another user: %v", err)
	}

	// A directory above it that another user owns.
	os.Chown(cache, 0, 0)
	os.Chown(filepath.Dir(cache), uid, uid)
	if _, _, err := f.build(cache); err == nil || !strings.Contains(err.Error(), filepath.Dir(cache)+": owned by uid 12345") {
		t.Fatalf("cache under another user's directory: %v", err)
	}
}
