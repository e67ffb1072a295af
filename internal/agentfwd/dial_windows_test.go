//go:build windows

package agentfwd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/sys/windows"
)

// servePipe serves ag on a named pipe of the test's own, as the OpenSSH
// for Windows agent does on \\.\pipe\openssh-ssh-agent, and returns its
// name.
func servePipe(t *testing.T, ag agent.Agent) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	name := `\\.\pipe\loom-agentfwd-test-` + hex.EncodeToString(b[:])
	ln, err := listenPipe(name)
	if err != nil {
		t.Fatalf("listening on %s: %v", name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(ag, c)
			}()
		}
	}()
	return name
}

// pipeListener is a named pipe server of plain blocking calls (one OS
// thread per waiting instance is fine in a test).
type pipeListener struct {
	name      string
	mu        sync.Mutex
	closed    bool
	accepting bool           // an Accept waits on next
	next      windows.Handle // the instance waiting for a client
}

// listenPipe makes the first instance of the pipe name, so that it exists
// once listenPipe returns.
func listenPipe(name string) (*pipeListener, error) {
	l := &pipeListener{name: name}
	h, err := l.instance(true)
	if err != nil {
		return nil, err
	}
	l.next = h
	return l, nil
}

func (l *pipeListener) instance(first bool) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(l.name)
	if err != nil {
		return 0, err
	}
	mode := uint32(windows.PIPE_ACCESS_DUPLEX)
	if first {
		mode |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
	}
	return windows.CreateNamedPipe(p, mode, windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT,
		windows.PIPE_UNLIMITED_INSTANCES, 64<<10, 64<<10, 0, nil)
}

// Accept waits for a client on the waiting instance and makes the next.
func (l *pipeListener) Accept() (io.ReadWriteCloser, error) {
	l.mu.Lock()
	h := l.next
	if l.closed || h == windows.InvalidHandle {
		l.mu.Unlock()
		return nil, net.ErrClosed
	}
	l.accepting = true
	l.mu.Unlock()
	err := windows.ConnectNamedPipe(h, nil)
	if err != nil && !errors.Is(err, windows.ERROR_PIPE_CONNECTED) {
		l.mu.Lock()
		l.accepting = false
		l.next = windows.InvalidHandle
		l.mu.Unlock()
		windows.CloseHandle(h)
		return nil, err
	}
	next, err := l.instance(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepting = false
	if err != nil {
		l.next = windows.InvalidHandle
	} else {
		l.next = next
	}
	if l.closed {
		windows.CloseHandle(h)
		if err == nil {
			windows.CloseHandle(next)
		}
		return nil, net.ErrClosed
	}
	if err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	return os.NewFile(uintptr(h), l.name), nil
}

// Close stops listening. The waiting instance is closed; when an Accept
// waits on it, it is connected to once instead, to end that Accept, which
// closes it. Either way the pipe is gone once its clients are.
func (l *pipeListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	accepting, h := l.accepting, l.next
	l.mu.Unlock()
	if !accepting {
		if h == windows.InvalidHandle {
			return nil
		}
		return windows.CloseHandle(h)
	}
	if p, err := windows.UTF16PtrFromString(l.name); err == nil {
		if h, err := windows.CreateFile(p, windows.GENERIC_READ, 0, nil, windows.OPEN_EXISTING, 0, 0); err == nil {
			windows.CloseHandle(h)
		}
	}
	return nil
}

// TestDialNamedPipe: an agent on a named pipe is reached by its name, in
// each form ssh_config may give it.
func TestDialNamedPipe(t *testing.T) {
	k := newKey(t, "pipe-key")
	name := servePipe(t, keyring(t, k))
	tail := strings.TrimPrefix(name, `\\.\pipe\`)
	for _, sock := range []string{name, "//./pipe/" + tail, `\.\pipe\` + tail, `\\.\PIPE\` + tail} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ag, nc, err := Dial(ctx, sock)
		cancel()
		if err != nil {
			t.Errorf("dial %s: %v", sock, err)
			continue
		}
		keys, err := ag.List()
		nc.Close()
		if err != nil || len(keys) != 1 || keys[0].Comment != "pipe-key" {
			t.Errorf("%s: list: %v %v", sock, keys, err)
		}
	}
}

// TestForwardThroughNamedPipe: the filtering agent lists and signs through
// an Upstream on a named pipe.
func TestForwardThroughNamedPipe(t *testing.T) {
	k := newKey(t, "pipe-key")
	up := NewUpstream(servePipe(t, keyring(t, k)), 2)
	defer up.Close()
	listAndSign(t, up, k)
}

// TestDialMissingPipe: a pipe nobody serves is an error naming it, at once.
func TestDialMissingPipe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := Dial(ctx, `\\.\pipe\loom-agentfwd-test-nobody`)
	if err == nil {
		t.Fatal("no error")
	}
	var ne net.Error
	if !strings.Contains(err.Error(), "loom-agentfwd-test-nobody") && !errors.As(err, &ne) {
		t.Errorf("error does not name the pipe: %v", err)
	}
}

// TestDefaultSocketEnv: SSH_AUTH_SOCK wins, as for OpenSSH for Windows.
func TestDefaultSocketEnv(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", `\\.\pipe\mine`)
	if got := DefaultSocket(); got != `\\.\pipe\mine` {
		t.Errorf("DefaultSocket() = %q", got)
	}
}

// TestDefaultSocketPipe: with SSH_AUTH_SOCK unset, the OpenSSH agent's
// pipe when it is served.
func TestDefaultSocketPipe(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	if pipeExists(OpenSSHPipe) {
		t.Skip("an OpenSSH agent is running on this machine")
	}
	if got := DefaultSocket(); got == OpenSSHPipe {
		t.Fatalf("DefaultSocket() = %q with no agent serving it", got)
	}
	ln, err := listenPipe(OpenSSHPipe)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := DefaultSocket(); got != OpenSSHPipe {
		t.Errorf("DefaultSocket() = %q, want %q", got, OpenSSHPipe)
	}
	// Gone once closed, or the tests after this one find an OpenSSH agent.
	ln.Close()
	if pipeExists(OpenSSHPipe) {
		t.Errorf("%s still exists after its listener closed", OpenSSHPipe)
	}
}

// listAndSign checks that an agent on up lists exactly k and signs with it.
func listAndSign(t *testing.T, up *Upstream, k testKey) {
	t.Helper()
	a := New(up, "web1", Policy{}, nil)
	keys, err := a.List()
	if err != nil || len(keys) != 1 {
		t.Fatalf("list: %v %v", keys, err)
	}
	sig, err := a.Sign(k.pub, []byte("data"))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if err := k.pub.Verify([]byte("data"), sig); err != nil {
		t.Fatalf("verify: %v", err)
	}
}
