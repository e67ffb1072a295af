package loom_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/loomtest"
)

// exampleHosts starts n throwaway in-process SSH hosts and returns a Dialer
// that trusts them (their keys are in a temp known_hosts file) and logs in
// with an in-memory key.
func exampleHosts(n int) ([]*loomtest.Server, *loom.Dialer, func()) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewSignerFromKey(priv)
	dir, _ := os.MkdirTemp("", "loom-example-")
	var servers []*loomtest.Server
	var known []byte
	for i := 0; i < n; i++ {
		s, err := loomtest.Start(loomtest.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
		if err != nil {
			log.Fatal(err)
		}
		servers = append(servers, s)
		known = fmt.Appendf(known, "%s\n", knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey()))
	}
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, known, 0o600)
	d := &loom.Dialer{
		ConfigFile:  "none",
		Signers:     []ssh.Signer{key},
		Options:     []string{"UserKnownHostsFile=" + kh},
		AgentSocket: "/nonexistent",
	}
	return servers, d, func() {
		d.Close()
		for _, s := range servers {
			s.Close()
		}
		os.RemoveAll(dir)
	}
}

// A deployment step reads like a script: run the commands, check Err once.
func Example() {
	servers, d, cleanup := exampleHosts(1)
	defer cleanup()
	srv := servers[0]
	os.MkdirAll(filepath.Join(srv.Dir(), "app"), 0o755)

	c, err := d.Dial(context.Background(), srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	app := c.Cd(srv.Dir()).Cd("app").Env("GREETING", "hello")
	app.Run("touch", "deployed; not a command")                       // one argument, quoted
	fmt.Println(app.Shell(`echo "$GREETING from ${PWD##*/}"`).Text()) // shell text
	fmt.Println(app.Run("ls").Text())

	r := c.Shell("echo oops >&2; exit 3")
	var ee *loom.ExitError
	if errors.As(r.Err, &ee) {
		fmt.Printf("exit %d, stderr %q\n", ee.Code, r.Stderr)
	}
	// After a failure the Conn stops, like a fabfile aborting.
	fmt.Println(errors.Is(c.Run("true").Err, loom.ErrSkipped), c.Err() == r.Err)
	// Output:
	// hello from app
	// deployed; not a command
	// exit 3, stderr "oops\n"
	// true true
}

// Run the same work on many hosts, at most two at a time.
func ExampleGroup() {
	servers, d, cleanup := exampleHosts(3)
	defer cleanup()
	var hosts []loom.Host
	for i, s := range servers {
		hosts = append(hosts, loom.Host{Name: s.Addr(), Vars: map[string]string{"n": fmt.Sprint(i)}})
	}
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 2}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		if c.Var("n") == "2" {
			c.Run("false")
		}
		return c.Err()
	})
	fmt.Println(len(rs.OK()), "ok,", len(rs.Failed()), "failed:", rs.Failed()[0].Reason())
	// Output: 2 ok, 1 failed: exit 1
}

// Local runs commands on this machine with the same operations.
func ExampleLocal() {
	l := loom.Local()
	fmt.Println(l.Env("WHO", "world").Shell(`echo "hello, $WHO"`).Text())
	fmt.Println(l.OkExit(1).Run("grep", "-q", "x", "/dev/null").ExitCode)
	// Output:
	// hello, world
	// 1
}
