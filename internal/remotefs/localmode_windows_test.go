//go:build windows

package remotefs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLocalModeWindows: what Go reports for an NTFS file (0666) or
// directory (0777) is not put as it is: 0644 and 0755.
func TestLocalModeWindows(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{f: 0o644, dir: 0o755} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := localMode(fi.Mode()); got != want {
			t.Errorf("%s (%v): put as %v, want %v", p, fi.Mode(), got, want)
		}
	}
}
