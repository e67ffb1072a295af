package holder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The run's side of relayed channels (forward.go): the agent channels the
// holder relays to the run's filtering agent, and its tunnels.

// fwdClient is what a Client has of relayed channels.
type fwdClient struct {
	mu        sync.Mutex
	relays    map[uint32]*relayConn
	listeners map[uint32]*relayListener
	agents    map[uint32]func(io.ReadWriteCloser)
	nextAgent uint32
}

// ServeAgent registers serve as the run's agent for the hosts of the
// Targets whose Agent is the number returned: each agent channel such a
// host opens on its held connection is given to serve (in a goroutine of
// its own), which answers it and closes it.
func (c *Client) ServeAgent(serve func(io.ReadWriteCloser)) uint32 {
	f := &c.fw
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.agents == nil {
		f.agents = map[uint32]func(io.ReadWriteCloser){}
	}
	f.nextAgent++
	f.agents[f.nextAgent] = serve
	return f.nextAgent
}

// DialTCP connects, through t's held connection, to addr as the host
// sees it (a direct-tcpip channel, as ssh -L makes).
func (c *Client) DialTCP(ctx context.Context, t Target, addr string) (net.Conn, error) {
	rc, _, err := c.openRelay(ctx, tForward, tunnel{Target: t, Addr: addr})
	if err != nil {
		return nil, err
	}
	rc.remote = addr
	return rc, nil
}

// ListenTCP has t's host listen on addr (tcpip-forward, as ssh -R asks)
// and returns the listener: each connection the host accepts on it is
// relayed to this run. Closing it cancels the forward; so does the run's
// going away.
func (c *Client) ListenTCP(ctx context.Context, t Target, addr string) (net.Listener, error) {
	rc, reply, err := c.openRelay(ctx, tListen, tunnel{Target: t, Addr: addr})
	if err != nil {
		return nil, err
	}
	var l Listening
	if err := json.Unmarshal(reply, &l); err != nil {
		rc.Close()
		return nil, fmt.Errorf("connection holder: bad answer: %v", err)
	}
	ln := &relayListener{rc: rc, addr: l.Addr, accepts: make(chan *relayConn), done: make(chan struct{})}
	f := &c.fw
	f.mu.Lock()
	if f.listeners == nil {
		f.listeners = map[uint32]*relayListener{}
	}
	f.listeners[rc.id] = ln
	f.mu.Unlock()
	go func() { // the listener ends when its stream does
		io.Copy(io.Discard, rc)
		ln.Close()
	}()
	return ln, nil
}

// openRelay sends a tForward or tListen and waits for its answer.
func (c *Client) openRelay(ctx context.Context, typ byte, req tunnel) (*relayConn, []byte, error) {
	if err := c.Ready(ctx); err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, nil, c.err
	}
	c.next++
	id := c.next
	c.mu.Unlock()
	rc := c.newRelayConn(id)
	rc.opened = make(chan error, 1)
	if err := c.send(frame{id, typ, mustJSON(req)}); err != nil {
		rc.forget()
		return nil, nil, fmt.Errorf("the connection holder went away: %v", err)
	}
	select {
	case err := <-rc.opened:
		if err != nil {
			rc.forget()
			return nil, nil, err
		}
		return rc, rc.reply, nil
	case <-ctx.Done():
		rc.Close()
		return nil, nil, ctx.Err()
	}
}

func (c *Client) newRelayConn(id uint32) *relayConn {
	rc := &relayConn{c: c, id: id, in: newPipe()}
	f := &c.fw
	f.mu.Lock()
	if f.relays == nil {
		f.relays = map[uint32]*relayConn{}
	}
	f.relays[id] = rc
	f.mu.Unlock()
	return rc
}

// relayFrame takes a frame of a relayed channel; it reports whether f
// was one.
func (c *Client) relayFrame(f frame) bool {
	fw := &c.fw
	switch f.typ {
	case tAgentOpen:
		var a agentOpen
		json.Unmarshal(f.data, &a)
		fw.mu.Lock()
		serve := fw.agents[a.Agent]
		fw.mu.Unlock()
		if serve == nil || f.id&holderStream == 0 {
			c.send(frame{f.id, tClose, nil}) // no agent of this run's: refused
			return true
		}
		rc := c.newRelayConn(f.id)
		go serve(rc)
		return true
	case tAccept:
		var a accepted
		json.Unmarshal(f.data, &a)
		fw.mu.Lock()
		ln := fw.listeners[a.Listener]
		fw.mu.Unlock()
		if ln == nil || f.id&holderStream == 0 {
			c.send(frame{f.id, tClose, nil})
			return true
		}
		rc := c.newRelayConn(f.id)
		rc.remote = a.Remote
		go func() {
			select {
			case ln.accepts <- rc:
			case <-ln.done:
				rc.Close()
			}
		}()
		return true
	case tOK, tError, tData, tEOF, tClose, tAck:
	default:
		return false
	}
	fw.mu.Lock()
	rc := fw.relays[f.id]
	fw.mu.Unlock()
	if rc == nil {
		return f.typ != tOK && f.typ != tError
	}
	switch f.typ {
	case tOK:
		rc.reply = f.data
		rc.open(nil)
	case tError:
		e := &Error{}
		if json.Unmarshal(f.data, e) != nil {
			e = &Error{Kind: "holder", Msg: "bad error from the holder"}
		}
		rc.open(e)
	case tData:
		rc.in.Write(f.data)
	case tAck:
		rc.out.give(acked(f))
	case tEOF:
		rc.in.closeWith(io.EOF)
	case tClose:
		rc.in.closeWith(io.EOF)
		rc.out.close()
		rc.forget()
	}
	return true
}

// goneRelays ends every relayed channel: the holder went away.
func (c *Client) goneRelays(err error) {
	f := &c.fw
	f.mu.Lock()
	relays := f.relays
	f.relays = nil
	f.mu.Unlock()
	for _, rc := range relays {
		rc.open(&Error{Kind: "lost", Msg: err.Error()})
		rc.in.closeWith(err)
		rc.out.close()
	}
}

// relayConn is a relayed channel as the run sees it: a net.Conn.
type relayConn struct {
	c      *Client
	id     uint32
	in     *pipe  // what the holder sent, for Read
	out    window // what Write sent and the holder's side did not read yet
	remote string

	opened chan error // tForward, tListen: the answer
	reply  []byte

	once   sync.Once
	closed bool
	mu     sync.Mutex
}

func (rc *relayConn) open(err error) {
	if rc.opened != nil {
		select {
		case rc.opened <- err:
		default:
		}
	}
}

// forget drops the relay from the client's table.
func (rc *relayConn) forget() {
	f := &rc.c.fw
	f.mu.Lock()
	if f.relays[rc.id] == rc {
		delete(f.relays, rc.id)
	}
	if f.listeners != nil {
		delete(f.listeners, rc.id)
	}
	f.mu.Unlock()
	rc.mu.Lock()
	rc.closed = true
	rc.mu.Unlock()
}

func (rc *relayConn) Read(b []byte) (int, error) {
	n, err := rc.in.Read(b)
	if n > 0 {
		rc.c.send(ackFrame(rc.id, n))
	}
	return n, err
}

func (rc *relayConn) Write(b []byte) (int, error) {
	rc.mu.Lock()
	closed := rc.closed
	rc.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		if !rc.out.take(n) {
			return len(b) - len(rest), net.ErrClosed
		}
		if err := rc.c.send(frame{rc.id, tData, rest[:n]}); err != nil {
			return len(b) - len(rest), err
		}
		rest = rest[n:]
	}
	return len(b), nil
}

// CloseWrite says the run sends no more: the host's side reads EOF.
func (rc *relayConn) CloseWrite() error { return rc.c.send(frame{rc.id, tEOF, nil}) }

// Close closes the channel both ways.
func (rc *relayConn) Close() error {
	rc.once.Do(func() {
		rc.mu.Lock()
		was := rc.closed
		rc.mu.Unlock()
		rc.forget()
		rc.in.closeWith(net.ErrClosed)
		rc.out.close()
		if !was {
			rc.c.send(frame{rc.id, tClose, nil})
		}
	})
	return nil
}

func (rc *relayConn) LocalAddr() net.Addr  { return relayAddr("holder") }
func (rc *relayConn) RemoteAddr() net.Addr { return relayAddr(rc.remote) }

var errNoDeadline = errors.New("a stream of the connection holder has no deadlines")

func (rc *relayConn) SetDeadline(time.Time) error      { return errNoDeadline }
func (rc *relayConn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (rc *relayConn) SetWriteDeadline(time.Time) error { return errNoDeadline }

// relayAddr is an address as the host gave it.
type relayAddr string

func (a relayAddr) Network() string { return "tcp" }
func (a relayAddr) String() string  { return string(a) }

// relayListener is a listener on the host, as the run sees it.
type relayListener struct {
	rc      *relayConn
	addr    string
	accepts chan *relayConn
	done    chan struct{}
	once    sync.Once
}

func (l *relayListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepts:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close cancels the forward on the host.
func (l *relayListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.rc.Close()
	})
	return nil
}

func (l *relayListener) Addr() net.Addr { return relayAddr(l.addr) }
