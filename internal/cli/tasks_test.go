package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListAndHelpTasks(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(`//go:build loom

package main

import "github.com/loomssh/loom"

// Deploy puts VERSION on every web server. It restarts the app.
func Deploy(c *loom.Conn, version string) error {
	c.Run("echo", version)
	return c.Err()
}
`), 0o644)
	code, out, errs := run("-f", dir, "-l")
	if code != 0 || !strings.Contains(out, "deploy") || !strings.Contains(out, "puts VERSION on every web server.") {
		t.Fatalf("-l: %d %q %q", code, out, errs)
	}
	code, out, errs = run("-f", dir, "-h", "deploy")
	if code != 0 || !strings.Contains(out, "It restarts the app.") || !strings.Contains(strings.ToUpper(out), "VERSION") {
		t.Fatalf("-h deploy: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("-f", dir, "-h", "deplyo"); code != ExitUsage || !strings.Contains(errs, "deploy") {
		t.Fatalf("-h typo: %d %q", code, errs)
	}
	if code, _, errs := run("-f", filepath.Join(dir, "nope"), "-l"); code != ExitUsage || errs == "" {
		t.Fatalf("missing loomfile: %d %q", code, errs)
	}
}
