package loom

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loomssh/loom/internal/sshconfig"
)

// rebootScript starts the reboot in the background, so that the command
// itself ends before the connection does. Tests replace it.
var rebootScript = "nohup sh -c 'sleep 1; reboot' >/dev/null 2>&1 &"

// Reboot reboots the host and waits, up to wait, until it is back: the
// reboot is started (with sudo unless the login user is root), the
// connection's end is waited for, and the host is dialled again with
// backoff until SSH answers — its host key checked as for any connection.
// The Conn, and those derived from it, then work over the new connection.
// A host key that changed, or an authentication that fails, ends the wait
// at once. Like an operation, Reboot is skipped after an earlier failure
// and records its own. Do not use the Conn for anything else meanwhile.
func (c *Conn) Reboot(wait time.Duration) error {
	if err := c.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrSkipped, err)
	}
	if c.h.tc == nil || c.h.redial == nil {
		return c.Fail(fmt.Errorf("%s: reboot: this Conn is not an SSH connection", c.h.name))
	}
	ctx, cancel := context.WithTimeout(c.Context(), wait)
	defer cancel()
	old := c.h.tc
	var r *Result
	if c.Quiet().Run("id", "-u").Text() == "0" {
		r = c.Quiet().Shell(rebootScript)
	} else {
		r = c.Quiet().SudoShell(rebootScript)
	}
	if r.Err != nil {
		// The reboot may take the connection before the command's exit
		// status comes back: that is the reboot starting, not a failure.
		select {
		case <-old.Done():
			c.ResetErr()
		case <-time.After(5 * time.Second):
			return r.Err // recorded by the Conn
		}
	}
	select {
	case <-old.Done():
	case <-ctx.Done():
		return c.Fail(fmt.Errorf("%s: reboot: the connection was still up after %v: the host did not reboot", c.h.name, wait))
	}
	return c.reconnect(ctx, wait)
}

// Reconnect dials the host again, up to wait, with backoff until SSH
// answers (host key checked), and makes the Conn and those derived from it
// work over the new connection: after a host was restarted, or its
// connection lost (ErrConnLost). It forgets the Conn's recorded failure
// once connected. A host key that changed, or an authentication that
// fails, ends the wait at once. Do not use the Conn for anything else
// meanwhile.
func (c *Conn) Reconnect(wait time.Duration) error {
	if c.h.redial == nil {
		return fmt.Errorf("%s: reconnect: this Conn is not an SSH connection", c.h.name)
	}
	ctx, cancel := context.WithTimeout(c.Context(), wait)
	defer cancel()
	return c.reconnect(ctx, wait)
}

func (c *Conn) reconnect(ctx context.Context, wait time.Duration) error {
	c.h.files.close()
	if c.h.tc != nil {
		c.h.tc.Close()
	}
	backoff := 500 * time.Millisecond
	for {
		tc, err := c.h.redial(ctx)
		if err == nil {
			c.h.mu.Lock()
			var env []sshconfig.EnvVar
			if old, ok := c.h.r.(*sshRunner); ok {
				env = old.env
			}
			c.h.r, c.h.tc, c.h.err = &sshRunner{c: tc, env: env}, tc, nil
			c.h.mu.Unlock()
			c.ResetErr()
			return nil
		}
		var ce *ConnectError
		if errors.As(err, &ce) && (ce.Reason == ReasonHostKey || ce.Reason == ReasonAuth) {
			return c.Fail(err) // never waited out: a new key or a refused login is an answer
		}
		select {
		case <-ctx.Done():
			return c.Fail(fmt.Errorf("%s: not back after %v: %w", c.h.name, wait, err))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
