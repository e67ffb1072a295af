package holder

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/peercred"
	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/transport"
)

// Server is the holder: it serves runs on a listener and holds their
// connections, one per host and Settings. Each connection is closed once
// unused for its Persist (the latest run's value), and the holder exits
// once it holds none and no run has been connected for Linger.
type Server struct {
	// Linger is how long the holder stays with no connection held and no
	// run connected. Zero: DefaultLinger.
	Linger time.Duration
	// Logf receives diagnostics. Nil discards them.
	Logf func(format string, args ...any)

	mu      sync.Mutex
	runs    map[*run]struct{}
	dialers map[Settings]*held
	idleAt  time.Time // when the last run went away
	stop    chan struct{}
	stopped sync.Once
}

// held is the connections of one Settings: a transport Dialer sharing its
// targets, and the session channels opened in advance.
type held struct {
	t      *transport.Dialer
	mu     sync.Mutex
	hops   map[string]*sshconfig.Host
	spares map[*transport.Client]*spare

	umu  sync.Mutex      // uses; never held while h.mu is wanted by a dial
	uses map[string]*use // by hostKey

	fwdOnce sync.Once
	fwd     *agentsOf // its forwarding connections (forward.go), made on first use
}

// use is a held connection's use: when it was last used, by how many
// streams now, and for how long it is held after.
type use struct {
	host    *sshconfig.Host
	last    time.Time
	persist time.Duration
	active  int
}

// hostKey is which held connection a host takes (transport.targetKey's):
// the SHA-256 of its settings written out, not the kilobyte of them.
func hostKey(h *sshconfig.Host) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%#v", *h))
	return string(sum[:])
}

// begin records a stream's use of host's connection; end ends it.
func (h *held) begin(host *sshconfig.Host, persist time.Duration) string {
	k := hostKey(host)
	h.umu.Lock()
	defer h.umu.Unlock()
	u := h.uses[k]
	if u == nil {
		u = &use{host: host}
		h.uses[k] = u
	}
	u.last, u.active = time.Now(), u.active+1
	switch {
	case persist > 0:
		u.persist = persist
	case u.persist <= 0:
		u.persist = DefaultPersist
	}
	return k
}

func (h *held) end(k string) {
	h.umu.Lock()
	defer h.umu.Unlock()
	if u := h.uses[k]; u != nil {
		u.last, u.active = time.Now(), u.active-1
	}
}

// dropIf closes the held connections whose use f picks (with h.umu
// held), and returns them as user@host:port.
func (h *held) dropIf(f func(u *use) bool) []string {
	h.umu.Lock()
	defer h.umu.Unlock()
	var out []string
	for k, u := range h.uses {
		if !f(u) {
			continue
		}
		delete(h.uses, k)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if h.t.DropTarget(ctx, u.host) {
			out = append(out, fmt.Sprintf("%s@%s", u.host.User, u.host.Addr()))
		}
		cancel()
	}
	h.pruneSpares()
	return out
}

// pruneSpares forgets the spare sessions of closed connections.
func (h *held) pruneSpares() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c, sp := range h.spares {
		if c.Closed() {
			sp.s.Close()
			sp.release()
			delete(h.spares, c)
		}
	}
}

// spare is a session channel opened in advance on a held connection, so a
// command is just its exec request.
type spare struct {
	s       *ssh.Session
	release func()
}

func hopKey(name string, via []string) string { return name + "\x00" + strings.Join(via, ",") }

// DefaultPersist is how long a connection is held when the run did not
// say.
const DefaultPersist = 10 * time.Minute

// DefaultLinger is how long a holder with nothing held and no run stays.
const DefaultLinger = 10 * time.Second

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Serve accepts runs on ln until Stop, a run's stop request, or idle
// expiry; then it closes ln and every held connection.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	s.runs = map[*run]struct{}{}
	s.dialers = map[Settings]*held{}
	s.idleAt = time.Now()
	if s.Linger <= 0 {
		s.Linger = DefaultLinger
	}
	stop := s.stop
	s.mu.Unlock()
	go s.expire(stop)
	go func() { <-stop; ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-stop:
				s.closeAll()
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				s.closeAll()
				return nil
			}
			s.logf("accept: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go s.serveRun(c)
	}
}

// Stop ends Serve.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	stop := s.stop
	s.mu.Unlock()
	s.stopped.Do(func() { close(stop) })
}

// expireEvery is how often held connections are checked for expiry.
var expireEvery = time.Second

// releaseAfter is how long the holder waits, once no stream uses a held
// connection, before it gives the memory its busy moments took (the
// handshakes, the output relayed) back to the system: the Go runtime keeps
// freed memory for reuse, up to as much again as is in use, and a holder
// left idle for hours has no use for it. Once per idle spell.
var releaseAfter = 10 * time.Second

// expire closes each held connection unused for its persist time, and
// stops the server once it holds none and no run has been connected for
// Linger.
func (s *Server) expire(stop chan struct{}) {
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	release, released := releaseAfter, time.Time{}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		for _, h := range s.helds() {
			for _, c := range h.dropIf(func(u *use) bool {
				return u.active <= 0 && u.persist != sshconfig.Forever && now.Sub(u.last) >= u.persist
			}) {
				s.logf("%s: unused for its persist time: connection closed", c)
			}
		}
		n, active, last := 0, 0, time.Time{}
		for _, h := range s.helds() {
			h.umu.Lock()
			n += len(h.uses)
			for _, u := range h.uses {
				active += u.active
				if u.last.After(last) {
					last = u.last
				}
			}
			h.umu.Unlock()
		}
		if n > 0 && active == 0 && now.Sub(last) >= release && released.Before(last) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			debug.FreeOSMemory()
			runtime.ReadMemStats(&after)
			released = time.Now()
			s.logf("idle for %v with %d connections held: %d KB of free memory returned to the system (in %v)",
				release, n, max(int64(after.HeapReleased)-int64(before.HeapReleased), 0)>>10, released.Sub(now).Round(time.Millisecond))
		}
		s.mu.Lock()
		idle := len(s.runs) == 0 && n == 0 && time.Since(s.idleAt) >= s.Linger
		s.mu.Unlock()
		if idle {
			s.logf("no connection held and no run for %v: exiting", s.Linger)
			s.Stop()
			return
		}
	}
}

// helds returns the connections of every Settings.
func (s *Server) helds() []*held {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*held, 0, len(s.dialers))
	for _, h := range s.dialers {
		out = append(out, h)
	}
	return out
}

// drop closes every held connection to the host a run names alias.
func (s *Server) drop(alias string) []string {
	var out []string
	for _, h := range s.helds() {
		out = append(out, h.dropIf(func(u *use) bool { return strings.EqualFold(u.host.Alias, alias) })...)
	}
	for _, c := range out {
		s.logf("%s (%s): dropped on request", c, alias)
	}
	return out
}

func (s *Server) closeAll() {
	s.mu.Lock()
	ds := s.dialers
	s.dialers = map[Settings]*held{}
	var runs []*run
	for r := range s.runs {
		runs = append(runs, r)
	}
	s.mu.Unlock()
	for _, r := range runs {
		r.c.Close()
	}
	for _, h := range ds {
		h.mu.Lock()
		for _, sp := range h.spares {
			sp.s.Close()
			sp.release()
		}
		h.spares = nil
		h.mu.Unlock()
		h.t.Close()
		closeFwd(h)
	}
}

// warnf sends a warning of a held connection to every run connected: the
// run whose dial caused it is among them.
func (s *Server) warnf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	s.logf("warning: %s", line)
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.runs {
		r.send(frame{0, tWarn, []byte(line)})
	}
}

// heldFor returns the connections of settings, made on first use.
func (s *Server) heldFor(st Settings) *held {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.dialers[st]; ok {
		return h
	}
	h := &held{hops: map[string]*sshconfig.Host{}, spares: map[*transport.Client]*spare{}, uses: map[string]*use{}}
	h.t = s.dialerFor(h, st, true)
	// Secrets.Ask stays nil: the holder never asks, and holds no secret.
	s.dialers[st] = h
	return h
}

// run is one connected loom run.
type run struct {
	s   *Server
	c   net.Conn
	wmu sync.Mutex

	mu       sync.Mutex
	sessions map[uint32]*session

	fw fwdState // relayed channels, agent leases (forward.go)
}

func (r *run) send(f frame) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return writeFrame(r.c, f)
}

func (r *run) fail(id uint32, e Error) { r.send(frame{id, tError, mustJSON(e)}) }

// serveRun checks the peer, exchanges hellos, then serves its streams.
func (s *Server) serveRun(c net.Conn) {
	defer c.Close()
	uid, pid, err := peercred.Of(c)
	if err != nil || uid != os.Getuid() {
		s.logf("refused a connection from uid %d pid %d (%v)", uid, pid, err)
		return
	}
	br := bufio.NewReader(c)
	f, err := readFrame(br)
	var h hello
	if err != nil || f.typ != tHello || json.Unmarshal(f.data, &h) != nil {
		s.logf("pid %d: no hello", pid)
		return
	}
	r := &run{s: s, c: c, sessions: map[uint32]*session{}}
	if err := r.send(frame{0, tHello, mustJSON(hello{Version: Version(), PID: os.Getpid()})}); err != nil {
		return
	}
	if h.Version != Version() {
		s.logf("pid %d speaks %q, not %q: refused", pid, h.Version, Version())
		return
	}
	s.mu.Lock()
	s.runs[r] = struct{}{}
	s.mu.Unlock()
	defer func() {
		// The run went away (it ended, or was killed): its commands go too.
		r.mu.Lock()
		for _, ss := range r.sessions {
			ss.kill()
		}
		r.mu.Unlock()
		r.goneFwd()
		s.mu.Lock()
		delete(s.runs, r)
		s.idleAt = time.Now()
		s.mu.Unlock()
	}()
	for {
		f, err := readFrame(br)
		if err != nil {
			return
		}
		switch f.typ {
		case tStop:
			s.logf("pid %d asked the holder to stop", pid)
			s.Stop()
			return
		case tDrop:
			var d drop
			if err := json.Unmarshal(f.data, &d); err != nil || d.Alias == "" {
				r.fail(f.id, Error{Kind: "holder", Msg: "bad request"})
				continue
			}
			go func(id uint32) {
				r.send(frame{id, tOK, mustJSON(Dropped{Conns: s.drop(d.Alias)})})
			}(f.id)
		case tDial, tOpen:
			var o open
			if err := json.Unmarshal(f.data, &o); err != nil || o.Host == nil {
				r.fail(f.id, Error{Kind: "holder", Msg: "bad request"})
				continue
			}
			ss := &session{r: r, id: f.id, stdin: make(chan []byte, 64), end: make(chan struct{})}
			r.mu.Lock()
			r.sessions[f.id] = ss
			r.mu.Unlock()
			go ss.serve(f.typ, o)
		case tForward, tListen:
			r.openTunnel(f)
		default:
			if r.relayInput(f) {
				continue
			}
			r.mu.Lock()
			ss := r.sessions[f.id]
			r.mu.Unlock()
			if ss != nil {
				ss.input(f)
			}
		}
	}
}

// session is one stream: a dial, or a command on a held connection.
type session struct {
	r     *run
	id    uint32
	stdin chan []byte   // nil data: EOF
	end   chan struct{} // closed when the stream is done

	mu     sync.Mutex
	s      *ssh.Session
	killed bool
}

func (ss *session) input(f frame) {
	switch f.typ {
	case tStdin, tStdinEOF:
		var b []byte
		if f.typ == tStdin {
			b = f.data
			if b == nil {
				b = []byte{}
			}
		}
		select {
		case ss.stdin <- b:
		case <-ss.end:
		}
	case tSignal:
		ss.mu.Lock()
		s := ss.s
		ss.mu.Unlock()
		if s != nil {
			s.Signal(ssh.Signal(f.data))
		}
	case tKill:
		ss.kill()
	}
}

func (ss *session) kill() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.killed = true
	if ss.s != nil {
		ss.s.Close()
	}
}

func (ss *session) done() {
	close(ss.end)
	ss.r.mu.Lock()
	delete(ss.r.sessions, ss.id)
	ss.r.mu.Unlock()
}

// serve dials the target (or takes its held connection) and, for tOpen,
// runs the command.
func (ss *session) serve(typ byte, o open) {
	defer ss.done()
	sanitize(&o)
	s := ss.r.s
	h := s.heldFor(o.Settings)
	h.mu.Lock()
	for _, hop := range o.Hops {
		h.hops[hopKey(hop.Name, hop.Via)] = hop.Host
	}
	h.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tc, err := h.t.Dial(ctx, o.Host)
	if err == nil && o.Agent != 0 {
		tc, err = ss.agentConn(ctx, h, tc, o)
	}
	if err != nil {
		ss.r.fail(ss.id, connectWireError(err))
		return
	}
	defer h.end(h.begin(o.Host, o.Persist))
	if typ == tDial {
		ss.r.send(frame{ss.id, tOK, mustJSON(Dialled{ServerVersion: string(tc.ServerVersion())})})
		return
	}
	sess, release, err := h.take(ctx, tc)
	if err != nil && dead(tc) {
		// Dropped since it was taken: dialled again, once (the dead
		// connection out of the shared table first, so that Dial makes a
		// new one rather than handing the same back).
		tc.Close()
		h.dropDead(ctx, ss.r, tc, o.Host)
		if tc, err = h.t.Dial(ctx, o.Host); err == nil && o.Agent != 0 {
			tc, err = ss.agentConn(ctx, h, tc, o)
		}
		if err == nil {
			sess, release, err = h.take(ctx, tc)
		}
	}
	if err != nil {
		ss.r.fail(ss.id, sessionWireError(tc, err))
		return
	}
	defer release()
	ss.run(ctx, h, tc, sess, o)
}

// dead reports whether tc is gone, after a session could not be opened on
// it: the transport may not have noticed a drop yet, so unless it has, the
// server is asked (a keepalive request), which a dead connection fails.
func dead(tc *transport.Client) bool {
	if tc.Closed() {
		return true
	}
	answered := make(chan error, 1)
	go func() {
		_, _, err := tc.Client.SendRequest("keepalive@openssh.com", true, nil)
		answered <- err
	}()
	select {
	case <-tc.Done():
		return true
	case err := <-answered:
		return err != nil
	case <-time.After(15 * time.Second):
		return true
	}
}

// take returns the connection's spare session channel, or opens one, and
// opens the next spare in the background.
func (h *held) take(ctx context.Context, tc *transport.Client) (*ssh.Session, func(), error) {
	h.mu.Lock()
	sp := h.spares[tc]
	delete(h.spares, tc)
	for c := range h.spares {
		if c.Closed() {
			delete(h.spares, c)
		}
	}
	h.mu.Unlock()
	defer func() { go h.replenish(tc) }()
	if sp != nil {
		return sp.s, sp.release, nil
	}
	return tc.NewSession(ctx)
}

// replenish opens the connection's next spare session, if it has none.
func (h *held) replenish(tc *transport.Client) {
	if tc.Closed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, release, err := tc.NewSession(ctx)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.spares[tc]; ok || h.spares == nil {
		s.Close()
		release()
		return
	}
	h.spares[tc] = &spare{s, release}
}

// run starts the command on sess and streams it until it exits.
func (ss *session) run(ctx context.Context, h *held, tc *transport.Client, sess *ssh.Session, o open) {
	var subOut func() error // a subsystem's output, copied until it ends
	start := func(sess *ssh.Session) (io.WriteCloser, error) {
		if o.Pty != nil {
			modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
			if err := sess.RequestPty(o.Pty.Term, o.Pty.Height, o.Pty.Width, modes); err != nil {
				return nil, fmt.Errorf("pty request refused: %w", err)
			}
		}
		if o.Subsystem == "" {
			// As ssh sends them: no reply is waited for.
			for _, e := range o.Env {
				sess.SendRequest("env", false, ssh.Marshal(&struct{ Name, Value string }{e.Name, e.Value}))
			}
		}
		in, err := sess.StdinPipe()
		if err != nil {
			return nil, err
		}
		if o.Agent != 0 {
			h.requestAgent(ss.r, tc, sess)
		}
		if o.Subsystem == "" {
			sess.Stdout = streamWriter{ss, tStdout}
			sess.Stderr = streamWriter{ss, tStderr}
			return in, sess.Start(o.Cmd)
		}
		// A subsystem's session is not Started (x/crypto): its output
		// is copied here, and it ends when its channel does.
		out, err := sess.StdoutPipe()
		if err != nil {
			return nil, err
		}
		errs, err := sess.StderrPipe()
		if err != nil {
			return nil, err
		}
		if err := sess.RequestSubsystem(o.Subsystem); err != nil {
			return nil, err
		}
		subOut = func() error {
			go io.Copy(streamWriter{ss, tStderr}, errs)
			_, err := io.Copy(streamWriter{ss, tStdout}, out)
			return err
		}
		return in, nil
	}
	in, err := start(sess)
	if err != nil {
		// A spare the server closed while it waited, or a connection that
		// dropped since it was taken (not noticed yet): once more, on a
		// fresh channel or on a connection dialled again.
		sess.Close()
		if dead(tc) {
			tc.Close()
			h.dropDead(ctx, ss.r, tc, o.Host)
			tc, err = h.t.Dial(ctx, o.Host)
			if err == nil && o.Agent != 0 {
				tc, err = ss.agentConn(ctx, h, tc, o)
			}
		}
		var release func()
		if err == nil {
			if sess, release, err = tc.NewSession(ctx); err == nil {
				defer release()
				in, err = start(sess)
			}
		}
	}
	if err != nil {
		if sess != nil {
			sess.Close()
		}
		ss.r.fail(ss.id, sessionWireError(tc, err))
		return
	}
	ss.mu.Lock()
	ss.s = sess
	killed := ss.killed
	ss.mu.Unlock()
	if killed {
		sess.Close()
	}
	ss.r.send(frame{ss.id, tOK, nil})
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case b := <-ss.stdin:
				if b == nil {
					in.Close()
					return
				}
				in.Write(b)
			case <-stop:
				return
			}
		}
	}()
	if subOut != nil {
		err = subOut()
	} else {
		err = sess.Wait()
	}
	close(stop)
	sess.Close()
	ss.r.send(frame{ss.id, tExit, mustJSON(exitOf(tc, err))})
}

// exitOf says how a command ended, as sshRunner's wait reads it.
func exitOf(tc *transport.Client, err error) Exit {
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return Exit{}
	case errors.As(err, &ee):
		if sig := ee.Signal(); sig != "" {
			return Exit{Code: -1, Signal: strings.TrimPrefix(sig, "SIG")}
		}
		return Exit{Code: ee.ExitStatus()}
	}
	select {
	case <-tc.Done():
	case <-time.After(50 * time.Millisecond):
		// The connection is alive: the channel ended without an exit
		// status (or with one x/crypto could not read).
		return Exit{Code: -1, NoStatus: true}
	}
	why := "connection lost"
	if d := tc.DeadErr(); d != nil {
		why = d.Error()
	}
	return Exit{Code: -1, Lost: why}
}

// streamWriter sends a command's output as frames.
type streamWriter struct {
	ss  *session
	typ byte
}

func (w streamWriter) Write(b []byte) (int, error) {
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		if err := w.ss.r.send(frame{w.ss.id, w.typ, append([]byte(nil), rest[:n]...)}); err != nil {
			return 0, err
		}
		rest = rest[n:]
	}
	return len(b), nil
}

func connectWireError(err error) Error {
	var ce *transport.ConnectError
	if errors.As(err, &ce) {
		msg := err.Error()
		if ce.Err != nil {
			msg = ce.Err.Error()
		}
		return Error{Kind: "connect", Reason: int(ce.Reason), Host: ce.Host, Addr: ce.Addr, Via: ce.Via, Msg: msg}
	}
	return Error{Kind: "holder", Msg: err.Error()}
}

func sessionWireError(tc *transport.Client, err error) Error {
	if tc != nil && tc.Closed() {
		return Error{Kind: "lost", Msg: err.Error()}
	}
	return Error{Kind: "session", Msg: err.Error()}
}

// Listen prepares dir, takes the holder's lock (ok false: another holder
// has it) and listens on its socket, replacing a stale one.
func Listen(dir string) (ln net.Listener, lock *os.File, ok bool, err error) {
	if err := PrepareDir(dir); err != nil {
		return nil, nil, false, err
	}
	lock, ok, err = lockFile(filepath.Join(dir, LockName))
	if err != nil || !ok {
		return nil, nil, false, err
	}
	sock := filepath.Join(dir, SocketName)
	// Holding the lock, any socket left is a dead holder's.
	if fi, err := os.Lstat(sock); err == nil && fi.Mode().Type() == os.ModeSocket {
		os.Remove(sock)
	}
	ln, err = net.Listen("unix", sock)
	if err != nil {
		lock.Close()
		return nil, nil, false, err
	}
	os.Chmod(sock, 0o600)
	return ln, lock, true, nil
}
