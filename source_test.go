package loom_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomssh/loom"
)

// Source carries every Go file of the packages a compiled loomfile needs
// (all but commands, benchmarks and examples), and go.mod and go.sum: what
// is missing there breaks offline builds of loomfiles.
func TestSourceCarriesTheModule(t *testing.T) {
	src := loom.Source()
	for _, name := range []string{"go.mod", "go.sum", "taskmain/taskmain.go"} {
		if _, err := fs.Stat(src, name); err != nil {
			t.Errorf("Source lacks %s: %v", name, err)
		}
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "testdata", "bench", "examples", "cmd", ".git", ".ci":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		want, _ := os.ReadFile(path)
		got, err := fs.ReadFile(src, filepath.ToSlash(path))
		if err != nil {
			t.Errorf("Source lacks %s (add its directory to the go:embed patterns in source.go)", path)
		} else if string(got) != string(want) {
			t.Errorf("Source has another %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
