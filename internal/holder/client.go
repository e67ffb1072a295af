package holder

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/loomssh/loom/internal/peercred"
)

// Options say how a run reaches its holder.
type Options struct {
	// Dir is the holder's directory (DefaultDir when empty).
	Dir string
	// Persist, if set, holds every host's connection for that long after
	// its last use (--persist); otherwise hosts are held as their
	// ssh_config (ControlMaster, ControlPersist) or the inventory say.
	Persist time.Duration
	// Start starts a holder process serving Dir, detached (see Command).
	Start func(dir string) error
	// Warn receives the holder's warnings (a host key recorded, say).
	Warn func(line string)
}

// Client is a run's connection to the holder. It is safe for concurrent
// use: every command is a stream of its own.
type Client struct {
	c       net.Conn
	warn    func(string)
	persist time.Duration
	warned  map[string]bool
	wmu     sync.Mutex

	// A Lazy client connects on first use.
	once    sync.Once
	lazy    *Options
	linkErr error

	mu      sync.Mutex
	next    uint32
	streams map[uint32]*stream
	err     error // the holder went away: why

	fw fwdClient // relayed channels: agent, tunnels (client_forward.go)
}

// Connect connects to the user's holder, starting one when there is none
// or the socket is stale (its holder was killed), and replacing one that
// speaks another version. The holder's directory must be the user's own
// (0700), and the holder's process the user's.
func Connect(ctx context.Context, o Options) (*Client, error) {
	nc, br, err := link(ctx, o)
	if err != nil {
		return nil, err
	}
	cl := &Client{c: nc, warn: o.Warn, persist: o.Persist, streams: map[uint32]*stream{}}
	go cl.read(br)
	return cl, nil
}

// link connects to the holder (see Connect).
func link(ctx context.Context, o Options) (net.Conn, *bufio.Reader, error) {
	if !supported {
		return nil, nil, ErrNotSupported
	}
	if o.Dir == "" {
		o.Dir = DefaultDir()
	}
	if err := PrepareDir(o.Dir); err != nil {
		return nil, nil, err
	}
	sock := filepath.Join(o.Dir, SocketName)
	started := false
	for {
		nc, br, err := connect(sock)
		var old *versionError
		switch {
		case err == nil:
			return nc, br, nil
		case errors.As(err, &old):
			// Another Loom's holder: end it and start ours.
			if terr := terminate(old.pid); terr != nil {
				return nil, nil, fmt.Errorf("%v; cannot stop it: %v (loom --persist-stop, or kill %d)", err, terr, old.pid)
			}
		case started || o.Start == nil || !stale(err):
			if started {
				return nil, nil, fmt.Errorf("connection holder in %s did not start: %v (see %s)", o.Dir, err, filepath.Join(o.Dir, LogName))
			}
			return nil, nil, err
		}
		if started {
			return nil, nil, err
		}
		if err := o.Start(o.Dir); err != nil {
			return nil, nil, fmt.Errorf("cannot start the connection holder: %v", err)
		}
		started = true
		if err := waitSocket(ctx, sock); err != nil {
			return nil, nil, fmt.Errorf("connection holder in %s did not start: %v (see %s)", o.Dir, err, filepath.Join(o.Dir, LogName))
		}
	}
}

// stale reports an error of connecting to a socket that has no holder
// behind it (none yet, or one killed without cleaning up).
func stale(err error) bool {
	var ne *net.OpError
	return errors.Is(err, os.ErrNotExist) || errors.As(err, &ne) && ne.Op == "dial"
}

// waitSocket waits until the holder just started answers.
func waitSocket(ctx context.Context, sock string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

type versionError struct {
	theirs string
	pid    int
}

func (e *versionError) Error() string {
	return fmt.Sprintf("the connection holder (pid %d) is of another Loom (%s, want %s)", e.pid, e.theirs, Version())
}

// connect dials the socket, checks the holder's credentials and
// exchanges hellos.
func connect(sock string) (net.Conn, *bufio.Reader, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, err
	}
	uid, pid, err := peercred.Of(c)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("connection holder %s: %v", sock, err)
	}
	if uid != os.Getuid() {
		c.Close()
		return nil, nil, fmt.Errorf("connection holder %s: run by uid %d, not by you: refusing it", sock, uid)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeFrame(c, frame{0, tHello, mustJSON(hello{Version: Version(), PID: os.Getpid()})}); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("connection holder %s: %v", sock, err)
	}
	br := bufio.NewReader(c)
	f, err := readFrame(br)
	var h hello
	if err == nil && (f.typ != tHello || json.Unmarshal(f.data, &h) != nil) {
		err = errors.New("no hello")
	}
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("connection holder %s: %v", sock, err)
	}
	if h.Version != Version() {
		c.Close()
		return nil, nil, &versionError{theirs: h.Version, pid: pid}
	}
	c.SetDeadline(time.Time{})
	return c, br, nil
}

// Lazy returns a Client that connects (as Connect) when first used: a run
// that holds no host never starts a holder. If connecting fails, o.Warn
// is told once, and Ready returns the error from then on.
func Lazy(o Options) *Client {
	return &Client{lazy: &o, warn: o.Warn, persist: o.Persist, streams: map[uint32]*stream{}}
}

// Ready connects a Lazy client, once; it returns why it could not.
func (c *Client) Ready(ctx context.Context) error {
	if c.lazy == nil {
		return nil
	}
	c.once.Do(func() {
		nc, br, err := link(ctx, *c.lazy)
		if err != nil {
			c.linkErr = err
			if c.warn != nil {
				c.warn(fmt.Sprintf("connection holder: %v; connecting directly", err))
			}
			return
		}
		c.mu.Lock()
		c.c = nc
		c.mu.Unlock()
		go c.read(br)
	})
	return c.linkErr
}

// Persist is the Options' Persist: how long every host is held, or 0.
func (c *Client) Persist() time.Duration { return c.persist }

// WarnOnce gives the Options' Warn line, once per line.
func (c *Client) WarnOnce(line string) {
	c.mu.Lock()
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	seen := c.warned[line]
	c.warned[line] = true
	c.mu.Unlock()
	if !seen && c.warn != nil {
		c.warn(line)
	}
}

// Close ends the run's connection to the holder (the held SSH connections
// stay with the holder).
func (c *Client) Close() error {
	c.mu.Lock()
	nc := c.c
	c.mu.Unlock()
	if nc == nil {
		return nil
	}
	return nc.Close()
}

// Stop asks the holder to exit, closing every held connection.
func (c *Client) Stop() error {
	err := c.send(frame{0, tStop, nil})
	c.Close()
	return err
}

func (c *Client) send(f frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return writeFrame(c.c, f)
}

// stream is one dial or command, as the run sees it.
type stream struct {
	stdout, stderr io.Writer
	reply          []byte     // tOK's data, set before started is sent
	started        chan error // one value: nil once the command started
	exited         chan Exit  // one value
	once           sync.Once
}

func (s *stream) finish(err error, e Exit) {
	s.once.Do(func() {
		s.started <- err
		if err == nil {
			s.exited <- e
		} else {
			s.exited <- Exit{Code: -1, Lost: err.Error()}
		}
	})
}

// read dispatches the holder's frames to their streams.
func (c *Client) read(br *bufio.Reader) {
	var err error
	for {
		var f frame
		if f, err = readFrame(br); err != nil {
			break
		}
		if f.id == 0 {
			if f.typ == tWarn && c.warn != nil {
				c.warn(string(f.data))
			}
			continue
		}
		if c.relayFrame(f) {
			continue
		}
		c.mu.Lock()
		s := c.streams[f.id]
		c.mu.Unlock()
		if s == nil {
			continue
		}
		switch f.typ {
		case tOK:
			s.reply = f.data
			select {
			case s.started <- nil:
			default:
			}
		case tError:
			e := &Error{}
			if json.Unmarshal(f.data, e) != nil {
				e = &Error{Kind: "holder", Msg: "bad error from the holder"}
			}
			c.end(f.id)
			s.finish(e, Exit{})
		case tStdout:
			if s.stdout != nil {
				s.stdout.Write(f.data)
			}
		case tStderr:
			if s.stderr != nil {
				s.stderr.Write(f.data)
			}
		case tExit:
			var e Exit
			json.Unmarshal(f.data, &e)
			c.end(f.id)
			select {
			case s.exited <- e:
			default:
			}
		}
	}
	c.mu.Lock()
	c.err = fmt.Errorf("the connection holder went away: %v", err)
	streams := c.streams
	c.streams = map[uint32]*stream{}
	c.mu.Unlock()
	for _, s := range streams {
		s.gone(c.err)
	}
	c.goneRelays(c.err)
}

// gone ends a stream whose holder went away.
func (s *stream) gone(err error) {
	select {
	case s.started <- &Error{Kind: "lost", Msg: err.Error()}:
	default:
	}
	select {
	case s.exited <- Exit{Code: -1, Lost: err.Error()}:
	default:
	}
}

func (c *Client) end(id uint32) {
	c.mu.Lock()
	delete(c.streams, id)
	c.mu.Unlock()
}

// open sends a request on a new stream.
func (c *Client) open(ctx context.Context, typ byte, o any, stdout, stderr io.Writer) (uint32, *stream, error) {
	if err := c.Ready(ctx); err != nil {
		return 0, nil, err
	}
	s := &stream{stdout: stdout, stderr: stderr, started: make(chan error, 1), exited: make(chan Exit, 1)}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return 0, nil, c.err
	}
	c.next++
	id := c.next
	c.streams[id] = s
	c.mu.Unlock()
	if err := c.send(frame{id, typ, mustJSON(o)}); err != nil {
		c.end(id)
		return 0, nil, fmt.Errorf("the connection holder went away: %v", err)
	}
	return id, s, nil
}

// request sends a one-answer request and returns the answer's data.
func (c *Client) request(ctx context.Context, typ byte, o any) ([]byte, error) {
	id, s, err := c.open(ctx, typ, o, nil, nil)
	if err != nil {
		return nil, err
	}
	select {
	case err := <-s.started:
		c.end(id)
		return s.reply, err
	case <-ctx.Done():
		c.end(id)
		return nil, ctx.Err()
	}
}

// Dial has the holder connect to t (or find its held connection).
func (c *Client) Dial(ctx context.Context, t Target) (Dialled, error) {
	var d Dialled
	b, err := c.request(ctx, tDial, open{Target: t})
	if err == nil {
		json.Unmarshal(b, &d)
	}
	return d, err
}

// Drop has the holder close every connection it holds to the host runs
// name alias (as in -H), and returns them (none: nothing was held).
func (c *Client) Drop(ctx context.Context, alias string) ([]string, error) {
	b, err := c.request(ctx, tDrop, drop{Alias: alias})
	if err != nil {
		return nil, err
	}
	var d Dropped
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("connection holder: bad answer: %v", err)
	}
	return d.Conns, nil
}

// Start runs cmd on t's held connection. stdout and stderr receive its
// output as it arrives.
func (c *Client) Start(ctx context.Context, t Target, cmd string, pty *Pty, stdout, stderr io.Writer) (*Proc, error) {
	return c.start(ctx, open{Target: t, Cmd: cmd, Pty: pty}, stdout, stderr)
}

// Subsystem starts the subsystem name (sftp) on t's held connection, as
// transport.Client.Subsystem does on a direct one: stdout reads what the
// server sends (io.EOF once the session ended), closeFn ends the session.
// What the server sends is buffered as it arrives, so that a reader that
// is slow holds up no other stream of the run.
func (c *Client) Subsystem(ctx context.Context, t Target, name string) (stdin io.WriteCloser, stdout io.Reader, closeFn func(), err error) {
	buf := newPipe()
	p, err := c.start(ctx, open{Target: t, Subsystem: name}, buf, io.Discard)
	if err != nil {
		return nil, nil, nil, err
	}
	go func() {
		e := p.Wait()
		if e.Lost != "" {
			buf.closeWith(&Error{Kind: "lost", Msg: e.Lost})
			return
		}
		buf.closeWith(io.EOF)
	}()
	return p.Stdin(), buf, p.Kill, nil
}

// StartFed starts cmd on t's held connection and returns its stdin, as
// transport.Client.StartFed does: done closes stdin, lets the command
// finish (for at most 5 seconds) and ends its session.
func (c *Client) StartFed(ctx context.Context, t Target, cmd string) (stdin io.WriteCloser, done func(), err error) {
	p, err := c.start(ctx, open{Target: t, Cmd: cmd}, io.Discard, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	in := p.Stdin()
	return in, func() {
		in.Close()
		select {
		case <-p.exited():
		case <-time.After(5 * time.Second):
			p.Kill()
		}
	}, nil
}

func (c *Client) start(ctx context.Context, o open, stdout, stderr io.Writer) (*Proc, error) {
	id, s, err := c.open(ctx, tOpen, o, stdout, stderr)
	if err != nil {
		return nil, err
	}
	p := &Proc{c: c, id: id, s: s}
	select {
	case err := <-s.started:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		p.Kill()
		c.end(id)
		return nil, ctx.Err()
	}
	return p, nil
}

// Proc is a command running through the holder.
type Proc struct {
	c  *Client
	id uint32
	s  *stream

	once sync.Once
	done chan struct{}
	exit Exit
}

// Stdin returns the command's standard input.
func (p *Proc) Stdin() io.WriteCloser { return procStdin{p} }

type procStdin struct{ p *Proc }

func (w procStdin) Write(b []byte) (int, error) {
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		if err := w.p.c.send(frame{w.p.id, tStdin, rest[:n]}); err != nil {
			return len(b) - len(rest), err
		}
		rest = rest[n:]
	}
	return len(b), nil
}

func (w procStdin) Close() error { return w.p.c.send(frame{w.p.id, tStdinEOF, nil}) }

// Wait returns how the command ended, once its output has been delivered.
// It may be called more than once.
func (p *Proc) Wait() Exit {
	<-p.exited()
	return p.exit
}

// exited is closed once the command ended.
func (p *Proc) exited() chan struct{} {
	p.once.Do(func() {
		p.done = make(chan struct{})
		go func() { p.exit = <-p.s.exited; close(p.done) }()
	})
	return p.done
}

// Signal sends the command a signal (by its SSH name: "INT", "TERM"...).
func (p *Proc) Signal(name string) { p.c.send(frame{p.id, tSignal, []byte(name)}) }

// Kill closes the command's session.
func (p *Proc) Kill() { p.c.send(frame{p.id, tKill, nil}) }

// Use routes a *loom.Dialer's connections through c. Package loom sets it
// (it owns the Dialer's fields); the loom command calls it.
var Use func(dialer any, c *Client)

// pipe is an unbounded buffer between the holder's reader and one
// stream's reader: its Write never waits.
type pipe struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte
	err  error // once set, Read returns it when buf is empty
}

func newPipe() *pipe {
	p := &pipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, io.ErrClosedPipe
	}
	p.buf = append(p.buf, b...)
	p.cond.Signal()
	return len(b), nil
}

func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && p.err == nil {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		return 0, p.err
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil // let a large buffer go
	}
	return n, nil
}

func (p *pipe) closeWith(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
}
