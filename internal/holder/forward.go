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

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/transport"
)

// Agent forwarding and tunnels through the holder: the channels a run
// relays through a held connection, each one stream of the run's.
//
// Agent forwarding. A run that forwards its agent to a host says so in
// Target.Agent. Its connections are held apart from the others
// (Settings.ForwardAgent): sshd grants auth-agent-req once per connection
// and then sets SSH_AUTH_SOCK in every later session of it, so a
// connection that forwarded once must never serve a run that did not ask.
// The holder never talks to an agent itself. It sends auth-agent-req on
// the first session of the connection, and relays each agent channel the
// host opens as a stream to the one run that forwards on the connection
// (its lease, until that run goes away), which serves it with its own
// filtering agent (policy, confirmation and audit per host and per run,
// as on a direct connection). With no such run connected, agent channels
// are refused. OpenSSH cannot tell which session an agent channel comes
// from, so two runs never forward on one connection at the same time: a
// second run that forwards to a host while another holds the host's
// forwarding connection gets a connection of its own, dialled for it and
// closed when it goes away (a login, as a direct run).
//
// Tunnels. A local forward's connection is a direct-tcpip channel relayed
// as a stream (tForward); a remote forward is a tcpip-forward request on
// the held connection (tListen), whose forwarded-tcpip channels are
// relayed to the run that asked as streams (tAccept), and which is
// cancelled when that run closes it or goes away.

// relay is one relayed channel on the holder's side: an agent channel or
// a TCP connection through the host (conn), or a listener on it (ln).
type relay struct {
	r   *run
	id  uint32
	in  *pipe  // what the run sent, written to conn
	out window // what was sent to the run and not yet read there

	mu     sync.Mutex
	conn   io.ReadWriteCloser
	ln     net.Listener
	closed bool
	inDone bool // the run sent EOF, or writing failed
	ending bool // the run closed it: what it sent is written, then it closes
	outEOF bool // conn's reading ended
	onEnd  func()
}

// agentState is a forwarding connection's agent relay: whether the
// forwarding was asked for, and which run's agent gets its channels.
type agentState struct {
	mu      sync.Mutex
	owner   *run // nil: no run forwards on it now, channels are refused
	agent   uint32
	own     bool // a connection dialled for its owner alone
	asked   bool
	refused bool
	warned  map[*run]bool
	open    int // agent channels relayed now
}

// maxAgentChannels caps the agent channels relayed at once on one
// connection, as a direct connection's (agentfwd): a host opening more is
// refused.
const maxAgentChannels = 64

// fwdState is what a run has of relays: its streams, its agent leases
// and the connections dialled for it alone.
type fwdState struct {
	mu     sync.Mutex
	next   uint32
	relays map[uint32]*relay
	leases []*agentState
	own    map[string]*transport.Client
	gone   bool // the run went away: nothing new is taken for it

	dialMu sync.Mutex // one dial of an own connection at a time
}

// agentsOf is what h has of forwarding connections.
type agentsOf struct {
	mu     sync.Mutex
	agents map[*transport.Client]*agentState
	own    *transport.Dialer // dials connections of one run alone
}

// agentsFor is what h has of forwarding connections, made on first use.
func agentsFor(h *held) *agentsOf {
	h.fwdOnce.Do(func() { h.fwd = &agentsOf{agents: map[*transport.Client]*agentState{}} })
	return h.fwd
}

// sanitize makes the request one the holder can serve safely: its own
// transport never forwards an agent (the run's filter does, through the
// relay), and a forwarding run's connections are held apart.
func sanitize(o *open) {
	if o.Host != nil && (o.Host.ForwardAgent || o.Host.ForwardAgentSocket != "") {
		hc := *o.Host
		hc.ForwardAgent, hc.ForwardAgentSocket = false, ""
		o.Host = &hc
	}
	o.Settings.ForwardAgent = o.Agent != 0
}

// agentConn returns the connection the run's forwarding session takes:
// tc, with the run as the one its agent channels go to, or, when another
// run forwards on tc now, a connection of the run's own.
func (ss *session) agentConn(ctx context.Context, h *held, tc *transport.Client, o open) (*transport.Client, error) {
	return ss.r.agentConn(ctx, h, tc, o)
}

func (r *run) agentConn(ctx context.Context, h *held, tc *transport.Client, o open) (*transport.Client, error) {
	st := agentsFor(h).state(r.s, tc)
	st.mu.Lock()
	switch {
	case st.owner == nil && !st.own:
		st.owner, st.agent = r, o.Agent
		st.mu.Unlock()
		f := &r.fw
		f.mu.Lock()
		gone := f.gone
		if !gone {
			f.leases = append(f.leases, st)
		}
		f.mu.Unlock()
		if gone {
			st.release(r)
			return nil, errors.New("the run went away")
		}
		return tc, nil
	case st.owner == r && st.agent == o.Agent:
		st.mu.Unlock()
		return tc, nil
	}
	st.mu.Unlock()
	return r.ownConn(ctx, h, o)
}

// release ends r's lease: the connection's agent channels are refused
// until another run forwards on it.
func (st *agentState) release(r *run) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.owner == r {
		st.owner, st.agent = nil, 0
	}
	delete(st.warned, r)
}

// state returns tc's agent relay, serving its agent channels from now on.
func (a *agentsOf) state(s *Server, tc *transport.Client) *agentState {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.agents[tc]; st != nil {
		return st
	}
	st := &agentState{warned: map[*run]bool{}}
	a.agents[tc] = st
	if chans := tc.Client.HandleChannelOpen("auth-agent@openssh.com"); chans != nil {
		go a.serveAgent(s, tc, st, chans)
	}
	return st
}

// serveAgent relays each agent channel the host opens on tc to the run
// that forwards on it, and refuses it when none does.
func (a *agentsOf) serveAgent(s *Server, tc *transport.Client, st *agentState, chans <-chan ssh.NewChannel) {
	for nc := range chans {
		st.mu.Lock()
		r, id, full := st.owner, st.agent, st.open >= maxAgentChannels
		if r != nil && !full {
			st.open++
		}
		st.mu.Unlock()
		switch {
		case r == nil:
			nc.Reject(ssh.Prohibited, "no run forwards its agent on this connection now")
			s.logf("%s: an agent channel with no run forwarding on the connection: refused", tc.Host.Alias)
			continue
		case full:
			nc.Reject(ssh.ResourceShortage, "too many agent connections")
			s.logf("%s: more than %d agent channels at once: refused", tc.Host.Alias, maxAgentChannels)
			continue
		}
		done := func() { st.mu.Lock(); st.open--; st.mu.Unlock() }
		ch, reqs, err := nc.Accept()
		if err != nil {
			done()
			continue
		}
		go ssh.DiscardRequests(reqs)
		r.startRelay(ch, tAgentOpen, agentOpen{Agent: id}, done)
	}
	a.mu.Lock()
	delete(a.agents, tc)
	a.mu.Unlock()
}

// ownConn returns the connection dialled for r alone to o's host, dialling
// it the first time.
func (r *run) ownConn(ctx context.Context, h *held, o open) (*transport.Client, error) {
	a := agentsFor(h)
	a.mu.Lock()
	if a.own == nil {
		a.own = r.s.dialerFor(h, o.Settings, false)
	}
	d := a.own
	a.mu.Unlock()
	f := &r.fw
	f.dialMu.Lock()
	defer f.dialMu.Unlock()
	k := fmt.Sprintf("%d %s", o.Agent, hostKey(o.Host))
	f.mu.Lock()
	tc := f.own[k]
	f.mu.Unlock()
	if tc != nil && !tc.Closed() {
		return tc, nil
	}
	r.s.logf("%s: another run forwards its agent on the held connection: dialling one for this run alone", o.Host.Alias)
	tc, err := d.Dial(ctx, o.Host)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	gone := f.gone
	if !gone {
		if f.own == nil {
			f.own = map[string]*transport.Client{}
		}
		f.own[k] = tc
	}
	f.mu.Unlock()
	if gone {
		tc.Close()
		return nil, errors.New("the run went away")
	}
	st := a.state(r.s, tc)
	st.mu.Lock()
	st.owner, st.agent, st.own = r, o.Agent, true
	st.mu.Unlock()
	return tc, nil
}

// dropDead forgets host's shared connection after tc, found dead, was
// closed, so that the next Dial makes a new one; unless tc was one
// dialled for r alone (the shared one may be well, and busy).
func (h *held) dropDead(ctx context.Context, r *run, tc *transport.Client, host *sshconfig.Host) {
	r.fw.mu.Lock()
	own := false
	for _, c := range r.fw.own {
		own = own || c == tc
	}
	r.fw.mu.Unlock()
	if !own {
		h.t.DropTarget(ctx, host)
	}
}

// dialerFor is a transport Dialer with st's settings for the held
// connections of h (share: targets shared, one connection per host) or
// for the connections of one run alone (not shared). Its Secrets.Ask
// stays nil: the holder never asks, and holds no secret.
func (s *Server) dialerFor(h *held, st Settings, share bool) *transport.Dialer {
	return &transport.Dialer{
		HostKeyPolicy:    st.HostKeyPolicy,
		ConnectTimeout:   st.ConnectTimeout,
		HandshakeTimeout: st.HandshakeTimeout,
		MaxSessions:      st.MaxSessions,
		Retries:          st.Retries,
		AgentSocket:      st.AgentSocket,
		ShareTargets:     share,
		Logf:             s.Logf,
		Warnf:            s.warnf,
		Resolve: func(hop string, via []string) (*sshconfig.Host, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if r, ok := h.hops[hopKey(hop, via)]; ok {
				return r, nil
			}
			return nil, fmt.Errorf("jump host %s was not resolved by the run", hop)
		},
	}
}

// requestAgent asks the host, once per connection, to forward the agent
// on sess (sshd grants it once, and later sessions see the same
// SSH_AUTH_SOCK); sessions started while it is asked wait for it. A host
// that refuses is said to each run that forwards on it.
func (h *held) requestAgent(r *run, tc *transport.Client, sess *ssh.Session) {
	st := agentsFor(h).state(r.s, tc)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.asked {
		st.asked = true
		st.refused = agent.RequestAgentForwarding(sess) != nil
	}
	if st.refused && !st.warned[r] {
		st.warned[r] = true
		r.send(frame{0, tWarn, []byte(tc.Host.Alias + ": the server refused agent forwarding (AllowAgentForwarding no?); commands run without the agent")})
	}
}

// goneFwd ends r's relays, leases and own connections: a run that goes
// away takes its agent, its tunnels and its remote listeners with it.
func (r *run) goneFwd() {
	f := &r.fw
	f.mu.Lock()
	f.gone = true
	leases, own := f.leases, f.own
	relays := make([]*relay, 0, len(f.relays))
	for _, rl := range f.relays {
		relays = append(relays, rl)
	}
	f.leases, f.own = nil, nil
	f.mu.Unlock()
	for _, st := range leases {
		st.release(r)
	}
	for _, rl := range relays {
		rl.close(false)
	}
	for _, tc := range own {
		tc.Close()
	}
}

// closeFwd closes h's connections dialled for one run alone (the holder
// is ending).
func closeFwd(h *held) {
	a := agentsFor(h)
	a.mu.Lock()
	d := a.own
	a.mu.Unlock()
	if d != nil {
		d.Close()
	}
}

// newRelay registers a relay of r under id (0: a new holder stream id).
func (r *run) newRelay(id uint32) *relay {
	f := &r.fw
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.relays == nil {
		f.relays = map[uint32]*relay{}
	}
	if id == 0 {
		f.next++
		id = holderStream | f.next
	}
	rl := &relay{r: r, id: id, in: newPipe()}
	if f.gone {
		rl.closed = true
		return rl
	}
	f.relays[id] = rl
	return rl
}

// startRelay relays conn as a new stream of the holder's, announced with
// a typ frame carrying hdr.
func (r *run) startRelay(conn io.ReadWriteCloser, typ byte, hdr any, onEnd func()) {
	rl := r.newRelay(0)
	rl.mu.Lock()
	closed := rl.closed
	rl.conn, rl.onEnd = conn, onEnd
	rl.mu.Unlock()
	if closed || r.send(frame{rl.id, typ, mustJSON(hdr)}) != nil {
		rl.close(false)
		return
	}
	rl.pump()
}

// pump copies both ways between the run's stream and conn.
func (rl *relay) pump() {
	rl.mu.Lock()
	conn := rl.conn
	rl.mu.Unlock()
	if conn == nil {
		return
	}
	go func() {
		_, err := io.Copy(conn, ackReader{rl.in, func(n int) { rl.r.send(ackFrame(rl.id, n)) }})
		if err == nil {
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}
		rl.mu.Lock()
		rl.inDone = true
		both, ending := rl.outEOF, rl.ending
		rl.mu.Unlock()
		switch {
		case ending:
			rl.close(false)
		case err != nil || both:
			rl.close(true)
		}
	}()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				if !rl.out.take(n) || rl.r.send(frame{rl.id, tData, append([]byte(nil), buf[:n]...)}) != nil {
					rl.close(false)
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					rl.close(true)
					return
				}
				rl.r.send(frame{rl.id, tEOF, nil})
				rl.mu.Lock()
				rl.outEOF = true
				both := rl.inDone
				rl.mu.Unlock()
				if both {
					rl.close(true)
				}
				return
			}
		}
	}()
}

// close ends the relay; tell says whether the run is to be told.
func (rl *relay) close(tell bool) {
	rl.mu.Lock()
	if rl.closed && rl.conn == nil && rl.ln == nil && rl.onEnd == nil {
		rl.mu.Unlock()
		return
	}
	rl.closed = true
	conn, ln, onEnd := rl.conn, rl.ln, rl.onEnd
	rl.conn, rl.ln, rl.onEnd = nil, nil, nil
	rl.mu.Unlock()
	rl.in.closeWith(io.ErrClosedPipe)
	rl.out.close()
	if ln != nil {
		ln.Close() // cancel-tcpip-forward
	}
	if conn != nil {
		conn.Close()
	}
	if onEnd != nil {
		onEnd()
	}
	f := &rl.r.fw
	f.mu.Lock()
	if f.relays[rl.id] == rl {
		delete(f.relays, rl.id)
	}
	f.mu.Unlock()
	if tell {
		rl.r.send(frame{rl.id, tClose, nil})
	}
}

// relayInput takes a frame of one of r's relays; it reports whether f
// was one.
func (r *run) relayInput(f frame) bool {
	if f.typ != tData && f.typ != tEOF && f.typ != tClose && f.typ != tAck {
		return false
	}
	r.fw.mu.Lock()
	rl := r.fw.relays[f.id]
	r.fw.mu.Unlock()
	if rl == nil {
		return true // closed already
	}
	switch f.typ {
	case tData:
		if rl.in.buffered()+len(f.data) > 2*relayWindow {
			r.s.logf("a run sent more than the window on relayed channel %d: closed", f.id)
			rl.close(true)
			return true
		}
		rl.in.Write(f.data)
	case tAck:
		rl.out.give(acked(f))
	case tEOF:
		rl.in.closeWith(io.EOF)
	case tClose:
		// What the run sent before it closed is written first, as a
		// closed TCP connection's data is delivered.
		rl.mu.Lock()
		pumping := rl.conn != nil && !rl.inDone
		rl.ending = true
		rl.mu.Unlock()
		if !pumping {
			rl.close(false)
			return true
		}
		rl.in.closeWith(io.EOF)
	}
	return true
}

// openTunnel serves a tForward or tListen request of r's.
func (r *run) openTunnel(f frame) {
	var t tunnel
	if err := json.Unmarshal(f.data, &t); err != nil || t.Host == nil || t.Addr == "" {
		r.fail(f.id, Error{Kind: "holder", Msg: "bad request"})
		return
	}
	rl := r.newRelay(f.id)
	go func() {
		o := open{Target: t.Target}
		sanitize(&o)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		h, tc, err := r.heldConn(ctx, &o)
		if err != nil {
			rl.close(false)
			r.fail(f.id, connectWireError(err))
			return
		}
		var (
			conn net.Conn
			ln   net.Listener
		)
		try := func() error {
			var err error
			if f.typ == tForward {
				conn, err = tc.Client.DialContext(ctx, "tcp", t.Addr)
			} else {
				ln, err = tc.Client.Listen("tcp", t.Addr)
			}
			return err
		}
		if err = try(); err != nil && dead(tc) {
			tc.Close()
			h.dropDead(ctx, r, tc, o.Host)
			if tc, err = h.t.Dial(ctx, o.Host); err == nil && o.Agent != 0 {
				tc, err = r.agentConn(ctx, h, tc, o)
			}
			if err == nil {
				err = try()
			}
		}
		if err != nil {
			rl.close(false)
			r.fail(f.id, sessionWireError(tc, err))
			return
		}
		k := h.begin(o.Host, o.Persist)
		end := func() { h.end(k) }
		rl.mu.Lock()
		closed := rl.closed
		if !closed {
			rl.onEnd = end
			if conn != nil {
				rl.conn = conn
			} else {
				rl.ln = ln
			}
		}
		rl.mu.Unlock()
		if closed { // the run closed it, or went away, meanwhile
			end()
			if conn != nil {
				conn.Close()
			} else {
				ln.Close()
			}
			return
		}
		if conn != nil {
			r.send(frame{f.id, tOK, nil})
			rl.pump()
			return
		}
		r.send(frame{f.id, tOK, mustJSON(Listening{Addr: ln.Addr().String()})})
		for {
			c, err := ln.Accept()
			if err != nil {
				rl.close(true)
				return
			}
			r.startRelay(c, tAccept, accepted{Listener: f.id, Remote: c.RemoteAddr().String()}, nil)
		}
	}()
}

// heldConn returns o's held connection, as a session would take it.
func (r *run) heldConn(ctx context.Context, o *open) (*held, *transport.Client, error) {
	h := r.s.heldFor(o.Settings)
	h.mu.Lock()
	for _, hop := range o.Hops {
		h.hops[hopKey(hop.Name, hop.Via)] = hop.Host
	}
	h.mu.Unlock()
	tc, err := h.t.Dial(ctx, o.Host)
	if err == nil && o.Agent != 0 {
		tc, err = r.agentConn(ctx, h, tc, *o)
	}
	return h, tc, err
}

// Runs reports how many runs are connected to the holder now.
func (s *Server) Runs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs)
}
