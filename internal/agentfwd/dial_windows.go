//go:build windows

package agentfwd

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/Microsoft/go-winio"
	"github.com/davidmz/go-pageant"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/sys/windows"
)

// OpenSSHPipe is the named pipe of the OpenSSH for Windows agent service
// (ssh-agent), which its ssh uses when SSH_AUTH_SOCK is unset.
const OpenSSHPipe = `\\.\pipe\openssh-ssh-agent`

// Pageant is the agent name that stands for PuTTY's Pageant, found by its
// window (SSH_AUTH_SOCK=pageant, IdentityAgent pageant).
const Pageant = "pageant"

const noAgent = "SSH_AUTH_SOCK is not set, the OpenSSH agent service is not running and Pageant is not running"

func defaultSocket() string {
	if s := os.Getenv("SSH_AUTH_SOCK"); s != "" {
		return s
	}
	if pipeExists(OpenSSHPipe) {
		return OpenSSHPipe
	}
	if pageant.Available() {
		return Pageant
	}
	return ""
}

// procWaitNamedPipe is WaitNamedPipeW, which x/sys/windows does not have.
var procWaitNamedPipe = windows.NewLazySystemDLL("kernel32.dll").NewProc("WaitNamedPipeW")

// pipeExists reports whether a server listens on the named pipe, without
// connecting to it: WaitNamedPipe finds an instance free, or times out
// waiting for a busy one.
func pipeExists(name string) bool {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return false
	}
	ok, _, err := procWaitNamedPipe.Call(uintptr(unsafe.Pointer(p)), 1)
	return ok != 0 || errors.Is(err, windows.ERROR_SEM_TIMEOUT)
}

// pipeName returns the named pipe socket names, in the form Windows
// takes: \\.\pipe\NAME, given so, as //./pipe/NAME, or as \.\pipe\NAME
// (what ssh_config's unquoting leaves of \\.\pipe\NAME written unquoted).
func pipeName(socket string) (string, bool) {
	s := strings.ReplaceAll(socket, `\`, "/")
	for _, prefix := range []string{"//./pipe/", "/./pipe/"} {
		if len(s) > len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
			return `\\.\pipe\` + socket[len(prefix):], true
		}
	}
	return "", false
}

func dialSystem(ctx context.Context, socket string) (net.Conn, agent.ExtendedAgent, error) {
	if strings.EqualFold(socket, Pageant) {
		if !pageant.Available() {
			return nil, nil, errors.New("Pageant is not running")
		}
		ag, ok := pageant.New().(agent.ExtendedAgent)
		if !ok {
			return nil, nil, errors.New("the Pageant client is not an extended agent")
		}
		return pageantConn{}, ag, nil
	}
	if name, ok := pipeName(socket); ok {
		nc, err := winio.DialPipeContext(ctx, name)
		return nc, nil, err
	}
	// Windows 10 has Unix sockets too (not those of Cygwin or MSYS2, which
	// are files of another kind).
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	return nc, nil, err
}

// pageantConn stands in for the connection to Pageant, which is a window
// message per request: there is nothing to read, write or close, and the
// requests are bounded by the Pageant client's own timeout.
type pageantConn struct{}

var errPageantIO = errors.New("agentfwd: Pageant is not a stream")

func (pageantConn) Read([]byte) (int, error)         { return 0, errPageantIO }
func (pageantConn) Write([]byte) (int, error)        { return 0, errPageantIO }
func (pageantConn) Close() error                     { return nil }
func (pageantConn) LocalAddr() net.Addr              { return pageantAddr{} }
func (pageantConn) RemoteAddr() net.Addr             { return pageantAddr{} }
func (pageantConn) SetDeadline(time.Time) error      { return nil }
func (pageantConn) SetReadDeadline(time.Time) error  { return nil }
func (pageantConn) SetWriteDeadline(time.Time) error { return nil }

type pageantAddr struct{}

func (pageantAddr) Network() string { return "pageant" }
func (pageantAddr) String() string  { return Pageant }
