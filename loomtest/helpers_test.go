//go:build unix

package loomtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testTimeout bounds every wait in these tests, so that a hang fails the
// test instead of stalling the run.
const testTimeout = 10 * time.Second

// newKey returns a fresh ed25519 signer.
func newKey(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// keyServer starts a server that authorizes one fresh key and returns both.
func keyServer(t testing.TB, o Options) (*Server, ssh.Signer) {
	t.Helper()
	key := newKey(t)
	o.AuthorizedKeys = append(o.AuthorizedKeys, key.PublicKey())
	return NewServer(t, o), key
}

// clientConfig returns a client configuration that trusts s's host key.
func clientConfig(s *Server, user string, auth ...ssh.AuthMethod) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
		Timeout:         testTimeout,
	}
}

// dialTimeout connects to addr and completes the SSH handshake within
// timeout (x/crypto's ClientConfig.Timeout covers only the TCP connect).
func dialTimeout(addr string, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(timeout))
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// connect logs in to s with key and closes the client when the test ends.
func connect(t testing.TB, s *Server, key ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := dialTimeout(s.Addr(), clientConfig(s, "tester", ssh.PublicKeys(key)), testTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// result is what running one command produced.
type result struct {
	stdout, stderr string
	err            error
}

// run runs cmd in a new session on c, feeding it stdin, and fails the test
// if that takes longer than testTimeout.
func run(t testing.TB, c *ssh.Client, cmd, stdin string) result {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	sess.Stdin = strings.NewReader(stdin)
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmd) }()
	select {
	case err := <-done:
		return result{stdout.String(), stderr.String(), err}
	case <-time.After(testTimeout):
		t.Fatalf("%q did not finish within %v", cmd, testTimeout)
		return result{}
	}
}

// exitCode returns the exit status in err (0 for nil), or -1 if err does
// not carry one.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*ssh.ExitError); ok {
		return ee.ExitStatus()
	}
	return -1
}

// waitFor polls cond until it holds or testTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closeWithin closes s and fails the test if that takes longer than d.
func closeWithin(t testing.TB, s *Server, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("Close did not return within %v", d)
	}
}
