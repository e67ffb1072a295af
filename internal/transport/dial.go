package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/agentfwd"
	"github.com/loomssh/loom/internal/hostkey"
	"github.com/loomssh/loom/internal/sshconfig"
)

// Defaults used when neither ssh_config nor the caller says otherwise.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultHandshakeTimeout = 20 * time.Second
	// OpenSSH sends no keepalives unless ServerAliveInterval is set. Loom
	// does, so that a host that dies mid-run fails in under a minute instead
	// of hanging the run until TCP gives up hours later.
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultKeepaliveCountMax = 3
	// DefaultMaxSessions stays below sshd's MaxSessions (10).
	DefaultMaxSessions = 8
	// maxAgentConns caps connections to the local ssh-agent held at once.
	maxAgentConns = 64
	maxJumpDepth  = 8
)

// Dialer opens connections for one run and holds what they share: secrets
// asked once, key files read once, known_hosts databases, jump connections.
// Set its fields before the first Dial; it is safe for concurrent use.
type Dialer struct {
	// Secrets holds login passwords and key passphrases; its Ask asks the user.
	Secrets Secrets
	// Signers are in-memory keys offered after the IdentityFile keys.
	Signers []ssh.Signer
	// AgentSocket overrides $SSH_AUTH_SOCK.
	AgentSocket string
	// HostKeyPolicy overrides StrictHostKeyChecking from ssh_config when set
	// ("yes", "accept-new" or "no").
	HostKeyPolicy string
	// ConnectTimeout is used when ssh_config sets no ConnectTimeout.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds the SSH handshake (key exchange and
	// authentication, not counting time spent waiting at a prompt).
	HandshakeTimeout time.Duration
	// MaxSessions caps sessions open at once on one connection.
	MaxSessions int
	// MaxHandshakes caps connections being set up (TCP connect, key
	// exchange, authentication) at once across the run; 0 means no cap.
	MaxHandshakes int
	// Retries is how many times a refused or timed-out connection is
	// tried again. Handshakes the server drops early are always retried.
	Retries int
	// ForwardAgent forwards the local agent (through a filter that only
	// lists and signs) to every target; ssh_config ForwardAgent enables it
	// per host. AgentKeys narrows the keys the remote may use (fingerprints
	// or comment globs), AgentHosts the targets that get it (globs).
	ForwardAgent bool
	AgentKeys    []string
	AgentHosts   []string
	// AgentConns caps connections to the local agent for forwarded
	// requests (default 16), so hundreds of hosts signing at once wait
	// their turn instead of exhausting the agent.
	AgentConns int
	// OnAgentEvent receives every request a remote made of the forwarded agent.
	OnAgentEvent func(agentfwd.Event)
	// Resolve resolves a ProxyJump hop; via is the rest of the chain in
	// front of it (nil: use the hop's own ssh_config).
	Resolve func(hop string, via []string) (*sshconfig.Host, error)
	// Logf receives verbose diagnostics (-v). Nil discards them.
	Logf func(format string, args ...any)
	// Warnf receives warnings that should be shown even without -v.
	Warnf func(format string, args ...any)

	initOnce   sync.Once
	agentSlots chan struct{}
	handshakes chan struct{}

	mu        sync.Mutex
	warned    map[string]bool // warnings given once per run
	keys      map[string]*keyFile
	dbs       map[string]*hostkey.DB
	jumps     map[string]*jump
	upstreams map[string]*agentfwd.Upstream
}

// jump is a shared connection to a jump host.
type jump struct {
	mu     sync.Mutex
	client *Client
}

func (d *Dialer) init() {
	d.initOnce.Do(func() {
		d.agentSlots = make(chan struct{}, maxAgentConns)
		if d.MaxHandshakes > 0 {
			d.handshakes = make(chan struct{}, d.MaxHandshakes)
		}
	})
}

func (d *Dialer) logf(format string, args ...any) {
	if d.Logf != nil {
		d.Logf(format, args...)
	}
}

func (d *Dialer) warnf(format string, args ...any) {
	if d.Warnf != nil {
		d.Warnf(format, args...)
	} else {
		d.logf(format, args...)
	}
}

// Dial connects to h (through its ProxyJump chain, if any) and authenticates.
func (d *Dialer) Dial(ctx context.Context, h *sshconfig.Host) (*Client, error) {
	d.init()
	c, err := d.dial(ctx, h, 0)
	if err == nil && d.forwardTo(h) {
		d.setupForwarding(c, h)
	}
	return c, err
}

func (d *Dialer) dial(ctx context.Context, h *sshconfig.Host, depth int) (*Client, error) {
	if depth > maxJumpDepth {
		return nil, &ConnectError{Host: h.Alias, Addr: h.Addr(), Reason: Protocol, Err: errors.New("ProxyJump chain too long (a loop in ssh_config?)")}
	}
	var via *Client
	if n := len(h.ProxyJump); n > 0 {
		if d.Resolve == nil {
			return nil, &ConnectError{Host: h.Alias, Addr: h.Addr(), Reason: Protocol, Err: errors.New("ProxyJump given but no resolver")}
		}
		hop, err := d.Resolve(h.ProxyJump[n-1], h.ProxyJump[:n-1])
		if err != nil {
			return nil, &ConnectError{Host: h.Alias, Addr: h.Addr(), Reason: Protocol, Err: fmt.Errorf("jump host %s: %w", h.ProxyJump[n-1], err)}
		}
		if via, err = d.jumpClient(ctx, hop, depth); err != nil {
			return nil, err
		}
	}
	return d.connectRetry(ctx, h, via)
}

// connectRetry connects, holding a handshake slot, and retries what is
// worth retrying: a handshake the server dropped before it began (sshd's
// MaxStartups drops connections at random when many start at once) always,
// with backoff and jitter; refused and timed-out connects Retries times.
func (d *Dialer) connectRetry(ctx context.Context, h *sshconfig.Host, via *Client) (*Client, error) {
	backoff := 100 * time.Millisecond
	dropped, failed := 0, 0
	for {
		if d.handshakes != nil {
			select {
			case d.handshakes <- struct{}{}:
			case <-ctx.Done():
				return nil, &ConnectError{Host: h.Alias, Addr: h.Addr(), Reason: Timeout, Err: ctx.Err()}
			}
		}
		c, err := d.connect(ctx, h, via)
		if d.handshakes != nil {
			<-d.handshakes
		}
		if err == nil || ctx.Err() != nil {
			return c, err
		}
		var ce *ConnectError
		errors.As(err, &ce)
		switch {
		case ce != nil && ce.Reason == Protocol && droppedEarly(ce.Err) && dropped < maxDropRetries:
			dropped++
		case ce != nil && (ce.Reason == Unreachable || ce.Reason == Timeout) && failed < max(d.Retries, h.ConnectionAttempts-1):
			failed++
		default:
			return nil, err
		}
		d.logf("%s: %v; retrying in %v", h.Alias, err, backoff)
		jitter := time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-time.After(backoff/2 + jitter):
		case <-ctx.Done():
			return nil, err
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

// maxDropRetries bounds retries of handshakes the server dropped.
const maxDropRetries = 8

// droppedEarly reports a connection the server closed before or during key
// exchange: what MaxStartups (or a server briefly out of resources) does.
func droppedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)
}

// jumpClient returns the shared connection to hop, dialing it on first use
// or when the previous one died.
func (d *Dialer) jumpClient(ctx context.Context, hop *sshconfig.Host, depth int) (*Client, error) {
	key := hop.User + "@" + hop.Addr() + " via " + strings.Join(hop.ProxyJump, ",")
	d.mu.Lock()
	if d.jumps == nil {
		d.jumps = make(map[string]*jump)
	}
	j, ok := d.jumps[key]
	if !ok {
		j = &jump{}
		d.jumps[key] = j
	}
	d.mu.Unlock()

	j.mu.Lock()
	defer j.mu.Unlock()
	if j.client != nil && !j.client.Closed() {
		return j.client, nil
	}
	c, err := d.dial(ctx, hop, depth+1)
	if err != nil {
		return nil, err
	}
	c.shared = true
	j.client = c
	return c, nil
}

// Close closes the jump connections and agent connections of the run.
func (d *Dialer) Close() error {
	d.mu.Lock()
	jumps, ups := d.jumps, d.upstreams
	d.jumps, d.upstreams = nil, nil
	d.mu.Unlock()
	for _, u := range ups {
		u.Close()
	}
	for _, j := range jumps {
		j.mu.Lock()
		if j.client != nil {
			j.client.closeNow()
		}
		j.mu.Unlock()
	}
	return nil
}

// hostKeys returns the run's known_hosts database for this set of files,
// RevokedHostKeys files and HashKnownHosts.
func (d *Dialer) hostKeys(h *sshconfig.Host) (*hostkey.DB, error) {
	key := fmt.Sprintf("%q %q %q %v", h.UserKnownHostsFiles, h.GlobalKnownHostsFiles, h.RevokedHostKeys, h.HashKnownHosts)
	d.mu.Lock()
	defer d.mu.Unlock()
	if db, ok := d.dbs[key]; ok {
		return db, nil
	}
	db, err := hostkey.OpenWith(h.UserKnownHostsFiles, h.GlobalKnownHostsFiles, hostkey.Options{
		RevokedHostKeys: h.RevokedHostKeys,
		HashKnownHosts:  h.HashKnownHosts,
	})
	if err != nil {
		return nil, err
	}
	if d.dbs == nil {
		d.dbs = make(map[string]*hostkey.DB)
	}
	d.dbs[key] = db
	return db, nil
}

// connect opens the TCP connection (directly, or as a direct-tcpip channel
// through via) and runs the SSH handshake under a deadline.
func (d *Dialer) connect(ctx context.Context, h *sshconfig.Host, via *Client) (*Client, error) {
	addr := h.Addr()
	fail := func(r Reason, err error) (*Client, error) {
		ce := &ConnectError{Host: h.Alias, Addr: addr, Reason: r, Err: err}
		if via != nil {
			ce.Via = via.Host.Alias
		}
		return nil, ce
	}

	policy := h.StrictHostKeyChecking
	if d.HostKeyPolicy != "" {
		policy = d.HostKeyPolicy
	}
	pol, err := hostkey.ParsePolicy(policy)
	if err != nil {
		return fail(Protocol, err)
	}
	db, err := d.hostKeys(h)
	if err != nil {
		return fail(HostKey, err)
	}
	// known_hosts is searched for HostKeyAlias as it is (no port, as ssh
	// does), else for the host name, as [name]:port when the port is not 22.
	name, port := h.HostName, h.Port
	if h.HostKeyAlias != "" {
		name, port = h.HostKeyAlias, 22
	}
	hostCB, algos := db.Callback(name, port, pol, func(msg string) { d.warnf("%s: %s", h.Alias, msg) })

	if via != nil {
		d.logf("%s: dialing %s through %s", h.Alias, addr, via.Host.Alias)
	}
	d.logf("%s: host key check %s for %q in %s; algorithms %v", h.Alias, pol, name, strings.Join(h.UserKnownHostsFiles, ", "), algos)
	connectTimeout := h.ConnectTimeout
	if connectTimeout == 0 {
		connectTimeout = d.ConnectTimeout
	}
	if connectTimeout == 0 {
		connectTimeout = DefaultConnectTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	var conn net.Conn
	if via != nil {
		conn, err = via.DialContext(dctx, "tcp", addr)
	} else {
		var nd net.Dialer
		conn, err = nd.DialContext(dctx, "tcp", addr)
	}
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return fail(Timeout, ctx.Err())
		}
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return fail(Timeout, fmt.Errorf("no answer within %v", connectTimeout))
		}
		return fail(Unreachable, err)
	}

	hsTimeout := d.HandshakeTimeout
	if hsTimeout == 0 {
		hsTimeout = DefaultHandshakeTimeout
	}
	if hsTimeout < connectTimeout {
		hsTimeout = connectTimeout
	}
	// The deadline covers banner, key exchange and authentication; it is
	// lifted while a prompt waits for the user, and the handshake is also
	// abandoned when ctx ends.
	var dlMu sync.Mutex
	setDeadline := func() { dlMu.Lock(); conn.SetDeadline(time.Now().Add(hsTimeout)); dlMu.Unlock() }
	pause := func() func() {
		dlMu.Lock()
		conn.SetDeadline(time.Time{})
		dlMu.Unlock()
		return setDeadline
	}
	setDeadline()
	stop := context.AfterFunc(ctx, func() { conn.Close() })

	ag, closeAgent, err := d.agentFor(ctx, h)
	if err != nil {
		stop()
		conn.Close()
		return fail(Timeout, err)
	}
	alog := &authLog{}
	cfg := &ssh.ClientConfig{
		User:              h.User,
		Auth:              d.authMethods(ctx, h, ag, pause, alog),
		AuthCallback:      alog.callback,
		HostKeyCallback:   hostCB,
		HostKeyAlgorithms: algos,
		BannerCallback:    func(string) error { return nil },
		ClientVersion:     "SSH-2.0-Loom",
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	closeAgent()
	if !stop() { // ctx ended during the handshake
		if sc != nil {
			sc.Close()
		}
		return fail(Timeout, ctx.Err())
	}
	if err != nil {
		return fail(classify(err, hsTimeout, alog.failure(h.User, err)))
	}
	conn.SetDeadline(time.Time{})

	maxSess := d.MaxSessions
	if maxSess <= 0 {
		maxSess = DefaultMaxSessions
	}
	c := &Client{
		Client:   ssh.NewClient(sc, chans, reqs),
		Host:     h,
		Via:      via,
		sessions: make(chan struct{}, maxSess),
		done:     make(chan struct{}),
	}
	go func() {
		err := c.Client.Wait()
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			// Keep x/crypto's reason (a protocol error, say) unless Loom
			// closed the connection itself (keepalive).
			c.deadMu.Lock()
			if c.deadErr == nil {
				c.deadErr = fmt.Errorf("connection to %s lost: %v", h.Alias, cleanErr(err))
			}
			c.deadMu.Unlock()
		}
		c.markClosed()
	}()
	interval, count := h.ServerAliveInterval, h.ServerAliveCountMax
	if interval == 0 {
		interval = DefaultKeepaliveInterval
	}
	if count <= 0 {
		count = DefaultKeepaliveCountMax
	}
	go c.keepalive(interval, count)
	d.logf("%s: connected to %s as %s", h.Alias, addr, h.User)
	return c, nil
}

// classify maps a handshake error to a Reason. auth is the authentication
// failure the handshake ended with, if it ended in authentication.
func classify(err error, hsTimeout time.Duration, auth *AuthError) (Reason, error) {
	var hk *hostkey.Error
	switch {
	case errors.As(err, &hk):
		return HostKey, hk
	case auth != nil && (auth.Cause != nil || auth.ours || strings.Contains(err.Error(), "unable to authenticate") || isDisconnect(err)):
		return Auth, auth
	case strings.Contains(err.Error(), "unable to authenticate"):
		return Auth, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout, fmt.Errorf("ssh handshake did not finish within %v", hsTimeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout, fmt.Errorf("ssh handshake did not finish within %v", hsTimeout)
	}
	return Protocol, err
}

// isDisconnect reports an SSH disconnect message from the server (sshd's
// "Too many authentication failures").
func isDisconnect(err error) bool {
	return strings.Contains(err.Error(), "ssh: disconnect, reason")
}

// Client is one authenticated SSH connection.
type Client struct {
	*ssh.Client
	Host *sshconfig.Host
	Via  *Client // the jump connection it runs through, or nil

	shared     bool            // a jump connection: closed by Dialer.Close only
	agent      *agentfwd.Agent // the filtering agent forwarded here, or nil
	warnf      func(string, ...any)
	agentMu    sync.Mutex
	agentAsked bool
	sessions   chan struct{}
	once       sync.Once
	done       chan struct{}
	deadErr    error
	deadMu     sync.Mutex
}

// Closed reports whether the connection has gone away.
func (c *Client) Closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Done is closed when the connection has gone away.
func (c *Client) Done() <-chan struct{} { return c.done }

// DeadErr says why the connection went away, if Loom closed it (keepalive).
func (c *Client) DeadErr() error {
	c.deadMu.Lock()
	defer c.deadMu.Unlock()
	return c.deadErr
}

func (c *Client) markClosed() { c.once.Do(func() { close(c.done) }) }

// Close closes the connection unless it is a jump connection shared with
// other hosts of the run.
func (c *Client) Close() error {
	if c.shared {
		return nil
	}
	return c.closeNow()
}

func (c *Client) closeNow() error {
	err := c.Client.Close()
	c.markClosed()
	return err
}

// keepalive sends keepalive@openssh.com every interval and closes the
// connection after count intervals without a reply.
func (c *Client) keepalive(interval time.Duration, count int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-c.done:
			return
		case err := <-reply:
			if err != nil {
				return // connection already gone
			}
			missed = 0
		case <-time.After(interval):
			missed++
			if missed >= count {
				c.deadMu.Lock()
				c.deadErr = fmt.Errorf("connection to %s lost: no keepalive reply for %v", c.Host.Alias, time.Duration(count)*interval)
				c.deadMu.Unlock()
				c.closeNow()
				return
			}
		}
	}
}

// NewSession opens a session channel, waiting for a free slot (sessions per
// connection are capped below sshd's MaxSessions) and retrying with backoff
// when the server still refuses for lack of sessions (channel
// close is asynchronous, so a slot freed here may not be free there yet).
// release must be called when the session is closed.
func (c *Client) NewSession(ctx context.Context) (s *ssh.Session, release func(), err error) {
	select {
	case c.sessions <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-c.done:
		return nil, nil, c.lostErr()
	}
	release = func() { <-c.sessions }
	backoff := 20 * time.Millisecond
	for try := 0; ; try++ {
		s, err = c.Client.NewSession()
		if err == nil {
			c.requestAgent(s)
			return s, release, nil
		}
		var oc *ssh.OpenChannelError
		// sshd at MaxSessions answers "open failed" (ConnectionFailed);
		// other servers say "administratively prohibited".
		refused := errors.As(err, &oc) && (oc.Reason == ssh.Prohibited || oc.Reason == ssh.ConnectionFailed && oc.Message == "open failed")
		if !refused || try >= 8 {
			release()
			if c.Closed() {
				return nil, nil, c.lostErr()
			}
			if refused {
				return nil, nil, fmt.Errorf("%w (%d tries): %w", ErrSessionRefused, try+1, err)
			}
			return nil, nil, fmt.Errorf("cannot open a session: %w", err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			release()
			return nil, nil, ctx.Err()
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

func (c *Client) lostErr() error {
	if err := c.DeadErr(); err != nil {
		return err
	}
	return fmt.Errorf("connection to %s lost", c.Host.Alias)
}
