package loomfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindRefusesWhatOthersCanWrite: loomfiles found by searching upward
// are refused, with the reason and the -f that names them, when others
// may write them, their directory or their go.mod; named with -f they
// are used as given.
func TestFindRefusesWhatOthersCanWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		loose string // the path made writable by every user
		named string // what -f would name
	}{
		{"tagged file", map[string]string{"loomfile.go": tagged}, "loomfile.go", "loomfile.go"},
		{"its directory", map[string]string{"loomfile.go": tagged}, ".", "loomfile.go"},
		{"a loomfiles file", map[string]string{"loomfiles/up.go": tagged}, "loomfiles/up.go", "loomfiles"},
		{"a loomfiles directory", map[string]string{"loomfiles/up.go": tagged}, "loomfiles", "loomfiles"},
		{"the go.mod", map[string]string{"go.mod": "module example.com/x\n", "ops/loomfile.go": tagged}, "go.mod", "ops/loomfile.go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, root, tc.files)
			deep := filepath.Join(root, "a", "b")
			os.MkdirAll(deep, 0o755)
			start := deep
			if strings.HasPrefix(tc.named, "ops") {
				start = filepath.Join(root, "ops")
			}
			// Trusted as written: found.
			if _, err := find(start, "", root); err != nil {
				t.Fatalf("before: %v", err)
			}
			loose := filepath.Join(root, tc.loose)
			fi, _ := os.Stat(loose)
			os.Chmod(loose, fi.Mode().Perm()|0o002)
			_, err := find(start, "", root)
			named := filepath.Join(root, tc.named)
			if err == nil || !strings.Contains(err.Error(), filepath.Clean(loose)+": writable by every user") || !strings.HasSuffix(err.Error(), "-f "+filepath.Clean(named)) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v", err)
			}
			// Named, it is used.
			if _, err := find(start, named, root); err != nil {
				t.Fatalf("-f %s: %v", named, err)
			}
		})
	}
}

// TestFindRefusesAnotherUsersLoomfile: as root, a loomfile another user
// owns, found upward, is refused, as git refuses their repository.
func TestFindRefusesAnotherUsersLoomfile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	root := t.TempDir()
	write(t, root, map[string]string{"loomfile.go": tagged})
	deep := filepath.Join(root, "src")
	os.Mkdir(deep, 0o755)
	for _, p := range []string{filepath.Join(root, "loomfile.go"), root} {
		os.Chown(p, 12345, 12345)
		_, err := find(deep, "", root)
		if err == nil || !strings.Contains(err.Error(), p+": owned by uid 12345, not by you (uid 0") || !strings.Contains(err.Error(), "-f ") {
			t.Fatalf("%s owned by another user: %v", p, err)
		}
		if _, err := find(deep, filepath.Join(root, "loomfile.go"), root); err != nil {
			t.Fatalf("named with -f: %v", err)
		}
		os.Chown(p, 0, 0)
	}
}
