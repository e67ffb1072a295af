package holder

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The holder's log is bounded: past maxLog it moves to holder.log.1 and a
// new holder.log starts, so at most two files of about maxLog each are
// kept, every line whole in one of them, the newest in holder.log.
func TestLogRotates(t *testing.T) {
	defer func(n int64) { maxLog = n }(maxLog)
	maxLog = 1000
	dir := t.TempDir()
	lf, err := openLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	logger := log.New(lf, "loom holder 1: ", 0)
	const lines = 200
	for i := range lines {
		logger.Printf("line %03d of a long-running holder", i)
	}
	lf.Close()

	cur, err := os.ReadFile(filepath.Join(dir, LogName))
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join(dir, oldLogName))
	if err != nil {
		t.Fatalf("no %s after %d bytes of log: %v", oldLogName, lines*40, err)
	}
	for name, b := range map[string][]byte{LogName: cur, oldLogName: old} {
		if int64(len(b)) > maxLog {
			t.Errorf("%s: %d bytes, want at most %d", name, len(b), maxLog)
		}
		if !strings.HasSuffix(string(b), "\n") {
			t.Errorf("%s does not end with a whole line: %q", name, b)
		}
		fi, _ := os.Stat(filepath.Join(dir, name))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if want := fmt.Sprintf("line %03d of", lines-1); !strings.Contains(string(cur), want) {
		t.Errorf("%s lacks the newest line %q:\n%s", LogName, want, cur)
	}
	if n := strings.Count(string(old), "\n") + strings.Count(string(cur), "\n"); n >= lines {
		t.Errorf("%d lines kept of %d: the log is not bounded", n, lines)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the holder's directory, want 2", len(entries))
	}

	// A log already past the bound when a holder starts is moved first.
	os.WriteFile(filepath.Join(dir, LogName), []byte(strings.Repeat("x", int(maxLog))), 0o600)
	lf, err = openLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	lf.Close()
	if fi, _ := os.Stat(filepath.Join(dir, LogName)); fi.Size() != 0 {
		t.Errorf("a full log kept at start: %d bytes", fi.Size())
	}
}
