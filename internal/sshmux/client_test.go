//go:build unix

package sshmux

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeMaster is a master that follows a script, for the replies a real
// OpenSSH master gives only in odd states. It checks what the client
// sends, and writes "from the master\n" to the stdout it is passed.
type fakeMaster struct {
	version   uint32
	onSession func(c *net.UnixConn, id uint32) // after the descriptors came
	got       chan []byte                      // the new-session packet body
}

func readPacket(t *testing.T, c net.Conn) []byte {
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	io.ReadFull(c, b)
	return b
}

func (m *fakeMaster) serve(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mux")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if m.version == 0 {
		m.version = Version
	}
	m.got = make(chan []byte, 8)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go m.conn(t, nc.(*net.UnixConn))
		}
	}()
	return path
}

func (m *fakeMaster) conn(t *testing.T, c *net.UnixConn) {
	defer c.Close()
	c.Write(packet(builder(nil).u32(msgHello).u32(m.version).str("info").str("0")))
	if !bytes.Equal(readPacket(t, c), helloMsg()[4:]) {
		return
	}
	for {
		b := readPacket(t, c)
		if b == nil {
			return
		}
		p := &parser{b: b}
		typ, id := p.u32(), p.u32()
		switch typ {
		case msgAliveCheck:
			c.Write(packet(builder(nil).u32(msgAlive).u32(id).u32(4242)))
		case msgNewSession:
			m.got <- b
			var fds []int
			for range 3 {
				oob := make([]byte, syscall.CmsgSpace(4))
				_, oobn, _, _, err := c.ReadMsgUnix(make([]byte, 1), oob)
				if err != nil {
					return
				}
				msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
				rights, _ := syscall.ParseUnixRights(&msgs[0])
				fds = append(fds, rights...)
			}
			out := os.NewFile(uintptr(fds[1]), "stdout")
			out.WriteString("from the master\n")
			for _, fd := range fds {
				syscall.Close(fd)
			}
			m.onSession(c, id)
			return
		}
	}
}

func pipes(t *testing.T) (in, out, errw, outr *os.File) {
	t.Helper()
	inr, inw, _ := os.Pipe()
	or, ow, _ := os.Pipe()
	er, ew, _ := os.Pipe()
	t.Cleanup(func() {
		for _, f := range []*os.File{inr, inw, or, ow, er, ew} {
			f.Close()
		}
	})
	return inr, ow, ew, or
}

func dialFake(t *testing.T, m *fakeMaster) *Client {
	t.Helper()
	c, err := Dial(context.Background(), m.serve(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.PID != 4242 {
		t.Fatalf("pid %d", c.PID)
	}
	return c
}

// A session: the request the master receives, the descriptors it can
// write to, the session id, the exit status, a TTY allocation failure.
func TestFakeMasterSession(t *testing.T) {
	m := &fakeMaster{onSession: func(c *net.UnixConn, id uint32) {
		c.Write(packet(builder(nil).u32(msgSessionOpened).u32(id).u32(9)))
		c.Write(packet(builder(nil).u32(msgTTYAllocFail).u32(9)))
		c.Write(packet(builder(nil).u32(msgExitMessage).u32(9).u32(3)))
	}}
	c := dialFake(t, m)
	in, out, errw, outr := pipes(t)
	req := SessionRequest{Command: "echo hi", TTY: true, Term: "xterm"}
	s, err := c.NewSession(context.Background(), req, in, out, errw)
	if err != nil {
		t.Fatal(err)
	}
	out.Close()
	if got := <-m.got; !bytes.Equal(got, newSessionMsg(1, req)[4:]) {
		t.Fatalf("the master got % x", got)
	}
	if s.ID != 9 {
		t.Fatalf("session id %d", s.ID)
	}
	code, err := s.Wait()
	if code != 3 || err != nil || !s.TTYFailed() {
		t.Fatalf("wait: %d %v, tty failed %v", code, err, s.TTYFailed())
	}
	if b, _ := io.ReadAll(outr); string(b) != "from the master\n" {
		t.Fatalf("stdout %q", b)
	}
}

// Every way a session can fail has its typed error.
func TestFakeMasterErrors(t *testing.T) {
	tests := []struct {
		name      string
		onSession func(c *net.UnixConn, id uint32)
		open      func(error) bool
		wait      func(int, error) bool
	}{
		{"failure", func(c *net.UnixConn, id uint32) {
			c.Write(packet(builder(nil).u32(msgFailure).u32(id).str("Session open refused by peer")))
		}, func(err error) bool {
			var re *RefusedError
			return errors.As(err, &re) && !re.Denied && strings.Contains(err.Error(), "Session open refused by peer")
		}, nil},
		{"denied", func(c *net.UnixConn, id uint32) {
			c.Write(packet(builder(nil).u32(msgPermissionDenied).u32(id).str("Permission denied")))
		}, func(err error) bool {
			var re *RefusedError
			return errors.As(err, &re) && re.Denied
		}, nil},
		{"closed before opening", func(c *net.UnixConn, id uint32) {}, func(err error) bool { return errors.Is(err, ErrClosed) }, nil},
		{"wrong request id", func(c *net.UnixConn, id uint32) {
			c.Write(packet(builder(nil).u32(msgSessionOpened).u32(id + 1).u32(9)))
		}, func(err error) bool { return errors.As(err, new(*ProtocolError)) }, nil},
		{"no exit message", func(c *net.UnixConn, id uint32) {
			c.Write(packet(builder(nil).u32(msgSessionOpened).u32(id).u32(9)))
		}, nil, func(code int, err error) bool { return code == -1 && errors.Is(err, ErrNoExitStatus) }},
		{"two exit messages", func(c *net.UnixConn, id uint32) {
			c.Write(packet(builder(nil).u32(msgSessionOpened).u32(id).u32(9)))
			c.Write(packet(builder(nil).u32(msgExitMessage).u32(9).u32(0)))
			c.Write(packet(builder(nil).u32(msgExitMessage).u32(9).u32(1)))
		}, nil, func(code int, err error) bool { return errors.As(err, new(*ProtocolError)) }},
		{"exit of another session", func(c *net.UnixConn, id uint32) {
			c.Write(packet(builder(nil).u32(msgSessionOpened).u32(id).u32(9)))
			c.Write(packet(builder(nil).u32(msgExitMessage).u32(8).u32(0)))
		}, nil, func(code int, err error) bool { return errors.As(err, new(*ProtocolError)) }},
		{"oversized packet", func(c *net.UnixConn, id uint32) {
			c.Write(packet(builder(nil).u32(msgSessionOpened).u32(id).u32(9)))
			c.Write(binary.BigEndian.AppendUint32(nil, maxPacket+1))
		}, nil, func(code int, err error) bool { return errors.As(err, new(*ProtocolError)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFake(t, &fakeMaster{onSession: tt.onSession})
			in, out, errw, _ := pipes(t)
			s, err := c.NewSession(context.Background(), SessionRequest{Command: "true"}, in, out, errw)
			if tt.open != nil {
				if s != nil || !tt.open(err) {
					t.Fatalf("NewSession: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if code, err := s.Wait(); !tt.wait(code, err) {
				t.Fatalf("Wait: %d %v", code, err)
			}
		})
	}
}

// A master of another protocol version is refused at the hello; a
// context that ends interrupts the exchange.
func TestFakeMasterVersionAndContext(t *testing.T) {
	path := (&fakeMaster{version: 5}).serve(t)
	_, err := Dial(context.Background(), path)
	if !errors.As(err, new(*ProtocolError)) || !strings.Contains(err.Error(), "version 5") {
		t.Fatalf("version 5: %v", err)
	}

	// A listener that accepts and never answers: the context's end ends
	// the wait.
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, "mute"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Dial(ctx, filepath.Join(dir, "mute")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("mute master: %v", err)
	}
}

// CheckSocket takes only a socket of this user's.
func TestCheckSocket(t *testing.T) {
	dir := t.TempDir()
	if err := CheckSocket(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	var ue *UntrustedError
	if err := CheckSocket(file); !errors.As(err, &ue) || !strings.Contains(err.Error(), file+": not a socket") {
		t.Fatalf("file: %v", err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := CheckSocket(sock); err != nil {
		t.Fatalf("own socket: %v", err)
	}
	if os.Getuid() != 0 {
		return // only root can give a socket to someone else
	}
	if err := os.Chown(sock, 65534, -1); err != nil {
		t.Fatal(err)
	}
	if err := CheckSocket(sock); !errors.As(err, &ue) || !strings.Contains(err.Error(), "owned by uid 65534, not by you (uid 0)") {
		t.Fatalf("another user's socket: %v", err)
	}
}

// A socket of ours with a master running as another user behind it (its
// file handed to us by root) is refused: the kernel says who listens.
func TestDialRefusesAnotherUsersMaster(t *testing.T) {
	if os.Getenv("SSHMUX_LISTEN") != "" {
		return // the helper below, in its child
	}
	if os.Getuid() != 0 || !peerSupported {
		t.Skip("needs root (to run a listener as another user) and peer credentials")
	}
	dir, err := os.MkdirTemp("", "sshmux-other-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777) // the other user binds its socket in it
	bin := filepath.Join(dir, "sshmux.test")
	if b, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatalf("copying the test binary: %v", err)
	}
	sock := filepath.Join(dir, "other.sock")
	cmd := exec.Command(bin, "-test.run=^TestHelperListener$")
	cmd.Env = append(os.Environ(), "SSHMUX_LISTEN="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "listening\n" {
		t.Fatalf("helper: %q", line)
	}
	if err := os.Chown(sock, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := CheckSocket(sock); err != nil {
		t.Fatalf("the socket file is ours now: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = Dial(ctx, sock) // the helper never answers an alive check
	var ue *UntrustedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "its master runs as uid 65534, not as you (uid 0)") {
		t.Fatalf("Dial: %v", err)
	}
}

// TestHelperListener is TestDialRefusesAnotherUsersMaster's listener,
// run as another user.
func TestHelperListener(t *testing.T) {
	path := os.Getenv("SSHMUX_LISTEN")
	if path == "" {
		t.Skip("a helper process")
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write(packet(builder(nil).u32(msgHello).u32(Version)))
	}
}
