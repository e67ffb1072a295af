package loom

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/testkit"
	"github.com/loomssh/loom/loomtest"
)

// A shared connection the host dropped is noticed and dialled again by the
// next run, which succeeds; the first run's Conn is not affected by the
// second's connection.
func TestSharedConnectionRedialledAfterDrop(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey())+"\n"), 0o600)
	d := &Dialer{ConfigFile: "none", Options: []string{"UserKnownHostsFile=" + kh}, Signers: []ssh.Signer{signer}, AgentSocket: "/nonexistent", ShareConnections: true}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c1, err := d.Dial(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if r := c1.Run("true"); r.Err != nil {
		t.Fatal(r.Err)
	}
	c1.Close()
	if n := s.DropConnections(); n != 1 {
		t.Fatalf("dropped %d connections, want the shared one", n)
	}
	select {
	case <-c1.h.tc.Done():
	case <-ctx.Done():
		t.Fatal("the client never noticed its connection was dropped")
	}

	c2, err := d.Dial(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if r := c2.Run("echo", "back"); r.Err != nil || r.Stdout != "back\n" {
		t.Fatalf("after a drop: %q %v", r.Stdout, r.Err)
	}
	if n := s.Connections(); n != 2 {
		t.Fatalf("%d connections, want the first and one redial", n)
	}
	testkit.WaitFor(t, "one open connection", func() bool { return s.OpenConnections() == 1 })
}
