//go:build unix

package holder

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/testkit"
	"github.com/loomssh/loom/loomtest"
)

// TestMain lets the test binary play an old holder (see fakeOldHolder).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ServeArg {
		os.Exit(Main(os.Args[2:])) // the test binary as a holder process (measure_test.go)
	}
	if dir := os.Getenv("LOOM_HOLDER_TEST_OLD"); dir != "" {
		fakeOldHolder(dir)
		return
	}
	os.Exit(m.Run())
}

// fakeOldHolder answers every hello as a holder of another version would.
func fakeOldHolder(dir string) {
	ln, err := net.Listen("unix", filepath.Join(dir, SocketName))
	if err != nil {
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		readFrame(bufio.NewReader(c))
		writeFrame(c, frame{0, tHello, mustJSON(hello{Version: "loom-holder/0 v0.0.1", PID: os.Getpid()})})
		c.Close()
	}
}

// lab is a host with a key and known_hosts, and a holder dir.
type lab struct {
	srv    *loomtest.Server
	target Target
	dir    string
}

func newLab(t testing.TB) *lab {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	srv := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
	tmp := t.TempDir()
	key := filepath.Join(tmp, "id")
	block, _ := ssh.MarshalPrivateKey(priv, "")
	os.WriteFile(key, pemEncode(block), 0o600)
	kh := filepath.Join(tmp, "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", srv.Host(), srv.Port())}, srv.HostKey())+"\n"), 0o600)
	cfg, err := sshconfig.Load("")
	if err != nil {
		t.Fatal(err)
	}
	h, err := cfg.Resolve(srv.Addr(), sshconfig.Options{IdentityFiles: []string{key}, Set: []string{"UserKnownHostsFile=" + kh, "IdentitiesOnly=yes", "IdentityAgent=none", "BatchMode=yes"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "holder")
	return &lab{srv: srv, target: Target{Host: h, Persist: time.Hour}, dir: dir}
}

// serve runs a holder on l's dir in this process.
func (l *lab) serve(t *testing.T) *Server { return serveIn(t, l.dir) }

func (l *lab) connect(t *testing.T) *Client { return connectTo(t, l.dir) }

// serveIn runs a holder on dir in this process until the test ends.
func serveIn(t *testing.T, dir string) *Server {
	t.Helper()
	ln, lock, ok, err := Listen(dir)
	if err != nil || !ok {
		t.Fatalf("listen: %v %v", ok, err)
	}
	s := &Server{Linger: time.Hour, Logf: t.Logf}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	t.Cleanup(func() { s.Stop(); <-done; lock.Close() })
	return s
}

// connectTo connects a run to the holder on dir, closed with the test.
func connectTo(t *testing.T, dir string) *Client {
	t.Helper()
	c, err := Connect(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func runCmd(t *testing.T, c *Client, tg Target, cmd, stdin string) (string, string, Exit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	p, err := c.Start(ctx, tg, cmd, nil, &out, &errb)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	in := p.Stdin()
	in.Write([]byte(stdin))
	in.Close()
	e := p.Wait()
	return out.String(), errb.String(), e
}

func TestHolderRunsAndHolds(t *testing.T) {
	l := newLab(t)
	l.serve(t)
	c := l.connect(t)
	out, errs, e := runCmd(t, c, l.target, "cat; echo err >&2; exit 3", "in\n")
	if out != "in\n" || errs != "err\n" || e.Code != 3 || e.Lost != "" {
		t.Fatalf("got %q %q %+v", out, errs, e)
	}
	// A second run (a new client) uses the held connection.
	c2 := l.connect(t)
	if out, _, e := runCmd(t, c2, l.target, "echo warm", ""); out != "warm\n" || e.Code != 0 {
		t.Fatalf("warm: %q %+v", out, e)
	}
	if n := l.srv.Connections(); n != 1 {
		t.Fatalf("%d connections to the host, want 1 held", n)
	}
	// A dropped connection is dialled again, once.
	l.srv.DropConnections()
	testkit.WaitFor(t, "the host to see no connection", func() bool { return l.srv.OpenConnections() == 0 })
	var out2 string
	testkit.WaitFor(t, "a command after the drop", func() bool {
		o, _, e := runCmd(t, c2, l.target, "echo again", "")
		out2 = o
		return e.Lost == "" // the holder may not have seen the drop yet: then the command is lost, as in a direct run
	})
	if out2 != "again\n" || l.srv.Connections() < 2 {
		t.Fatalf("after a drop: %q, %d connections", out2, l.srv.Connections())
	}
}

// Two runs at once share the holder without mixing their output, and a
// run that goes away (Ctrl-C, killed) takes only its own commands.
func TestHolderRunsApart(t *testing.T) {
	l := newLab(t)
	l.serve(t)
	a, b := l.connect(t), l.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var outA bytes.Buffer
	pa, err := a.Start(ctx, l.target, "echo a-started; sleep 30", nil, &outA, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	outs := make([]string, 5)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, _, e := runCmd(t, b, l.target, fmt.Sprintf("for j in 1 2 3; do echo b%d-$j; done", i), "")
			if e.Code != 0 {
				t.Errorf("b%d: %+v", i, e)
			}
			outs[i] = o
		}()
	}
	wg.Wait()
	for i, o := range outs {
		if want := fmt.Sprintf("b%d-1\nb%d-2\nb%d-3\n", i, i, i); o != want {
			t.Fatalf("b%d got %q, want %q", i, o, want)
		}
	}
	a.Close() // the run went away
	if e := pa.Wait(); e.Lost == "" {
		t.Fatalf("a's command after a went away: %+v", e)
	}
	if out, _, e := runCmd(t, b, l.target, "echo still", ""); out != "still\n" || e.Code != 0 {
		t.Fatalf("b after a went away: %q %+v", out, e)
	}
	if !strings.HasPrefix(outA.String(), "a-started") {
		t.Fatalf("a's output: %q", outA.String())
	}
}

func TestHolderDialErrors(t *testing.T) {
	l := newLab(t)
	l.serve(t)
	c := l.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bad := *l.target.Host
	bad.UserKnownHostsFiles = []string{filepath.Join(t.TempDir(), "empty")}
	bad.StrictHostKeyChecking = "yes"
	_, err := c.Dial(ctx, Target{Host: &bad, Persist: time.Hour})
	he, ok := err.(*Error)
	if !ok || he.Kind != "connect" || he.Reason != 4 /* transport.HostKey */ {
		t.Fatalf("unknown host key through the holder: %#v", err)
	}
}

func TestHolderSocketDir(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	if err := PrepareDir(open); err == nil || !strings.Contains(err.Error(), "0700") {
		t.Fatalf("a 0755 dir: %v", err)
	}
	link := filepath.Join(base, "link")
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o700)
	os.Symlink(real, link)
	if err := PrepareDir(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("a symlink: %v", err)
	}
	fresh := filepath.Join(base, "fresh")
	if err := PrepareDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Fatalf("made with mode %v", fi.Mode())
	}
}

// A socket left by a holder killed with -9 is replaced by a new holder.
func TestHolderStaleSocketReplaced(t *testing.T) {
	l := newLab(t)
	PrepareDir(l.dir)
	ln, err := net.Listen("unix", filepath.Join(l.dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the socket file stays, with nobody behind it
	started := 0
	c, err := Connect(context.Background(), Options{Dir: l.dir, Start: func(string) error {
		started++
		l.serve(t)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if out, _, _ := runCmd(t, c, l.target, "echo ok", ""); out != "ok\n" || started != 1 {
		t.Fatalf("%q, started %d", out, started)
	}
}

// A holder of another Loom is refused, stopped and replaced.
func TestHolderOtherVersionReplaced(t *testing.T) {
	l := newLab(t)
	PrepareDir(l.dir)
	old := exec.Command(os.Args[0])
	old.Env = append(os.Environ(), "LOOM_HOLDER_TEST_OLD="+l.dir)
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- old.Wait() }()
	testkit.WaitFor(t, "the old holder's socket", func() bool {
		c, err := net.Dial("unix", filepath.Join(l.dir, SocketName))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	c, err := Connect(context.Background(), Options{Dir: l.dir, Start: func(string) error {
		<-exited // stopped by Connect
		os.Remove(filepath.Join(l.dir, SocketName))
		l.serve(t)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if out, _, _ := runCmd(t, c, l.target, "echo new", ""); out != "new\n" {
		t.Fatalf("%q", out)
	}
	// Without a way to start one, the refusal says what it found.
	c.Stop()
}

func TestHolderIdleExpiry(t *testing.T) {
	l := newLab(t)
	ln, lock, _, err := Listen(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	s := &Server{Linger: 50 * time.Millisecond}
	l.target.Persist = 50 * time.Millisecond
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	c, err := Connect(context.Background(), Options{Dir: l.dir})
	if err != nil {
		t.Fatal(err)
	}
	runCmd(t, c, l.target, "true", "")
	c.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the holder did not expire")
	}
	testkit.WaitFor(t, "the held connection to close", func() bool { return l.srv.OpenConnections() == 0 })
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }

// The sftp subsystem is a stream of the holder's like a command.
func TestHolderSubsystem(t *testing.T) {
	l := newLab(t)
	l.serve(t)
	c := l.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, r, closeFn, err := c.Subsystem(ctx, l.target, "sftp")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sftp.NewClientPipe(r, w)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	f, err := cl.Create("held.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(big); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := os.ReadFile(filepath.Join(l.srv.Dir(), "held.txt")); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("written through the holder: %d bytes, %v", len(b), err)
	}
	cl.Close()
	closeFn()
	if out, _, e := runCmd(t, c, l.target, "echo after", ""); out != "after\n" || e.Code != 0 || l.srv.Connections() != 1 {
		t.Fatalf("a command after sftp: %q %+v, %d connections", out, e, l.srv.Connections())
	}
}

// Each held connection expires on its own persist time; Drop closes one
// host's connections and leaves the others; the holder outlives neither
// rule's connections while a run is connected.
func TestHolderPerHostExpiryAndDrop(t *testing.T) {
	old := expireEvery
	expireEvery = 20 * time.Millisecond
	t.Cleanup(func() { expireEvery = old })
	a, b, c3 := newLab(t), newLab(t), newLab(t)
	b.dir, c3.dir = a.dir, a.dir
	a.serve(t)
	c := a.connect(t)
	a.target.Persist = 100 * time.Millisecond
	b.target.Host.Alias, c3.target.Host.Alias = "hb", "hc"
	for _, l := range []*lab{a, b, c3} {
		if out, _, e := runCmd(t, c, l.target, "echo up", ""); out != "up\n" || e.Code != 0 {
			t.Fatalf("%q %+v", out, e)
		}
	}
	testkit.WaitFor(t, "the 100ms host's connection to expire", func() bool { return a.srv.OpenConnections() == 0 })
	if b.srv.OpenConnections() != 1 || c3.srv.OpenConnections() != 1 {
		t.Fatal("an hour's connections closed with the 100ms one")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := c.Drop(ctx, b.target.Host.Alias)
	if err != nil || len(got) != 1 {
		t.Fatalf("Drop: %v %v", got, err)
	}
	testkit.WaitFor(t, "the dropped connection to close", func() bool { return b.srv.OpenConnections() == 0 })
	if c3.srv.OpenConnections() != 1 {
		t.Fatal("Drop of one host closed another's")
	}
	if got, err := c.Drop(ctx, b.target.Host.Alias); err != nil || len(got) != 0 {
		t.Fatalf("Drop again: %v %v", got, err)
	}
}

// An idle holder gives its free memory back to the system, once per idle
// spell: after its connections were used, not while they sit.
func TestHolderReleasesMemoryWhenIdle(t *testing.T) {
	oldEvery, oldAfter := expireEvery, releaseAfter
	expireEvery, releaseAfter = 20*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { expireEvery, releaseAfter = oldEvery, oldAfter })
	l := newLab(t)
	ln, lock, _, err := Listen(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	var mu sync.Mutex
	released := 0
	s := &Server{Linger: time.Hour, Logf: func(format string, args ...any) {
		if strings.Contains(format, "returned to the system") {
			mu.Lock()
			released++
			mu.Unlock()
		}
	}}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	defer func() { s.Stop(); <-done }()
	c := l.connect(t)
	count := func() int { mu.Lock(); defer mu.Unlock(); return released }
	for i := 1; i <= 2; i++ {
		if out, _, e := runCmd(t, c, l.target, "echo up", ""); out != "up\n" || e.Code != 0 {
			t.Fatalf("%q %+v", out, e)
		}
		testkit.WaitFor(t, fmt.Sprintf("idle spell %d's release", i), func() bool { return count() >= i })
		if n := count(); n != i {
			t.Fatalf("%d releases after %d idle spells", n, i)
		}
	}
}
