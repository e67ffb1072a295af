package agentfwd

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// testKey is a key loaded into a test's upstream agent.
type testKey struct {
	priv    ed25519.PrivateKey
	signer  ssh.Signer
	pub     ssh.PublicKey
	fp      string
	comment string
}

func newKey(t testing.TB, comment string) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv: priv, signer: s, pub: s.PublicKey(), fp: ssh.FingerprintSHA256(s.PublicKey()), comment: comment}
}

func (k testKey) added() agent.AddedKey {
	return agent.AddedKey{PrivateKey: k.priv, Comment: k.comment}
}

// sockDir returns a short temporary directory for unix sockets (their paths
// are limited to about 100 bytes, and t.TempDir can be longer).
func sockDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "agentfwd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// fakeAgent is an upstream agent on a unix socket that counts its
// connections: an in-process agent.Keyring (or any agent.Agent) served with
// agent.ServeAgent.
type fakeAgent struct {
	path    string
	ag      agent.Agent
	ln      net.Listener
	accepts atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	cur   int // connections open now
	peak  int

	// hang makes the agent accept connections and never answer.
	hang atomic.Bool
	// dropNext makes the agent close the next accepted connection at once.
	dropNext atomic.Bool
}

func startFakeAgent(t testing.TB, ag agent.Agent) *fakeAgent {
	t.Helper()
	path := filepath.Join(sockDir(t), "agent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAgent{path: path, ag: ag, ln: ln, conns: make(map[net.Conn]struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepts.Add(1)
			if f.dropNext.CompareAndSwap(true, false) {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns[c] = struct{}{}
			f.cur++
			f.peak = max(f.peak, f.cur)
			f.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if f.hang.Load() {
					var b [512]byte
					for {
						if _, err := c.Read(b[:]); err != nil {
							break
						}
					}
				} else {
					agent.ServeAgent(f.ag, c)
				}
				c.Close()
				f.mu.Lock()
				delete(f.conns, c)
				f.cur--
				f.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.dropAll()
		wg.Wait()
	})
	return f
}

// dropAll closes every connection open now, as an agent restart would.
func (f *fakeAgent) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
}

func (f *fakeAgent) peakConns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peak
}

func (f *fakeAgent) openConns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// slowAgent delays every signature, like a hardware key, so that concurrent
// requests really overlap.
type slowAgent struct {
	agent.Agent
	delay time.Duration
}

func (s slowAgent) Sign(key ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	time.Sleep(s.delay)
	return s.Agent.Sign(key, data)
}

// keyring returns an in-process agent holding keys.
func keyring(t testing.TB, keys ...testKey) agent.Agent {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(k.added()); err != nil {
			t.Fatal(err)
		}
	}
	return kr
}

// fingerprints returns the fingerprints of keys, for comparing lists.
func fingerprints(keys []*agent.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, fingerprint(k.Blob))
	}
	return out
}

// eventLog collects events from the record callback.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) record(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) ops() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Op)
	}
	return out
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requireTool returns the path of an OpenSSH tool, or skips the test (fails
// it when LOOM_REQUIRE_SSHD is set, as in CI).
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("LOOM_REQUIRE_SSHD") != "" {
			t.Fatalf("%s not found (LOOM_REQUIRE_SSHD is set: integration tests must not skip)", name)
		}
		t.Skipf("%s not found: skipping the OpenSSH interop test", name)
	}
	return p
}

// startSSHAgent runs a real OpenSSH ssh-agent for the test and returns its
// socket, or skips the test if ssh-agent is not installed.
func startSSHAgent(t testing.TB) string {
	t.Helper()
	bin := requireTool(t, "ssh-agent")
	sock := filepath.Join(sockDir(t), "ssh-agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitFor(t, "ssh-agent socket", func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return sock
}

// addToAgent loads keys into the agent at sock.
func addToAgent(t testing.TB, sock string, keys ...testKey) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ag := agent.NewClient(c)
	for _, k := range keys {
		if err := ag.Add(k.added()); err != nil {
			t.Fatal(err)
		}
	}
}

// listAgent lists the keys of the agent at sock.
func listAgent(t testing.TB, sock string) []*agent.Key {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := agent.NewClient(c).List()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// serveSocket serves a on a new unix socket with serve (agent.ServeAgent or
// this package's serveConn) and returns the socket's path.
func serveSocket(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	path := filepath.Join(sockDir(t), "filter.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return path
}
