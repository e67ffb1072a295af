package transport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/loomtest"
)

// lab is loomtest servers, one per fault, and a host for each.
type lab struct {
	t   *testing.T
	id  string
	key ssh.Signer
}

func newLab(t *testing.T) *lab {
	dir := t.TempDir()
	return &lab{t: t, id: filepath.Join(dir, "id"), key: writeKey(t, dir, "id", "")}
}

// dial connects to a new server showing fault, with keepalives every
// interval (count of them unanswered: dead); zero interval: the default.
func (l *lab) dial(fault loomtest.Fault, interval time.Duration, count int) (*Client, *loomtest.Server) {
	t := l.t
	s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{l.key.PublicKey()}, Fault: fault, Logf: func(string, ...any) {}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey())+"\n"), 0o600)
	h := host(t, s, kh, l.id)
	h.ServerAliveInterval, h.ServerAliveCountMax = interval, count
	d := &Dialer{}
	t.Cleanup(func() { d.Close() })
	c, err := d.Dial(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, s
}

// waitDone waits for c to be gone, generously.
func waitDone(t *testing.T, c *Client, what string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(time.Minute):
		t.Fatalf("%s: the connection was not noticed gone within a minute", what)
	}
	if !c.Closed() {
		t.Fatalf("%s: Done closed, but Closed says the connection is up", what)
	}
}

// TestKeepaliveDeadConnection: an idle connection (no session) whose
// server stops answering is closed by its keepalive after
// ServerAliveCountMax intervals, and says why; a live one, on the same
// timing, stays up. The keepalive runs on a timer, with no goroutine of
// its own between requests.
func TestKeepaliveDeadConnection(t *testing.T) {
	l := newLab(t)
	const interval, count = 100 * time.Millisecond, 3
	live, _ := l.dial(loomtest.NoFault, interval, count)
	dead, _ := l.dial(loomtest.NoKeepaliveReply, interval, count)
	start := time.Now()
	waitDone(t, dead, "no keepalive replies")
	if el := time.Since(start); el < (count-1)*interval {
		t.Errorf("closed after %v, before %d intervals of %v went unanswered", el, count, interval)
	}
	if err := dead.DeadErr(); err == nil || !strings.Contains(err.Error(), "no keepalive reply for 300ms") {
		t.Errorf("DeadErr %v, want no keepalive reply for 300ms", err)
	}
	if _, _, err := dead.NewSession(context.Background()); err == nil || !strings.Contains(err.Error(), "keepalive") {
		t.Errorf("a session on the dead connection: %v", err)
	}
	// The live connection has had as many intervals: answered, it is up.
	if live.Closed() || live.DeadErr() != nil {
		t.Fatalf("the live connection was closed: %v", live.DeadErr())
	}
	s, release, err := live.NewSession(context.Background())
	if err != nil {
		t.Fatalf("a session on the live connection: %v", err)
	}
	defer release()
	if out, err := s.Output("echo up"); string(out) != "up\n" || err != nil {
		t.Errorf("live connection: %q %v", out, err)
	}
}

// TestConnectionEndNoticed: a connection the server drops, or Loom
// closes, is Closed and Done, and a session on it fails as lost.
func TestConnectionEndNoticed(t *testing.T) {
	l := newLab(t)
	c, s := l.dial(loomtest.NoFault, 0, 0)
	if c.Closed() {
		t.Fatal("Closed on a new connection")
	}
	if n := s.DropConnections(); n != 1 {
		t.Fatalf("dropped %d connections", n)
	}
	waitDone(t, c, "dropped by the server")
	if _, _, err := c.NewSession(context.Background()); err == nil || !strings.Contains(err.Error(), "lost") {
		t.Errorf("a session on the dropped connection: %v", err)
	}

	c, _ = l.dial(loomtest.NoFault, 0, 0)
	c.Close()
	if !c.Closed() {
		t.Error("not Closed right after Close")
	}
	waitDone(t, c, "closed by Loom")
	if err := c.DeadErr(); err != nil {
		t.Errorf("DeadErr after Close: %v", err)
	}
}

// TestIdleConnectionNoGoroutine: an idle connection runs no goroutine of
// Loom's (a held connection costs x/crypto's goroutines only: the holder
// keeps thousands). Before, each had two: one waiting for the connection
// to end, one for its keepalive ticker.
func TestIdleConnectionNoGoroutine(t *testing.T) {
	l := newLab(t)
	before := transportGoroutines()
	var cs []*Client
	for range 3 {
		c, _ := l.dial(loomtest.NoFault, 0, 0)
		cs = append(cs, c)
	}
	s, release, err := cs[0].NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run("true"); err != nil {
		t.Fatal(err)
	}
	release()
	if after := transportGoroutines(); len(after) > len(before) {
		t.Errorf("%d goroutines of the transport for 3 idle connections:\n%s", len(after)-len(before), strings.Join(after, "\n\n"))
	}
}

// transportGoroutines returns the stacks of the goroutines running code of
// this package's, tests aside.
func transportGoroutines() []string {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	var out []string
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "loom/internal/transport.") && !strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return out
}
