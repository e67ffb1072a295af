package transport

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/loomssh/loom/internal/proctree"
)

// proxyKillGrace is how long a ProxyCommand has to exit after SIGHUP (what
// ssh(1) sends it) before it is killed.
const proxyKillGrace = 2 * time.Second

// proxyConn is an SSH transport over a ProxyCommand's stdin and stdout, as
// ssh(1) runs it: through the user's shell with "exec" in front. Closing it
// ends the command (and, on Unix, every process of its process group).
type proxyConn struct {
	line string
	cmd  *exec.Cmd
	r    *os.File // the command's stdout
	w    *os.File // the command's stdin

	exited  chan struct{} // closed when the command has exited
	drained chan struct{} // closed when its stderr has been read to the end too (or given up on)
	waitErr error         // its exit status, once exited

	mu     sync.Mutex
	hupped bool   // Loom sent it SIGHUP
	last   string // the last line it wrote to stderr

	closeOnce sync.Once
}

// proxyShell returns the shell ssh(1) runs a ProxyCommand with: $SHELL,
// else /bin/sh (sh.exe on Windows, as for local commands).
func proxyShell() string {
	if sh := os.Getenv("SHELL"); sh != "" {
		return sh
	}
	if c, err := proctree.Shell(""); err == nil {
		return c.Path
	}
	return "/bin/sh"
}

// startProxy starts line (tokens already expanded) as host's ProxyCommand.
// Each line the command writes to its stderr goes to stderr.
func startProxy(line string, stderr func(line string)) (*proxyConn, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := exec.Command(proxyShell(), "-c", "exec "+line)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	setProcessGroup(cmd)
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &proxyConn{line: line, cmd: cmd, r: outR, w: inW, exited: make(chan struct{}), drained: make(chan struct{})}
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(errR)
		sc.Buffer(make([]byte, 4096), 64<<10)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			if l == "" {
				continue
			}
			p.mu.Lock()
			p.last = l
			p.mu.Unlock()
			if stderr != nil {
				stderr(l)
			}
		}
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
		// Its stderr ends with it, unless a process it started holds it
		// open: then stop reading soon after.
		select {
		case <-stderrDone:
		case <-time.After(proxyKillGrace):
		}
		errR.Close()
		close(p.drained)
	}()
	return p, nil
}

// Read reads what the command writes to its stdout.
func (p *proxyConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// Write writes to the command's stdin.
func (p *proxyConn) Write(b []byte) (int, error) { return p.w.Write(b) }

// Close closes the command's stdin and stdout and ends it: SIGHUP, as ssh(1)
// sends, then SIGKILL if it has not exited within proxyKillGrace. It does
// not wait for the command to exit.
func (p *proxyConn) Close() error {
	p.closeOnce.Do(func() {
		p.w.Close()
		p.r.Close()
		select {
		case <-p.exited:
			return
		default:
		}
		p.mu.Lock()
		p.hupped = true
		p.mu.Unlock()
		hangup(p.cmd)
		go func() {
			select {
			case <-p.exited:
			case <-time.After(proxyKillGrace):
				kill(p.cmd)
			}
		}()
	})
	return nil
}

// exitError says why the transport ended when the command exited by itself
// (it is waited for a short while), for an error that names the command
// rather than a bare EOF; nil when it still runs or Loom's signal ended it.
func (p *proxyConn) exitError() error {
	select {
	case <-p.exited:
	case <-time.After(proxyKillGrace):
		return nil
	}
	<-p.drained // its last stderr line is read (at most proxyKillGrace later)
	p.mu.Lock()
	hupped, last := p.hupped, p.last
	p.mu.Unlock()
	st := p.cmd.ProcessState
	if st == nil || (hupped && !st.Exited()) {
		return nil
	}
	status := "exited with status 0"
	if !st.Success() {
		status = "ended (" + st.String() + ")"
	}
	msg := fmt.Sprintf("ProxyCommand %q %s before the SSH handshake finished", p.line, status)
	if last != "" {
		msg += ": " + last
	}
	return errors.New(msg)
}

// LocalAddr and RemoteAddr say "ProxyCommand": the transport has no
// network address.
func (p *proxyConn) LocalAddr() net.Addr  { return proxyAddr("ProxyCommand") }
func (p *proxyConn) RemoteAddr() net.Addr { return proxyAddr("ProxyCommand") }

// SetDeadline sets the read and write deadlines (the handshake deadline).
func (p *proxyConn) SetDeadline(t time.Time) error {
	return errors.Join(p.r.SetReadDeadline(t), p.w.SetWriteDeadline(t))
}

// SetReadDeadline sets the deadline of reads from the command's stdout.
func (p *proxyConn) SetReadDeadline(t time.Time) error { return p.r.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of writes to the command's stdin.
func (p *proxyConn) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }

// proxyAddr is the net.Addr of a ProxyCommand transport.
type proxyAddr string

func (a proxyAddr) Network() string { return "proxycommand" }
func (a proxyAddr) String() string  { return string(a) }
