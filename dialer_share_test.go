package loom_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/testkit"
	"github.com/loomssh/loom/loomtest"
)

// sharedFleet starts n in-process hosts and returns them, their servers
// (which count connections) and a Dialer that trusts them.
func sharedFleet(t *testing.T, n int) ([]loom.Host, []*loomtest.Server, *loom.Dialer) {
	t.Helper()
	signer, _ := ssh.NewSignerFromKey(mustEd25519(t))
	var kh strings.Builder
	hosts := make([]loom.Host, n)
	servers := make([]*loomtest.Server, n)
	for i := range n {
		s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
		servers[i] = s
		hosts[i] = loom.Host{Name: s.Addr(), Vars: map[string]string{"i": fmt.Sprint(i)}}
		kh.WriteString(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey()) + "\n")
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(path, []byte(kh.String()), 0o600)
	d := &loom.Dialer{ConfigFile: "none", Options: []string{"UserKnownHostsFile=" + path}, Signers: []ssh.Signer{signer}, AgentSocket: "/nonexistent"}
	t.Cleanup(func() { d.Close() })
	return hosts, servers, d
}

func connectionCounts(servers []*loomtest.Server) []int {
	n := make([]int, len(servers))
	for i, s := range servers {
		n[i] = s.Connections()
	}
	return n
}

// A Dialer with ShareConnections logs in to each host once however many
// Group runs and Dials use it; each run keeps its own error state, and the
// connections end with the Dialer.
func TestShareConnectionsOneLoginPerHost(t *testing.T) {
	hosts, servers, d := sharedFleet(t, 3)
	d.ShareConnections = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g := &loom.Group{Dialer: d, Hosts: hosts}

	// The first run fails one host with a sticky error...
	rs := g.Each(ctx, func(c *loom.Conn) error {
		if c.Var("i") == "1" {
			c.Fail(errors.New("stage one broke here"))
		}
		c.Run("true")
		return nil
	})
	if len(rs.OK()) != 2 || len(rs.Failed()) != 1 {
		t.Fatalf("first run: %v", rs.Err())
	}
	// ...which the next runs on the same connection do not inherit.
	for range 2 {
		if rs := g.Run(ctx, "echo", "again"); rs.Err() != nil {
			t.Fatalf("later run: %v", rs.Err())
		}
	}
	// Dial shares it too, and Conn.Close leaves it open.
	c, err := d.Dial(ctx, hosts[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Run("true"); r.Err != nil {
		t.Fatal(r.Err)
	}
	c.Close()
	if got := connectionCounts(servers); got[0] != 1 || got[1] != 1 || got[2] != 1 {
		t.Fatalf("connections per host for 4 uses: %v, want 1 each", got)
	}
	if n := servers[0].OpenConnections(); n != 1 {
		t.Fatalf("%d connections open after Conn.Close, want the shared one", n)
	}
	d.Close()
	for _, s := range servers {
		testkit.WaitFor(t, "Dialer.Close to close the shared connections", func() bool { return s.OpenConnections() == 0 })
	}
}

// Without ShareConnections every Group run connects anew, as before.
func TestNoShareConnectionsByDefault(t *testing.T) {
	hosts, servers, d := sharedFleet(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g := &loom.Group{Dialer: d, Hosts: hosts}
	for range 2 {
		if rs := g.Run(ctx, "true"); rs.Err() != nil {
			t.Fatal(rs.Err())
		}
	}
	if got := connectionCounts(servers); got[0] != 2 || got[1] != 2 {
		t.Fatalf("connections per host for 2 runs: %v, want 2 each", got)
	}
	for _, s := range servers {
		testkit.WaitFor(t, "Conn.Close to close the connections", func() bool { return s.OpenConnections() == 0 })
	}
}

// On a shared connection each Conn reports the agent requests of its own
// use, not those of earlier runs on the connection.
func TestSharedConnectionAgentEventsPerRun(t *testing.T) {
	if _, err := exec.LookPath("ssh-add"); err != nil {
		t.Skip("ssh-add not installed")
	}
	hosts, servers, d := sharedFleet(t, 1)
	kf := filepath.Join(t.TempDir(), "id")
	block, _ := ssh.MarshalPrivateKey(mustEd25519(t), "")
	os.WriteFile(kf, pem.EncodeToMemory(block), 0o600)
	d.AgentSocket, _ = localAgent(t, kf)
	d.ForwardAgent, d.ShareConnections = true, true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lists := func(c *loom.Conn) int {
		n := 0
		for _, e := range c.AgentEvents() {
			if e.Op == "list" {
				n++
			}
		}
		return n
	}
	c1, err := d.DialHost(ctx, hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	if r := c1.Run("ssh-add", "-l"); r.Err != nil || lists(c1) != 1 {
		t.Fatalf("first run: %q %v, %d list events", r.Stdout, r.Err, lists(c1))
	}
	c1.Close()
	c2, err := d.DialHost(ctx, hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if n := lists(c2); n != 0 {
		t.Fatalf("the second run reports %d list events of the first", n)
	}
	if r := c2.Run("ssh-add", "-l"); r.Err != nil || lists(c2) != 1 {
		t.Fatalf("second run: %q %v, %d list events", r.Stdout, r.Err, lists(c2))
	}
	if n := servers[0].Connections(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}
