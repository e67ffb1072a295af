package loom_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/sshdtest"
)

// When the connection dies mid-upload (Loom killed, network gone), the old
// file stays intact and no temporary file is left behind.
func TestUploadCutOffLeavesNoTempFile(t *testing.T) {
	s, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")
	dir := filepath.Join(s.Home, "janitor-test")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o777)
	os.Chmod(dir, 0o777)
	t.Cleanup(func() { os.RemoveAll(dir) })
	target := filepath.Join(dir, "victim")
	os.WriteFile(target, []byte("old content\n"), 0o644)

	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.PutReader(pr, target)
	}()
	pw.Write(make([]byte, 1<<20)) // part of the upload is on the host
	deadline := time.Now().Add(10 * time.Second)
	for !hasTemp(t, dir) {
		if time.Now().After(deadline) {
			t.Fatal("no temp file appeared during the upload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Client().Close() // the connection dies: Loom cannot clean up itself
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	deadline = time.Now().Add(10 * time.Second)
	for hasTemp(t, dir) {
		if time.Now().After(deadline) {
			t.Fatal("a temp file was left behind after the connection died")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, _ := os.ReadFile(target); string(b) != "old content\n" {
		t.Fatalf("target changed: %q", b)
	}
}

func hasTemp(t *testing.T, dir string) bool {
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.Contains(e.Name(), ".loom-") {
			return true
		}
	}
	return false
}
