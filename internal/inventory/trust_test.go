package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindRefusesWhatOthersCanWrite: a loom.yaml found upward that
// others may write (the file or its directory), or that another user owns,
// is refused with the reason and the -I that names it.
func TestFindRefusesWhatOthersCanWrite(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	os.MkdirAll(deep, 0o755)
	inv := filepath.Join(root, "a", "loom.yaml")
	os.WriteFile(inv, []byte("hosts: [web1]\n"), 0o644)
	if got, err := Find(deep); err != nil || got != inv {
		t.Fatalf("before: %q %v", got, err)
	}
	check := func(loose string) {
		t.Helper()
		_, err := Find(deep)
		if err == nil || !strings.Contains(err.Error(), loose+": ") || !strings.Contains(err.Error(), "-I "+inv+" (or -I none") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("got %v", err)
		}
	}
	os.Chmod(inv, 0o666)
	check(inv)
	os.Chmod(inv, 0o644)
	os.Chmod(filepath.Dir(inv), 0o777)
	check(filepath.Dir(inv))
	os.Chmod(filepath.Dir(inv), 0o755)
	if os.Geteuid() == 0 {
		os.Chown(inv, 12345, 12345)
		check(inv)
		os.Chown(inv, 0, 0)
		os.Chown(inv, 0, 12345) // a group not root's own
		os.Chmod(inv, 0o664)
		check(inv)
	}
}
