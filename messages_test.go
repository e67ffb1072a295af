package loom_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/loomssh/loom"
)

// TestPrintfThroughHostOutput: a task's message goes through the host's
// live output in order with its commands' lines, and is skipped after the
// Conn's first failure.
func TestPrintfThroughHostOutput(t *testing.T) {
	hosts, d := fleet(t, 2, nil)
	var mu sync.Mutex
	outs := map[string]*bytes.Buffer{}
	g := &loom.Group{Dialer: d, Hosts: hosts, Output: func(h loom.Host) (io.Writer, io.Writer) {
		mu.Lock()
		defer mu.Unlock()
		b := &bytes.Buffer{}
		outs[h.Name] = b
		return lockedWriter{&mu, b}, lockedWriter{&mu, b}
	}}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		c.Printf("deploying %s", "v1")
		c.Run("echo", "ran")
		if c.Var("i") == "1" {
			c.Fail(errors.New("broken"))
		}
		c.Printf("deployed %s\n", "v1")
		return nil
	})
	if len(rs.OK()) != 1 {
		t.Fatalf("want one host ok: %v", rs.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if got := outs[hosts[0].Name].String(); got != "deploying v1\nran\ndeployed v1\n" {
		t.Errorf("host 0 shows %q", got)
	}
	if got := outs[hosts[1].Name].String(); got != "deploying v1\nran\n" {
		t.Errorf("host 1 (failed) shows %q: a message after the failure", got)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
