//go:build unix

package sshmux

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/loomssh/loom/internal/peercred"
)

// Supported reports whether this system has the client: Unix systems.
const Supported = true

// UntrustedError is a ControlPath that is not a socket of this user's:
// it is not used (a socket of another user's could be anyone's master).
type UntrustedError struct {
	Path   string
	Reason string
}

func (e *UntrustedError) Error() string { return e.Path + ": " + e.Reason }

// CheckSocket reports whether path is a socket owned by this process's
// user (following symbolic links: the socket itself must be ours). A
// missing path is an error wrapping fs.ErrNotExist; anything else that
// is not our socket is an *UntrustedError.
func CheckSocket(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return &UntrustedError{path, "not a socket"}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return &UntrustedError{path, "cannot tell its owner"}
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return &UntrustedError{path, fmt.Sprintf("owned by uid %d, not by you (uid %d)", st.Uid, uid)}
	}
	return nil
}

// Client is one control connection to a master, after the hello
// exchange and an alive check. A master runs one session per control
// connection: NewSession turns the Client into that session.
type Client struct {
	// PID is the master's process id, from its alive reply.
	PID int

	conn *net.UnixConn
	r    *bufio.Reader
	next uint32 // the next request id
}

// Dial connects to the master listening at path, exchanges hellos and
// checks that it is alive. ctx bounds all of it. A master running as
// another user (the kernel's peer credentials, on Linux and macOS) is an
// *UntrustedError.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: nc.(*net.UnixConn), r: bufio.NewReader(nc)}
	if uid, _, err := peercred.Of(c.conn); err == nil && uid != os.Getuid() {
		nc.Close()
		return nil, &UntrustedError{path, fmt.Sprintf("its master runs as uid %d, not as you (uid %d)", uid, os.Getuid())}
	}
	err = c.during(ctx, func() error {
		if _, err := c.conn.Write(helloMsg()); err != nil {
			return err
		}
		r, err := c.read()
		if err != nil {
			return err
		}
		if r.typ != msgHello {
			return &ProtocolError{fmt.Sprintf("the master's first message is %#08x, not a hello", r.typ)}
		}
		if r.val != Version {
			return &ProtocolError{fmt.Sprintf("the master speaks version %d, this client %d", r.val, Version)}
		}
		id := c.id()
		if _, err := c.conn.Write(aliveCheckMsg(id)); err != nil {
			return err
		}
		if r, err = c.reply(id); err != nil {
			return err
		}
		if r.typ != msgAlive {
			return r.refused(msgAlive, "the alive check")
		}
		c.PID = int(r.val)
		return nil
	})
	if err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the control connection (and so ends its session).
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) id() uint32 {
	id := c.next
	c.next++
	return id
}

// during runs fn with ctx's end interrupting the connection's reads and
// writes; it returns ctx's error when that is what ended fn.
func (c *Client) during(ctx context.Context, fn func() error) error {
	ended := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetDeadline(time.Unix(1, 0))
		close(ended)
	})
	err := fn()
	if !stop() {
		<-ended
		c.conn.SetDeadline(time.Time{})
		if err != nil {
			return ctx.Err()
		}
	}
	return err
}

// read reads one message. The end of the connection is ErrClosed.
func (c *Client) read() (reply, error) {
	var n [4]byte
	if _, err := io.ReadFull(c.r, n[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return reply{}, ErrClosed
		}
		return reply{}, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxPacket {
		return reply{}, &ProtocolError{fmt.Sprintf("a message of %d bytes (at most %d)", size, maxPacket)}
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c.r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return reply{}, ErrClosed
		}
		return reply{}, err
	}
	return parseReply(body)
}

// reply reads the reply to request id.
func (c *Client) reply(id uint32) (reply, error) {
	r, err := c.read()
	if err == nil && r.id != id {
		err = &ProtocolError{fmt.Sprintf("a reply to request %d, want %d", r.id, id)}
	}
	return r, err
}

// sendFile passes f's descriptor to the master: one byte of data with
// one descriptor, as the master reads them.
func (c *Client) sendFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	if err := rc.Control(func(fd uintptr) {
		_, _, werr = c.conn.WriteMsgUnix([]byte{0}, syscall.UnixRights(int(fd)), nil)
	}); err != nil {
		return err
	}
	return werr
}

// NewSession asks the master for a session running req, with stdin,
// stdout and stderr as its streams (the master gets its own copies of
// the descriptors: close these once NewSession returns). It returns
// once the master has opened the session's channel on its connection
// and sent the command. ctx bounds the wait for that.
func (c *Client) NewSession(ctx context.Context, req SessionRequest, stdin, stdout, stderr *os.File) (*Session, error) {
	var s *Session
	err := c.during(ctx, func() error {
		id := c.id()
		if _, err := c.conn.Write(newSessionMsg(id, req)); err != nil {
			return err
		}
		for _, f := range []*os.File{stdin, stdout, stderr} {
			if err := c.sendFile(f); err != nil {
				return fmt.Errorf("passing descriptors to the OpenSSH master: %w", err)
			}
		}
		r, err := c.reply(id)
		if err != nil {
			return err
		}
		if r.typ != msgSessionOpened {
			return r.refused(msgSessionOpened, "the new session")
		}
		s = &Session{c: c, ID: r.val}
		return nil
	})
	return s, err
}

// Session is a session running on the master.
type Session struct {
	// ID is the master's id for the session (its channel number).
	ID uint32

	c         *Client
	mu        sync.Mutex
	ttyFailed bool
}

// Wait waits for the session to end: the master closes the control
// connection once the session's channel is closed. It returns the exit
// status from the exit message, ErrNoExitStatus if none came, or the
// error that ended the connection (a protocol error, or Close).
func (s *Session) Wait() (int, error) {
	status, seen := 0, false
	for {
		r, err := s.c.read()
		switch {
		case errors.Is(err, ErrClosed):
			if !seen {
				return -1, ErrNoExitStatus
			}
			return status, nil
		case err != nil:
			return -1, err
		case r.typ == msgTTYAllocFail && r.id == s.ID:
			s.mu.Lock()
			s.ttyFailed = true
			s.mu.Unlock()
		case r.typ == msgExitMessage && r.id == s.ID && !seen:
			status, seen = int(r.val), true
		case r.typ == msgExitMessage && r.id == s.ID:
			return -1, &ProtocolError{"a second exit message"}
		case r.typ == msgFailure || r.typ == msgPermissionDenied:
			return -1, r.refused(msgExitMessage, "the session")
		default:
			return -1, &ProtocolError{fmt.Sprintf("unexpected message %#08x for session %d (id %d)", r.typ, s.ID, r.id)}
		}
	}
}

// TTYFailed reports whether the master said the remote pseudo-terminal
// could not be allocated (MUX_S_TTY_ALLOC_FAIL); the command then runs
// without one.
func (s *Session) TTYFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ttyFailed
}

// Close ends the session: it closes the control connection, and the
// master closes the session's channel (the protocol has no signals).
func (s *Session) Close() error { return s.c.Close() }
