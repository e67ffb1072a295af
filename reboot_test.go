//go:build unix

package loom_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/loomtest"
)

// rebootLab is an in-process host that "reboots" when a command creates
// the file rebooting in its directory: its server stops (connections
// dropped) and a new one starts on the same address, with hostKey, whose
// first two handshakes are dropped as a host still booting would.
func rebootLab(t *testing.T, client ssh.Signer, newKey ssh.Signer) (addr string, d *loom.Dialer) {
	t.Helper()
	key, _ := ssh.NewSignerFromKey(mustEd25519(t))
	dir := t.TempDir()
	s1, err := loomtest.Start(loomtest.Options{AuthorizedKeys: []ssh.PublicKey{client.PublicKey()}, HostKey: key, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr = s1.Addr()
	if newKey == nil {
		newKey = key
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, key.PublicKey())+"\n"), 0o600)
	d = &loom.Dialer{ConfigFile: "none", Options: []string{"UserKnownHostsFile=" + kh}, Signers: []ssh.Signer{client}, AgentSocket: "/nonexistent", ConnectTimeout: 10 * time.Second}
	t.Cleanup(func() { d.Close() })
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for { // wait for the reboot
			if _, err := os.Stat(filepath.Join(dir, "rebooting")); err == nil {
				break
			}
			select {
			case <-stop:
				s1.Close()
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		s1.Close()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		dl := &droppingListener{Listener: ln}
		dl.left.Store(2)
		s2, err := loomtest.Start(loomtest.Options{AuthorizedKeys: []ssh.PublicKey{client.PublicKey()}, HostKey: newKey, Listener: dl, Dir: dir})
		if err != nil {
			t.Error(err)
			return
		}
		<-stop
		s2.Close()
	}()
	return addr, d
}

func TestRebootWaitsForTheHost(t *testing.T) {
	client, _ := ssh.NewSignerFromKey(mustEd25519(t))
	addr, d := rebootLab(t, client, nil)
	loom.SetRebootScript(t, "touch rebooting")
	c, err := d.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	app := c.Cd(".").Env("X", "1")
	if err := c.Reboot(2 * time.Minute); err != nil {
		t.Fatalf("reboot: %v", err)
	}
	// The Conn and those derived from it work over the new connection.
	if got := app.Shell("echo back $X").Text(); got != "back 1" || c.Err() != nil {
		t.Fatalf("after the reboot: %q %v", got, c.Err())
	}
}

func TestRebootRefusesAChangedHostKey(t *testing.T) {
	client, _ := ssh.NewSignerFromKey(mustEd25519(t))
	other, _ := ssh.NewSignerFromKey(mustEd25519(t))
	addr, d := rebootLab(t, client, other)
	loom.SetRebootScript(t, "touch rebooting")
	c, err := d.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	err = c.Reboot(5 * time.Minute)
	var ce *loom.ConnectError
	if !errors.As(err, &ce) || ce.Reason != loom.ReasonHostKey || time.Since(start) > time.Minute {
		t.Fatalf("a host back with another key: %v after %v, want a host key error at once", err, time.Since(start))
	}
	if r := c.Run("true"); !errors.Is(r.Err, loom.ErrSkipped) {
		t.Fatalf("the Conn goes on after a refused host key: %v", r.Err)
	}
}

func TestRebootLocalIsAnError(t *testing.T) {
	if err := loom.Local().Reboot(time.Second); err == nil || !strings.Contains(err.Error(), "not an SSH connection") {
		t.Fatalf("Local().Reboot: %v", err)
	}
}
