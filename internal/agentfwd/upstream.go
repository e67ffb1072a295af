package agentfwd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh/agent"
)

// DefaultMaxConns is the connection cap NewUpstream uses when given max <= 0.
const DefaultMaxConns = 16

// DefaultTimeout is the default deadline for one request to the real agent
// (see Upstream.SetTimeout).
const DefaultTimeout = 30 * time.Second

var (
	errClosed   = errors.New("agentfwd: upstream agent closed")
	errNoSocket = errors.New("agentfwd: no agent (" + noAgent + ")")
)

// Upstream hands out connections to the user's real agent (SSH_AUTH_SOCK;
// see DefaultSocket),
// pooled and capped so that hundreds of hosts signing at once do not exhaust
// the local agent: ssh-agent serves the requests of one connection one by one,
// and a hardware-backed key signs slowly. Idle connections are reused; at most
// Max are open at once; callers wait, respecting their context, for one.
//
// A connection that failed (an I/O error, a deadline, a cancelled context) is
// closed and dropped, never reused; the next request dials a new one. A
// request that fails on a reused connection because the agent closed it is
// retried once on a fresh connection.
//
// An Upstream is safe for concurrent use. Its zero value is not usable; call
// NewUpstream.
type Upstream struct {
	socket  string
	max     int
	timeout atomic.Int64 // nanoseconds; <= 0 means DefaultTimeout

	slots chan struct{} // one token per open connection
	idle  chan *conn    // idle connections; never holds more than max
	done  chan struct{} // closed by Close

	mu     sync.Mutex
	closed bool
	open   map[*conn]struct{}
	peak   int // most connections open at once (for tests)

	dials atomic.Int64 // connections dialled (for tests)
}

// NewUpstream returns a pool of connections to the agent at socket (a Unix
// socket path; on Windows a named pipe or "pageant" too, as Dial takes), with at most max connections open at once
// (max <= 0 means DefaultMaxConns). It does not connect yet; an empty socket
// makes every request fail.
func NewUpstream(socket string, max int) *Upstream {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return &Upstream{
		socket: socket,
		max:    max,
		slots:  make(chan struct{}, max),
		idle:   make(chan *conn, max),
		done:   make(chan struct{}),
		open:   make(map[*conn]struct{}),
	}
}

// Max reports how many connections the Upstream opens at most.
func (u *Upstream) Max() int { return u.max }

// SetTimeout sets the deadline for each request to the real agent, from
// taking a connection to giving it back (a sign is a list and a sign). A
// request past it fails and its connection is dropped, so a hung agent cannot
// hold a caller forever. d <= 0 restores DefaultTimeout. Keys that ask the
// user to confirm or touch something (ssh-add -c, FIDO keys) need a deadline
// long enough for a person. It may be called at any time and applies to
// requests that start afterwards.
func (u *Upstream) SetTimeout(d time.Duration) { u.timeout.Store(int64(d)) }

// Timeout reports the per-request deadline in effect.
func (u *Upstream) Timeout() time.Duration {
	if d := time.Duration(u.timeout.Load()); d > 0 {
		return d
	}
	return DefaultTimeout
}

// Close closes every connection, idle or in use, and makes further requests
// fail. Requests in flight fail with an I/O error. Close is idempotent and
// always returns nil.
func (u *Upstream) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	close(u.done)
	for c := range u.open {
		c.nc.Close()
	}
	return nil
}

// conn is one connection to the real agent. It is used by one request at a
// time; it remembers its first I/O error so that a broken connection is never
// put back in the pool.
type conn struct {
	nc  net.Conn
	ag  agent.ExtendedAgent
	err atomic.Pointer[error]
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.nc.Read(p)
	if err != nil {
		c.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.nc.Write(p)
	if err != nil {
		c.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// ioErr returns the connection's first I/O error, or nil.
func (c *conn) ioErr() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// lease is a connection taken from the pool for one request.
type lease struct {
	u      *Upstream
	c      *conn
	reused bool // it came from the idle list rather than a new dial
	stop   func() bool
	once   sync.Once
}

// release gives the connection back, or drops it when broken is true, it had
// an I/O error, or the request's context was cancelled while it was out.
func (l *lease) release(broken bool) {
	l.once.Do(func() {
		if !l.stop() { // the context fired: the deadline was set in the past
			broken = true
		}
		l.u.put(l.c, broken || l.c.ioErr() != nil)
	})
}

// get takes a connection to the real agent for one request, waiting while
// Max connections are in use. The caller must call release exactly once; a
// broken connection (release(true)) is closed instead of being reused. The
// request must be done within Timeout, and is interrupted when ctx is done.
func (u *Upstream) get(ctx context.Context) (agent.ExtendedAgent, func(broken bool), error) {
	l, err := u.take(ctx)
	if err != nil {
		return nil, nil, err
	}
	return l.c.ag, l.release, nil
}

// take returns a lease on an idle connection, or on a new one if fewer than
// max are open, or waits for either.
func (u *Upstream) take(ctx context.Context) (*lease, error) {
	if u == nil {
		return nil, errors.New("agentfwd: no upstream agent")
	}
	if u.socket == "" {
		return nil, errNoSocket
	}
	select {
	case <-u.done:
		return nil, errClosed
	default:
	}
	// An idle connection first, so that a free slot is not spent on a dial.
	select {
	case c := <-u.idle:
		return u.leased(ctx, c, true)
	default:
	}
	select {
	case c := <-u.idle:
		return u.leased(ctx, c, true)
	case u.slots <- struct{}{}:
		c, err := u.dial(ctx)
		if err != nil {
			<-u.slots
			return nil, err
		}
		return u.leased(ctx, c, false)
	case <-ctx.Done():
		return nil, fmt.Errorf("agentfwd: waiting for a connection to the agent: %w", ctx.Err())
	case <-u.done:
		return nil, errClosed
	}
}

// dial opens a new connection; the caller holds a slot for it.
func (u *Upstream) dial(ctx context.Context) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, u.Timeout())
	defer cancel()
	nc, ag, err := dialConn(dctx, u.socket)
	if err != nil {
		return nil, err
	}
	u.dials.Add(1)
	c := &conn{nc: nc, ag: ag}
	if c.ag == nil {
		// Not an io.Closer, so agent.NewClient talks in lockstep on the
		// caller's goroutine: no reader goroutine per pooled connection,
		// and the connection's deadline bounds each request. A leased
		// connection has one user at a time, so pipelining would gain
		// nothing.
		c.ag = agent.NewClient(struct {
			io.Reader
			io.Writer
		}{c, c})
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		nc.Close()
		return nil, errClosed
	}
	u.open[c] = struct{}{}
	u.peak = max(u.peak, len(u.open))
	return c, nil
}

// leased sets the request deadline on c and ties it to ctx.
func (u *Upstream) leased(ctx context.Context, c *conn, reused bool) (*lease, error) {
	u.mu.Lock()
	closed := u.closed
	u.mu.Unlock()
	if closed {
		u.put(c, true)
		return nil, errClosed
	}
	if err := c.nc.SetDeadline(time.Now().Add(u.Timeout())); err != nil {
		u.put(c, true)
		return nil, fmt.Errorf("agentfwd: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		c.nc.SetDeadline(time.Unix(1, 0)) // interrupt the request in flight
	})
	return &lease{u: u, c: c, reused: reused, stop: stop}, nil
}

// put returns c to the idle list, or closes it and frees its slot.
func (u *Upstream) put(c *conn, broken bool) {
	if !broken && c.nc.SetDeadline(time.Time{}) != nil {
		broken = true
	}
	u.mu.Lock()
	if broken || u.closed {
		delete(u.open, c)
		u.mu.Unlock()
		c.nc.Close()
		<-u.slots
		return
	}
	u.mu.Unlock()
	u.idle <- c // never blocks: at most max connections exist
}

// do runs fn with a connection to the real agent. When fn fails because a
// reused connection turned out to be closed by the agent (not a timeout), it
// runs fn once more on a new connection.
func (u *Upstream) do(ctx context.Context, fn func(agent.ExtendedAgent) error) error {
	for attempt := 0; ; attempt++ {
		l, err := u.take(ctx)
		if err != nil {
			return err
		}
		err = fn(l.c.ag)
		ioErr := l.c.ioErr()
		l.release(false)
		if err != nil && ioErr != nil && l.reused && attempt == 0 &&
			!errors.Is(ioErr, os.ErrDeadlineExceeded) && ctx.Err() == nil {
			continue
		}
		if err != nil && ioErr != nil {
			if errors.Is(ioErr, os.ErrDeadlineExceeded) {
				if ctx.Err() != nil {
					return fmt.Errorf("agentfwd: agent request interrupted: %w", ctx.Err())
				}
				return fmt.Errorf("agentfwd: agent did not answer within %v", u.Timeout())
			}
		}
		return err
	}
}
