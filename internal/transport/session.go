package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrLost is wrapped when the connection is gone as a session starts.
var ErrLost = errors.New("connection lost")

// Subsystem starts the subsystem name (sftp) on a session of the
// connection, so that it counts against the per-connection session cap.
// closeFn ends the session and gives its slot back.
func (c *Client) Subsystem(ctx context.Context, name string) (stdin io.WriteCloser, stdout io.Reader, closeFn func(), err error) {
	sess, release, err := c.NewSession(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	w, err1 := sess.StdinPipe()
	o, err2 := sess.StdoutPipe()
	sess.Stderr = io.Discard
	err = errors.Join(err1, err2)
	if err == nil {
		err = sess.RequestSubsystem(name)
	}
	if err != nil {
		sess.Close()
		release()
		if c.Closed() {
			return nil, nil, nil, fmt.Errorf("%w: %v", ErrLost, err)
		}
		return nil, nil, nil, fmt.Errorf("cannot start the %s subsystem: %w", name, err)
	}
	return w, o, func() { sess.Close(); release() }, nil
}

// OpenSSH reports whether the server says it is OpenSSH.
func (c *Client) OpenSSH() bool { return strings.Contains(string(c.ServerVersion()), "OpenSSH") }

// StartFed starts cmd on a session of its own and returns its stdin. done
// closes stdin, lets the command finish (for at most 5 seconds) and ends
// the session: for helpers fed on stdin, like the file engine's janitor.
func (c *Client) StartFed(ctx context.Context, cmd string) (stdin io.WriteCloser, done func(), err error) {
	s, release, err := c.NewSession(ctx)
	if err != nil {
		return nil, nil, err
	}
	in, err := s.StdinPipe()
	if err == nil {
		err = s.Start(cmd)
	}
	if err != nil {
		s.Close()
		release()
		return nil, nil, err
	}
	return in, func() {
		in.Close()
		finished := make(chan struct{})
		go func() { s.Wait(); close(finished) }()
		select { // let the command read what it was given before the connection closes
		case <-finished:
		case <-time.After(5 * time.Second):
		}
		s.Close()
		release()
	}, nil
}
