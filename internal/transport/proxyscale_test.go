//go:build unix

package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/loomtest"
)

// TestProxyCommandScale dials many hosts at once, each through its own
// ProxyCommand (an nc-style relay: one shell and two cats per host), and
// reports the cost per host. LOOM_PROXY_HOSTS sets how many (default 40).
func TestProxyCommandScale(t *testing.T) {
	n := 40
	if v, err := strconv.Atoi(os.Getenv("LOOM_PROXY_HOSTS")); err == nil && v > 0 {
		n = v
	} else if testing.Short() {
		n = 10
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewSignerFromKey(priv)
	srv := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	var b strings.Builder
	for i := range n {
		name := fmt.Sprintf("h%03d", i)
		b.WriteString(srv.KnownHostsLine(name+":22") + "\n")
	}
	os.WriteFile(kh, []byte(b.String()), 0o600)
	cfg := fmt.Sprintf("Host h*\n  User deploy\n  IdentityAgent none\n  IdentityFile none\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile none\n  ProxyCommand %s\n",
		kh, strings.ReplaceAll(bashRelay, "%h/%p", srv.Host()+"/"+strconv.Itoa(srv.Port())))
	conf, err := sshconfig.Parse(strings.NewReader(cfg), "test")
	if err != nil {
		t.Fatal(err)
	}
	d := &Dialer{Signers: []ssh.Signer{key}, HandshakeTimeout: 5 * time.Minute, ConnectTimeout: 5 * time.Minute}
	defer d.Close()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	clients := make(chan *Client, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := conf.Resolve(fmt.Sprintf("h%03d", i), sshconfig.Options{})
			if err != nil {
				errs <- err
				return
			}
			c, err := d.Dial(context.Background(), h)
			if err != nil {
				errs <- err
				return
			}
			clients <- c
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	close(clients)
	for err := range errs {
		t.Error(err)
	}
	got := 0
	for c := range clients {
		got++
		c.Close()
	}
	if got != n {
		t.Fatalf("%d of %d hosts connected", got, n)
	}
	t.Logf("%d hosts through a ProxyCommand each: %v in all, %v per host", n, elapsed.Round(time.Millisecond), (elapsed / time.Duration(n)).Round(time.Microsecond))
}
