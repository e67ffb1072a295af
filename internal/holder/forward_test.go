//go:build unix

package holder

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/testkit"
	"github.com/loomssh/loom/loomtest"
)

// sshdLab is a real sshd and a holder in this process.
type sshdLab struct {
	srv    *sshdtest.Server
	target Target
	dir    string
	s      *Server
}

func newSSHDLab(t *testing.T, o sshdtest.Options) *sshdLab {
	t.Helper()
	srv := sshdtest.Start(t, o)
	cfgFile := filepath.Join(t.TempDir(), "ssh_config")
	srv.WriteSSHConfig(cfgFile, "web1")
	cfg, err := sshconfig.Load("", sshconfig.Files("", cfgFile)...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := cfg.Resolve("web1", sshconfig.Options{Set: []string{"IdentityAgent=none"}})
	if err != nil {
		t.Fatal(err)
	}
	l := &sshdLab{srv: srv, target: Target{Host: h, Persist: time.Hour}, dir: filepath.Join(t.TempDir(), "holder")}
	l.s = serveIn(t, l.dir)
	return l
}

func (l *sshdLab) connect(t *testing.T) *Client { return connectTo(t, l.dir) }

// keyring is an agent holding one fresh key under comment, and how many
// agent channels reached it.
func keyring(t *testing.T, comment string) (agent.Agent, *atomic.Int32) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv, Comment: comment}); err != nil {
		t.Fatal(err)
	}
	return kr, new(atomic.Int32)
}

// serveKeyring registers kr as c's agent, counting its channels.
func serveKeyring(c *Client, kr agent.Agent, n *atomic.Int32) uint32 {
	return c.ServeAgent(func(rw io.ReadWriteCloser) {
		n.Add(1)
		agent.ServeAgent(kr, rw)
		rw.Close()
	})
}

func needSSHAdd(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ssh-add"); err != nil {
		t.Skip("ssh-add not installed")
	}
}

// A run's agent reaches the host through the holder; a run that does not
// forward gets a connection of its own without SSH_AUTH_SOCK; and once the
// forwarding run is gone, the host's agent socket on the held connection
// leads nowhere: the holder never keeps an agent between runs (real sshd).
func TestHolderAgentRelay(t *testing.T) {
	needSSHAdd(t)
	l := newSSHDLab(t, sshdtest.Options{AgentForwarding: true})
	a := l.connect(t)
	kr, served := keyring(t, "run-a@laptop")
	ta := l.target
	ta.Agent = serveKeyring(a, kr, served)
	out, errs, e := runCmd(t, a, ta, `ssh-add -l; echo "sock=$SSH_AUTH_SOCK"`, "")
	if !strings.Contains(out, "run-a@laptop") || e.Code != 0 {
		t.Fatalf("ssh-add -l through the holder: %q %q %+v", out, errs, e)
	}
	sock := out[strings.Index(out, "sock=")+5 : len(out)-1]
	if sock == "" || served.Load() == 0 {
		t.Fatalf("no agent socket (%q) or no channel served (%d)", sock, served.Load())
	}

	b := l.connect(t)
	out, _, _ = runCmd(t, b, l.target, `echo "[$SSH_AUTH_SOCK]"`, "")
	if out != "[]\n" {
		t.Fatalf("a run that does not forward sees SSH_AUTH_SOCK %s", out)
	}
	if n := l.srv.Connections(); n != 2 {
		t.Fatalf("%d connections, want 2: forwarding connections are held apart", n)
	}

	// The forwarding run goes away; its agent is not reachable any more,
	// even through the socket sshd keeps for the held connection.
	a.Close()
	testkit.WaitFor(t, "the holder to see run a go", func() bool { return l.s.Runs() == 1 })
	before := served.Load()
	out, errs, e = runCmd(t, b, l.target, "SSH_AUTH_SOCK="+sock+" ssh-add -l", "")
	if e.Code == 0 || strings.Contains(out, "run-a@laptop") {
		t.Fatalf("the agent socket of a run gone answered: %q %q %+v", out, errs, e)
	}
	if served.Load() != before {
		t.Fatal("an agent channel reached a run that went away")
	}

	// The next run that forwards takes the held connection (no new
	// login) and gets its own agent on it, not a's.
	c := l.connect(t)
	kr2, served2 := keyring(t, "run-c@laptop")
	tc := l.target
	tc.Agent = serveKeyring(c, kr2, served2)
	out, _, _ = runCmd(t, c, tc, "ssh-add -l", "")
	if !strings.Contains(out, "run-c@laptop") || strings.Contains(out, "run-a@laptop") {
		t.Fatalf("the next forwarding run: %q", out)
	}
	if n := l.srv.Connections(); n != 2 {
		t.Fatalf("%d connections, want the 2 held", n)
	}
}

// Two runs forwarding to one host at the same time never get each other's
// agent: the second gets a connection of its own, closed when it goes
// (real sshd).
func TestHolderAgentTwoRunsAtOnce(t *testing.T) {
	needSSHAdd(t)
	l := newSSHDLab(t, sshdtest.Options{AgentForwarding: true})
	a, b := l.connect(t), l.connect(t)
	kra, na := keyring(t, "run-a@laptop")
	krb, nb := keyring(t, "run-b@laptop")
	ta, tb := l.target, l.target
	ta.Agent = serveKeyring(a, kra, na)
	tb.Agent = serveKeyring(b, krb, nb)
	for range 3 {
		outs := make(chan string, 2)
		go func() { o, _, _ := runCmd(t, a, ta, "ssh-add -l", ""); outs <- "a " + o }()
		go func() { o, _, _ := runCmd(t, b, tb, "ssh-add -l", ""); outs <- "b " + o }()
		for range 2 {
			o := <-outs
			mine, other := "run-a@laptop", "run-b@laptop"
			if o[0] == 'b' {
				mine, other = other, mine
			}
			if !strings.Contains(o, mine) || strings.Contains(o, other) {
				t.Fatalf("run %c sees %q", o[0], o[2:])
			}
		}
	}
	if n := l.srv.Connections(); n != 2 {
		t.Fatalf("%d connections, want 2 (one held, one for the second run alone)", n)
	}
}

// echoLine sends msg on a connection to addr and returns the answer.
func echoLine(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	defer c.Close()
	io.WriteString(c, msg+"\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read through the tunnel: %v", err)
	}
	return strings.TrimSpace(line)
}

// A TCP connection through a held connection (direct-tcpip, ssh -L) and a
// listener on the host (tcpip-forward, ssh -R) are relayed by the holder;
// a run that goes away without closing its listener has it cancelled on
// the host, so the next run binds the same port (real sshd).
func TestHolderTunnels(t *testing.T) {
	l := newSSHDLab(t, sshdtest.Options{})
	echo := testkit.EchoServer(t)
	a := l.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 3 {
		c, err := a.DialTCP(ctx, l.target, echo)
		if err != nil {
			t.Fatal(err)
		}
		if got := echoLine(t, c, "ping"+string(rune('0'+i))); got != "echo: ping"+string(rune('0'+i)) {
			t.Fatalf("through direct-tcpip: %q", got)
		}
	}
	// Many bytes both ways at once, through the relay's windows: what
	// goes in comes back, in order.
	c, err := a.DialTCP(ctx, l.target, testkit.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		// Sends back what it reads, and closes its side at EOF.
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	}))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 6<<20)
	rand.Read(big)
	back := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(c); back <- b }()
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if got := <-back; !bytes.Equal(got, big) {
		t.Fatalf("%d bytes back of %d sent through direct-tcpip", len(got), len(big))
	}
	c.Close()

	if _, err := a.DialTCP(ctx, l.target, testkit.RefusedAddr(t)); err == nil {
		t.Fatal("a connection to a closed port through the host succeeded")
	}

	ln, err := a.ListenTCP(ctx, l.target, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("listener address %s: no port", addr)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // answer as the run's local service would
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, "run a: "+line)
			}()
		}
	}()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := echoLine(t, nc, "hello"); got != "run a: hello" {
		t.Fatalf("through the remote listener: %q", got)
	}

	a.Close() // killed: its listener is cancelled by the holder
	b := l.connect(t)
	var ln2 net.Listener
	testkit.WaitFor(t, "the next run to bind "+addr, func() bool {
		ln2, err = b.ListenTCP(ctx, l.target, addr)
		return err == nil
	})
	// Closing a listener cancels it on the host: the port is free again.
	ln2.Close()
	testkit.WaitFor(t, "the port to be free after Close", func() bool {
		ln2, err = b.ListenTCP(ctx, l.target, addr)
		return err == nil
	})
	ln2.Close()
	if n := l.srv.Connections(); n != 1 {
		t.Fatalf("%d connections, want 1 held", n)
	}
}

// A host that opens an agent channel on its own (loomtest's ProbeAgent,
// as a hostile server would) reaches no agent through a held connection
// that does not forward; on one a run forwards on, it reaches that run's
// agent only.
func TestHolderAgentProbe(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	srv := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}, ProbeAgent: true})
	l := newLab(t)
	tmp := t.TempDir()
	key := filepath.Join(tmp, "id")
	block, _ := ssh.MarshalPrivateKey(priv, "")
	os.WriteFile(key, pemEncode(block), 0o600)
	kh := filepath.Join(tmp, "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", srv.Host(), srv.Port())}, srv.HostKey())+"\n"), 0o600)
	cfg, _ := sshconfig.Load("")
	h, err := cfg.Resolve(srv.Addr(), sshconfig.Options{IdentityFiles: []string{key}, Set: []string{"UserKnownHostsFile=" + kh, "IdentitiesOnly=yes", "IdentityAgent=none", "BatchMode=yes"}})
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Host: h, Persist: time.Hour}
	l.serve(t)

	a := l.connect(t)
	if out, _, e := runCmd(t, a, target, "echo plain", ""); out != "plain\n" || e.Code != 0 {
		t.Fatalf("%q %+v", out, e)
	}
	testkit.WaitFor(t, "the host's agent probe", func() bool { p, _ := srv.AgentProbes(); return p >= 1 })
	if _, accepted := srv.AgentProbes(); accepted != 0 {
		t.Fatal("a held connection that does not forward accepted the host's agent channel")
	}

	b := l.connect(t)
	kr, served := keyring(t, "run-b@laptop")
	tb := target
	tb.Agent = serveKeyring(b, kr, served)
	if out, _, e := runCmd(t, b, tb, "echo forwarding", ""); out != "forwarding\n" || e.Code != 0 {
		t.Fatalf("%q %+v", out, e)
	}
	testkit.WaitFor(t, "the host's probe of the forwarding connection", func() bool { p, _ := srv.AgentProbes(); return p >= 2 })
	if _, accepted := srv.AgentProbes(); accepted != 1 {
		t.Fatalf("%d probes accepted, want 1: the forwarding run's", accepted)
	}
	testkit.WaitFor(t, "the probe to reach run b's agent", func() bool { return served.Load() == 1 })
}
