package loom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Tunnel is a port forward over a Conn's SSH connection. It stops when
// closed, when the Conn's context ends, or when the connection goes away.
type Tunnel struct {
	ln    net.Listener
	dial  func(ctx context.Context) (net.Conn, error)
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	errs  func(error)
}

// Addr returns the address the tunnel listens on: on this machine for
// ForwardLocal (useful with port 0), on the host for ForwardRemote.
func (t *Tunnel) Addr() string { return t.ln.Addr().String() }

// Close stops listening and closes the connections in flight.
func (t *Tunnel) Close() error {
	t.stop()
	err := t.ln.Close()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// ForwardLocal listens on local, an address on this machine (e.g.
// "127.0.0.1:0"), and carries each connection over the SSH connection to
// remote, an address as the host sees it (e.g. "db.internal:5432"), like
// ssh -L. Listen on loopback unless you mean to offer the tunnel to others.
func (c *Conn) ForwardLocal(local, remote string) (*Tunnel, error) {
	if err := c.canForward(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", local)
	if err != nil {
		return nil, fmt.Errorf("%s: forward %s: %w", c.h.name, local, err)
	}
	return c.serveTunnel(ln, func(ctx context.Context) (net.Conn, error) {
		if hr, ok := c.h.r.(*holderRunner); ok {
			return hr.cl.DialTCP(ctx, hr.t, remote) // a channel of the held connection's
		}
		return c.h.tc.Client.DialContext(ctx, "tcp", remote)
	}), nil
}

// canForward says why the Conn cannot forward ports: only a local one
// cannot (a held host's forwards go through the holder).
func (c *Conn) canForward() error {
	if _, held := c.h.r.(*holderRunner); held || c.h.tc != nil {
		return nil
	}
	return fmt.Errorf("%s: port forwarding needs an SSH connection, and this Conn runs commands on this machine", c.h.name)
}

// ForwardRemote asks the host to listen on remote (e.g. "127.0.0.1:8080"
// there; port 0 picks one, see Addr) and carries each connection back to
// local, an address as this machine sees it, like ssh -R. sshd allows it
// only with AllowTcpForwarding yes or remote.
func (c *Conn) ForwardRemote(remote, local string) (*Tunnel, error) {
	if err := c.canForward(); err != nil {
		return nil, err
	}
	var ln net.Listener
	var err error
	if hr, ok := c.h.r.(*holderRunner); ok {
		// The holder asks the host, and relays what it accepts to this
		// run; closing the tunnel, or the run's end, cancels it there.
		ln, err = hr.cl.ListenTCP(c.Context(), hr.t, remote)
	} else {
		ln, err = c.h.tc.Client.Listen("tcp", remote)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: remote forward %s: %w", c.h.name, remote, err)
	}
	var d net.Dialer
	return c.serveTunnel(ln, func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", local)
	}), nil
}

// WithTunnel opens a local forward to remote for the time fn runs and gives
// fn the local address to connect to:
//
//	c.WithTunnel("db.internal:5432", func(addr string) error {
//		return migrate("postgres://app@" + addr + "/app")
//	})
func (c *Conn) WithTunnel(remote string, fn func(addr string) error) error {
	t, err := c.ForwardLocal("127.0.0.1:0", remote)
	if err != nil {
		return c.Fail(err)
	}
	defer t.Close()
	if err := fn(t.Addr()); err != nil {
		return c.Fail(err)
	}
	return nil
}

func (c *Conn) serveTunnel(ln net.Listener, dial func(context.Context) (net.Conn, error)) *Tunnel {
	ctx, stop := context.WithCancel(c.Context())
	t := &Tunnel{ln: ln, dial: dial, ctx: ctx, stop: stop, conns: map[net.Conn]struct{}{}}
	t.errs = func(err error) { c.h.d.logf("%s: tunnel %s: %v", c.h.name, ln.Addr(), err) }
	context.AfterFunc(ctx, func() { ln.Close() })
	if tc := c.h.tc; tc != nil {
		go func() {
			select {
			case <-tc.Done():
				t.Close()
			case <-ctx.Done():
			}
		}()
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				t.relay(in)
			}()
		}
	}()
	return t
}

// relay copies both ways between in and a fresh connection to the target.
func (t *Tunnel) relay(in net.Conn) {
	defer in.Close()
	out, err := t.dial(t.ctx)
	if err != nil {
		t.errs(err)
		return
	}
	defer out.Close()
	if !t.track(in, out) {
		return
	}
	defer t.untrack(in, out)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(out, in)
	go cp(in, out)
	<-done
	<-done
}

func (t *Tunnel) track(cs ...net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return false
	}
	for _, c := range cs {
		t.conns[c] = struct{}{}
	}
	return true
}

func (t *Tunnel) untrack(cs ...net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range cs {
		delete(t.conns, c)
	}
}
