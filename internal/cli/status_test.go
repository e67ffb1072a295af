package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/prompt"
	"github.com/loomssh/loom/internal/ptytest"
)

// TestCompilingStatusClearedForPrompts: the "compiling the loomfile…" line
// is cleared when a prompt begins and not drawn while it is on screen, and
// it is cleared for good when the build ends, whatever its outcome.
func TestCompilingStatusClearedForPrompts(t *testing.T) {
	const text = "loom: compiling the loomfile…"
	var screen ptytest.Screen
	s := &statusLine{w: &screen}
	s.show(text)
	if screen.Last() != text {
		t.Fatalf("status not shown: %q", screen.Last())
	}
	end := prompt.Begin()
	if screen.Last() != "" {
		t.Fatalf("status not cleared for a prompt: %q", screen.Last())
	}
	fmt.Fprint(&screen, "Password: ")
	s.show(text) // drawn again by the build meanwhile: not while the prompt is up
	if screen.Last() != "Password: " {
		t.Fatalf("the prompt was drawn over: %q", screen.Last())
	}
	fmt.Fprint(&screen, "\n")
	end()
	if screen.Last() != text {
		t.Fatalf("status not back after the prompt: %q", screen.Last())
	}
	s.close()
	if screen.Last() != "" {
		t.Fatalf("status left after the build: %q", screen.Last())
	}
	end = prompt.Begin() // after close, the status stays away
	end()
	if screen.Last() != "" {
		t.Fatalf("status drawn after close: %q", screen.Last())
	}
}

// TestCompilingStatusClearedOnBuildError: a build that fails clears its
// status line too before the error is printed.
func TestCompilingStatusClearedOnBuildError(t *testing.T) {
	needGo(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(`//go:build loom

package main

import "github.com/loomssh/loom"

// Deploy deploys.
func Deploy(c *loom.Conn) error { return c.Run("true", 1).Err }
`), 0o644)
	var out, errs bytes.Buffer
	code := Run(context.Background(), []string{"-H", "h1", "-f", dir, "deploy"}, Env{Stdout: &out, Stderr: &errs, Progress: true})
	s := errs.String()
	status := "loom: compiling the loomfile (once for these sources)…\r"
	i := strings.Index(s, status)
	if code != ExitUsage || i < 0 {
		t.Fatalf("exit %d, stderr %q", code, s)
	}
	if !strings.HasPrefix(s[i+len(status):], "\r\033[K") {
		t.Fatalf("the status line was not cleared before the error: %q", s)
	}
}

// TestBuildSaysWhatItDoes: off a terminal too, a build says it started and
// how long it took (a cold first build can take minutes); a cached run says
// nothing.
func TestBuildSaysWhatItDoes(t *testing.T) {
	needGo(t)
	t.Setenv("LOOM_CACHE", t.TempDir())
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(`//go:build loom

package main

import "fmt"

// Hi says hi.
func Hi() { fmt.Println("hi") }
`), 0o644)
	var out, errs bytes.Buffer
	code := Run(context.Background(), []string{"-f", dir, "hi"}, Env{Stdout: &out, Stderr: &errs})
	if code != ExitOK || !strings.Contains(errs.String(), "loom: compiling the loomfile (once for these sources)…\n") || !strings.Contains(errs.String(), "loom: compiled the loomfile in ") {
		t.Fatalf("exit %d, stderr %q", code, errs.String())
	}
	errs.Reset()
	if code := Run(context.Background(), []string{"-f", dir, "hi"}, Env{Stdout: &out, Stderr: &errs}); code != ExitOK || errs.Len() != 0 {
		t.Fatalf("a cached run: exit %d, stderr %q", code, errs.String())
	}
}
