package transport

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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
	// ProxyStderr receives each line a host's ProxyCommand writes to its
	// stderr; nil: Warnf, as "host: ProxyCommand: line".
	ProxyStderr func(host, line string)
	// ShareTargets keeps one connection per resolved host for every Dial
	// until Close, as jump connections are kept (share.go).
	ShareTargets bool

	initOnce   sync.Once
	agentSlots chan struct{}
	handshakes chan struct{}

	mu        sync.Mutex
	warned    map[string]bool // warnings given once per run
	keys      map[string]*keyFile
	dbs       map[string]*hostkey.DB
	jumps     map[string]*jump
	targets   map[string]*jump // ShareTargets' connections
	upstreams map[string]*agentfwd.Upstream
}

// jump is a shared connection to a jump host.
type jump struct {
	lock   chan struct{} // held (one token) while the hop is dialled or handed out
	client *Client
}

// loops reports whether reaching b from a (b a jump host on a's way) goes
// round in a circle: b is a by name, as ssh's "jumphost loop" check has it
// (same name, user and port), or b is the same login as a by the same jump
// hosts, which would be dialled forever.
func loops(a, b *sshconfig.Host) bool {
	if a.User != b.User || a.Port != b.Port {
		return false
	}
	return strings.EqualFold(a.Alias, b.Alias) ||
		strings.EqualFold(a.HostName, b.HostName) && strings.EqualFold(strings.Join(a.ProxyJump, ","), strings.Join(b.ProxyJump, ","))
}

// CheckJumps walks h's ProxyJump chain through Resolve, connecting
// nowhere, and returns the loop error Dial would meet (or a hop that does
// not resolve), so that a loop is found with the rest of the configuration,
// before anything runs.
func (d *Dialer) CheckJumps(h *sshconfig.Host) error {
	chain := []*sshconfig.Host{h}
	for cur := h; len(cur.ProxyJump) > 0; {
		if d.Resolve == nil || len(chain) > maxJumpDepth {
			return nil // Dial says it
		}
		n := len(cur.ProxyJump)
		hop, err := d.Resolve(cur.ProxyJump[n-1], cur.ProxyJump[:n-1])
		if err != nil {
			return fmt.Errorf("%s: jump host %s: %w", h.Alias, cur.ProxyJump[n-1], err)
		}
		for _, c := range chain {
			if loops(c, hop) {
				return fmt.Errorf("%s: %w", h.Alias, loopError(append(chain, hop)))
			}
		}
		chain = append(chain, hop)
		cur = hop
	}
	return nil
}

// loopError says which hosts jump through each other, as ssh's "jumphost
// loop via": the target is the first, the repeated host the last.
func loopError(chain []*sshconfig.Host) error {
	names := make([]string, len(chain))
	for i, h := range chain {
		names[i] = h.Alias
	}
	last := chain[len(chain)-1]
	return fmt.Errorf("ProxyJump loop: %s reaches itself through its jump hosts; exclude it from the ProxyJump line that matches it (e.g. Host * !%s)",
		strings.Join(names, " -> "), last.Alias)
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

// proxyStderr shows a line a host's ProxyCommand wrote to its stderr.
func (d *Dialer) proxyStderr(host, line string) {
	if d.ProxyStderr != nil {
		d.ProxyStderr(host, line)
		return
	}
	d.warnf("%s: ProxyCommand: %s", host, line)
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
	if d.ShareTargets {
		return d.sharedTarget(ctx, h)
	}
	return d.dialTarget(ctx, h)
}

// dialTarget connects to the target h and forwards the agent to it if asked.
func (d *Dialer) dialTarget(ctx context.Context, h *sshconfig.Host) (*Client, error) {
	c, err := d.dial(ctx, h, nil)
	if err == nil && d.forwardTo(h) {
		d.setupForwarding(c, h)
	}
	return c, err
}

// dial connects to h; chain holds the hosts that jump through it, the
// target first, so that a ProxyJump loop is an error, not a deadlock.
func (d *Dialer) dial(ctx context.Context, h *sshconfig.Host, chain []*sshconfig.Host) (*Client, error) {
	for _, c := range chain {
		if loops(c, h) {
			first := chain[0]
			return nil, &ConnectError{Host: first.Alias, Addr: first.Addr(), Reason: Protocol, Err: loopError(append(chain, h))}
		}
	}
	chain = append(chain, h)
	if len(chain) > maxJumpDepth+1 {
		return nil, &ConnectError{Host: chain[0].Alias, Addr: chain[0].Addr(), Reason: Protocol, Err: fmt.Errorf("ProxyJump chain longer than %d hops", maxJumpDepth)}
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
		if via, err = d.jumpClient(ctx, hop, chain); err != nil {
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
func (d *Dialer) jumpClient(ctx context.Context, hop *sshconfig.Host, chain []*sshconfig.Host) (*Client, error) {
	key := hop.User + "@" + hop.Addr() + " via " + strings.Join(hop.ProxyJump, ",") + " proxy " + hop.ProxyCommandLine
	d.mu.Lock()
	if d.jumps == nil {
		d.jumps = make(map[string]*jump)
	}
	j, ok := d.jumps[key]
	if !ok {
		j = &jump{lock: make(chan struct{}, 1)}
		d.jumps[key] = j
	}
	d.mu.Unlock()

	// The first target to need the hop dials it; the others wait for that,
	// or for their context: a wait for a hop never outlasts a cancel.
	select {
	case j.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, &ConnectError{Host: hop.Alias, Addr: hop.Addr(), Reason: Timeout, Err: ctx.Err()}
	}
	defer func() { <-j.lock }()
	if j.client != nil && !j.client.Closed() {
		return j.client, nil
	}
	c, err := d.dial(ctx, hop, chain)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	closed := d.jumps[key] != j // Close ran while the hop was dialled
	d.mu.Unlock()
	if closed {
		c.closeNow()
		return nil, &ConnectError{Host: hop.Alias, Addr: hop.Addr(), Reason: Unreachable, Err: errors.New("the run's connections were closed")}
	}
	c.shared = true
	j.client = c
	return c, nil
}

// Close closes the jump connections, the shared target connections and the
// agent connections of the run.
func (d *Dialer) Close() error {
	d.mu.Lock()
	jumps, targets, ups := d.jumps, d.targets, d.upstreams
	d.jumps, d.targets, d.upstreams = nil, nil, nil
	d.mu.Unlock()
	for _, u := range ups {
		u.Close()
	}
	// Targets first: they may run through the jump connections.
	closeShared(targets)
	closeShared(jumps)
	return nil
}

// closeShared closes the connections of a jump or target table.
func closeShared(m map[string]*jump) {
	for _, j := range m {
		select {
		case j.lock <- struct{}{}:
			j.closeClient()
		default:
			// Being dialled or handed out: close it once that is done.
			// Close never waits for a dial.
			go func() {
				j.lock <- struct{}{}
				j.closeClient()
			}()
		}
	}
}

// closeClient closes j's connection and releases j's lock, which the
// caller holds.
func (j *jump) closeClient() {
	if j.client != nil {
		j.client.closeNow()
		j.client = nil
	}
	<-j.lock
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
		Warn:            func(msg string) { d.warnf("%s", msg) },
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
	algs, err := hostAlgorithms(h)
	if err != nil {
		return fail(Protocol, err)
	}
	for _, n := range algs.notes {
		d.logf("%s: %s", h.Alias, n)
	}
	if algs.hostKeys != nil {
		// As ssh(1): a HostKeyAlgorithms list is offered as given, not
		// reordered for the keys known_hosts holds.
		algos = algs.hostKeys
	}
	hostCB = algs.checkHostKey(h, hostCB)

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
	var proxy *proxyConn
	switch {
	case via != nil:
		conn, err = via.DialContext(dctx, "tcp", addr)
	case h.ProxyCommandLine != "":
		d.logf("%s: running ProxyCommand %s", h.Alias, h.ProxyCommandLine)
		if proxy, err = startProxy(h.ProxyCommandLine, func(l string) { d.proxyStderr(h.Alias, l) }); err != nil {
			cancel()
			return fail(Unreachable, fmt.Errorf("ProxyCommand %q: %v", h.ProxyCommandLine, err))
		}
		conn = proxy
	default:
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
	// lifted while the host waits for the user (its prompt, or another
	// host's for the same secret), and the handshake is also abandoned
	// when ctx ends.
	at := &attempt{host: h.Alias, conn: conn, timeout: hsTimeout, logf: d.logf}
	at.setDeadline()
	stop := context.AfterFunc(ctx, func() { conn.Close() })

	ag, closeAgent, err := d.agentFor(ctx, h)
	if err != nil {
		stop()
		conn.Close()
		return fail(Timeout, err)
	}
	alog := &authLog{}
	cfg := &ssh.ClientConfig{
		Config:            algs.config,
		User:              h.User,
		Auth:              d.authMethods(ctx, h, ag, at, alog),
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
		conn.Close()
		if proxy != nil {
			if perr := proxy.exitError(); perr != nil {
				return fail(Unreachable, perr)
			}
		}
		if algs.hostKeys == nil {
			// The server has no key of the types known_hosts holds.
			err = db.NegotiationError(name, port, err)
		}
		return fail(at.classify(err, alog.failure(h.User, err)))
	}
	conn.SetDeadline(time.Time{})
	if n := alog.negotiated(); n != nil {
		d.logf("%s: negotiated kex %s, host key %s, cipher %s, MAC %s", h.Alias, n.KeyExchange, n.HostKey, n.Write.Cipher, orAEAD(n.Write.MAC))
	}

	maxSess := d.MaxSessions
	if maxSess <= 0 {
		maxSess = DefaultMaxSessions
	}
	c := &Client{
		Client:   ssh.NewClient(sc, chans, reqs),
		Host:     h,
		Via:      via,
		sessions: make(chan struct{}, maxSess),
	}
	// Nothing waits on the connection: gone says that it ended. A
	// ProxyCommand ends with it: x/crypto closes the transport (proxy)
	// however the connection ends.
	c.gone = c.Client.HandleChannelOpen(goneChannelType())
	interval, count := h.ServerAliveInterval, h.ServerAliveCountMax
	if interval == 0 {
		interval = DefaultKeepaliveInterval
	}
	if count <= 0 {
		count = DefaultKeepaliveCountMax
	}
	c.startKeepalive(interval, count)
	d.logf("%s: connected to %s as %s", h.Alias, addr, h.User)
	return c, nil
}

// orAEAD names the MAC of a cipher that has its own (GCM, ChaCha20-Poly1305).
func orAEAD(mac string) string {
	if mac == "" {
		return "(implicit)"
	}
	return mac
}

// attempt is one connection's handshake as its auth methods see it.
type attempt struct {
	host    string
	conn    net.Conn
	timeout time.Duration
	logf    func(format string, args ...any)

	mu     sync.Mutex
	paused int      // waits on the user under way
	asked  []string // prompts BatchMode kept Loom from showing
}

// setDeadline (re)starts the handshake deadline, unless the host waits on
// the user.
func (a *attempt) setDeadline() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.paused == 0 {
		a.conn.SetDeadline(time.Now().Add(a.timeout))
	}
}

// pause lifts the handshake deadline while the host waits on the user for
// what (its own prompt or another host's); the returned function gives the
// handshake its whole time again. Pauses nest.
func (a *attempt) pause(what string) (resume func()) {
	if a.logf != nil {
		a.logf("%s: waiting for %s at the terminal (handshake deadline paused)", a.host, what)
	}
	a.mu.Lock()
	a.paused++
	a.conn.SetDeadline(time.Time{})
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.paused--
			a.mu.Unlock()
			a.setDeadline()
		})
	}
}

// notAsked records a prompt that BatchMode kept from being shown.
func (a *attempt) notAsked(prompt string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, prompt)
}

// noted records the prompts of a *NotAskedError and returns err.
func (a *attempt) noted(err error) error {
	var na *NotAskedError
	if errors.As(err, &na) {
		for _, p := range na.Prompts {
			a.notAsked(p)
		}
	}
	return err
}

// classify maps a handshake error to a Reason. An authentication that
// failed where BatchMode kept Loom from asking something says what. auth
// is the authentication failure the handshake ended with, if any.
func (a *attempt) classify(err error, auth *AuthError) (Reason, error) {
	r, err := classify(err, a.timeout, auth)
	a.mu.Lock()
	asked := a.asked
	a.mu.Unlock()
	var na *NotAskedError
	notAsked := errors.As(err, &na)
	if len(asked) == 0 || (r != Auth && !notAsked) {
		return r, err
	}
	var ae *AuthError
	if !errors.As(err, &ae) && (notAsked || strings.Contains(err.Error(), "unable to authenticate")) {
		err = nil // says nothing the prompts do not
	}
	return Auth, &NotAskedError{Host: a.host, Prompts: asked, Err: err}
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
//
// An idle Client has no goroutine of Loom's: it learns that the
// connection ended from x/crypto (gone), and its keepalive runs on a
// timer. A connection held for long (internal/holder holds thousands)
// costs only what x/crypto's own goroutines and buffers do.
type Client struct {
	*ssh.Client
	Host *sshconfig.Host
	Via  *Client // the jump connection it runs through, or nil

	shared     bool            // a jump or shared target connection: closed by Dialer.Close only
	agent      *agentfwd.Agent // the filtering agent forwarded here, or nil
	warnf      func(string, ...any)
	agentMu    sync.Mutex
	agentAsked bool
	sessions   chan struct{}
	// gone is closed by x/crypto when the connection has ended (the
	// channel of a channel type no server knows: see goneChannelType).
	gone    <-chan ssh.NewChannel
	closing atomic.Bool // Loom closed it (Close, keepalive), perhaps before x/crypto noticed
	ka      *keepalive
	deadMu  sync.Mutex
	deadErr error
}

// goneChannelType is a channel type no server can know (random), whose
// HandleChannelOpen channel x/crypto closes when the connection closes:
// Client.gone, with no goroutine waiting on the connection.
func goneChannelType() string { return "loom-gone-" + crand.Text() + "@loomssh.com" }

// Closed reports whether the connection has gone away.
func (c *Client) Closed() bool {
	if c.closing.Load() {
		return true
	}
	select {
	case <-c.gone:
		return true
	default:
		return false
	}
}

// Done is closed when the connection has gone away; nothing is ever sent
// on it. After Close it is closed once x/crypto has let go of the
// connection (at once for a TCP connection).
func (c *Client) Done() <-chan ssh.NewChannel { return c.gone }

// DeadErr says why the connection went away: Loom's reason if Loom closed
// it (keepalive), else x/crypto's (a protocol error, say); nil while it is
// up, or when it ended plainly (EOF, Close).
func (c *Client) DeadErr() error {
	c.deadMu.Lock()
	defer c.deadMu.Unlock()
	select {
	case <-c.gone:
	default:
		return c.deadErr
	}
	if c.deadErr == nil {
		// x/crypto has ended the connection: Wait returns at once.
		err := c.Client.Wait()
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			c.deadErr = fmt.Errorf("connection to %s lost: %v", c.Host.Alias, cleanErr(err))
		}
	}
	return c.deadErr
}

// Close closes the connection unless it is shared: a jump connection, or a
// target's under ShareTargets. Dialer.Close closes those.
func (c *Client) Close() error {
	if c.shared {
		return nil
	}
	return c.closeNow()
}

func (c *Client) closeNow() error {
	c.closing.Store(true)
	c.ka.stop()
	return c.Client.Close()
}

// keepalive sends keepalive@openssh.com every interval and closes the
// connection after count intervals without a reply. It runs on a timer:
// a goroutine exists only while a request is out.
type keepalive struct {
	c        *Client
	interval time.Duration
	count    int

	mu      sync.Mutex
	t       *time.Timer
	out     bool // a request is out, not answered yet
	missed  int  // intervals it has been out
	stopped bool
}

func (c *Client) startKeepalive(interval time.Duration, count int) {
	k := &keepalive{c: c, interval: interval, count: count}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.t = time.AfterFunc(interval, k.tick)
	c.ka = k
}

// tick runs every interval: it sends a request unless one is out, or
// counts the interval against the one that is.
func (k *keepalive) tick() {
	k.mu.Lock()
	if k.stopped || k.c.Closed() {
		k.mu.Unlock()
		return
	}
	k.t.Reset(k.interval)
	if k.out {
		k.missed++
		dead := k.missed >= k.count
		k.mu.Unlock()
		if dead {
			k.c.deadMu.Lock()
			k.c.deadErr = fmt.Errorf("connection to %s lost: no keepalive reply for %v", k.c.Host.Alias, time.Duration(k.count)*k.interval)
			k.c.deadMu.Unlock()
			k.c.closeNow()
		}
		return
	}
	k.out = true
	k.mu.Unlock()
	// Returns with the reply, or an error once the connection is gone.
	_, _, err := k.c.SendRequest("keepalive@openssh.com", true, nil)
	k.mu.Lock()
	k.out, k.missed = false, 0
	k.mu.Unlock()
	if err != nil {
		k.stop()
	}
}

// stop ends the keepalive.
func (k *keepalive) stop() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.t.Stop()
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
	case <-c.gone:
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
