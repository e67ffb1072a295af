package loomtest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// sessionGrace is how long a session channel open that would exceed
// MaxSessions waits for a slot to be freed before it is refused. A client
// that closes a channel and at once opens another must not be refused just
// because the goroutine freeing the slot has not run yet: OpenSSH's single
// event loop frees the slot before it reads the next message.
const sessionGrace = 100 * time.Millisecond

// serverConfig builds the x/crypto server configuration from the options.
func (s *Server) serverConfig() *ssh.ServerConfig {
	o := s.opts
	reject := o.Fault == RejectAuth
	errReject := errors.New("loomtest: authentication rejected (RejectAuth)")
	checkUser := func(c ssh.ConnMetadata) error {
		if o.User != "" && c.User() != o.User {
			return fmt.Errorf("loomtest: user %q may not log in", c.User())
		}
		return nil
	}
	keys := make([][]byte, len(o.AuthorizedKeys))
	for i, k := range o.AuthorizedKeys {
		keys[i] = k.Marshal()
	}
	checkPassword := func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		if reject {
			return nil, errReject
		}
		if err := checkUser(c); err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(pw, []byte(o.Password)) != 1 {
			return nil, errors.New("loomtest: wrong password")
		}
		return &ssh.Permissions{}, nil
	}

	cfg := &ssh.ServerConfig{
		ServerVersion: serverVersion,
		// Always set, so that a server without credentials is still a
		// valid configuration that simply lets nobody in.
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if reject {
				return nil, errReject
			}
			if err := checkUser(c); err != nil {
				return nil, err
			}
			m := key.Marshal()
			for _, k := range keys {
				if subtle.ConstantTimeCompare(m, k) == 1 {
					return &ssh.Permissions{}, nil
				}
			}
			return nil, errors.New("loomtest: key not authorized")
		},
		AuthLogCallback: func(c ssh.ConnMetadata, method string, err error) {
			switch {
			case method == "none":
				// Every client starts with "none"; not worth a line.
			case err != nil:
				s.logf("loomtest: %s: auth %s for %q failed: %v", c.RemoteAddr(), method, c.User(), err)
			default:
				s.logf("loomtest: %s: auth %s for %q accepted", c.RemoteAddr(), method, c.User())
			}
		},
	}
	if o.Password != "" || reject {
		cfg.PasswordCallback = checkPassword
		cfg.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := client("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(answers) != 1 {
				return nil, errors.New("loomtest: expected one answer")
			}
			return checkPassword(c, []byte(answers[0]))
		}
	}
	cfg.AddHostKey(s.hostKey)
	return cfg
}

// conn is one authenticated SSH connection.
type conn struct {
	s        *Server
	raw      net.Conn
	sconn    *ssh.ServerConn
	dropOnce sync.Once

	mu         sync.Mutex
	nsess      int           // open session channels
	freed      chan struct{} // closed (and replaced) whenever a slot is freed
	agentAsked bool          // an auth-agent-req has been granted or tried
	agentSock  string        // SSH_AUTH_SOCK for commands, once granted
	agentLn    net.Listener
	agentDir   string
}

// serveConn runs one TCP connection until it ends.
func (s *Server) serveConn(c net.Conn) {
	s.logf("loomtest: connection from %s", c.RemoteAddr())
	switch s.opts.Fault {
	case HangBeforeBanner:
		io.Copy(io.Discard, c)
		return
	case HangInHandshake:
		if _, err := io.WriteString(c, serverVersion+"\r\n"); err != nil {
			return
		}
		io.Copy(io.Discard, c)
		return
	case HugeWindowAdjust, HugeAuthBanner:
		s.serveScripted(c)
		return
	case HugePreVersionText:
		if !s.sendPreVersionText(c) {
			return
		}
	}

	c.SetDeadline(time.Now().Add(handshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		s.logf("loomtest: %s: handshake: %v", c.RemoteAddr(), err)
		return
	}
	c.SetDeadline(time.Time{})
	cn := &conn{s: s, raw: c, sconn: sconn, freed: make(chan struct{})}
	defer cn.closeAgent()
	defer sconn.Close()

	s.wg.Add(1)
	go cn.globalRequests(reqs)

	probed := false
	for nc := range chans {
		if s.opts.ProbeAgent && !probed {
			probed = true
			s.wg.Add(1)
			go cn.probeAgent()
		}
		if nc.ChannelType() == "direct-tcpip" && s.opts.AllowTCPForwarding {
			s.wg.Add(1)
			go cn.directTCPIP(nc)
			continue
		}
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "loomtest: only session channels (and direct-tcpip with AllowTCPForwarding) are supported")
			continue
		}
		if !cn.acquire() {
			s.logf("loomtest: %s: session refused: MaxSessions (%d) reached", c.RemoteAddr(), s.maxSess)
			nc.Reject(ssh.Prohibited, fmt.Sprintf("loomtest: too many sessions (MaxSessions %d)", s.maxSess))
			continue
		}
		s.wg.Add(1)
		go cn.serveSession(nc)
	}
}

// probeAgent opens an agent channel to the client, as a server trying to
// reach an agent it was not given would, and counts the answer.
func (cn *conn) probeAgent() {
	defer cn.s.wg.Done()
	defer cn.s.probes.Add(1) // after accepted: a reader seeing the probe done sees its answer
	ch, reqs, err := cn.sconn.OpenChannel("auth-agent@openssh.com", nil)
	if err != nil {
		cn.s.logf("loomtest: %s: agent probe refused: %v", cn.raw.RemoteAddr(), err)
		return
	}
	cn.s.probesAccepted.Add(1)
	cn.s.logf("loomtest: %s: agent probe ACCEPTED", cn.raw.RemoteAddr())
	go ssh.DiscardRequests(reqs)
	ch.Close()
}

// globalRequests answers keepalives, refuses everything else, or, under
// NoKeepaliveReply, reads every request and answers none.
func (cn *conn) globalRequests(reqs <-chan *ssh.Request) {
	defer cn.s.wg.Done()
	for r := range reqs {
		if cn.s.opts.Fault == NoKeepaliveReply {
			continue
		}
		r.Reply(r.Type == "keepalive@openssh.com", nil)
	}
}

// acquire takes a session slot, waiting up to sessionGrace for one to be
// freed when all are taken.
func (cn *conn) acquire() bool {
	deadline := time.Now().Add(sessionGrace)
	for {
		cn.mu.Lock()
		if cn.nsess < cn.s.maxSess {
			cn.nsess++
			cn.mu.Unlock()
			return true
		}
		freed := cn.freed
		cn.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-freed:
			t.Stop()
		case <-t.C:
			return false
		case <-cn.s.done:
			t.Stop()
			return false
		}
	}
}

// release frees a session slot taken by acquire.
func (cn *conn) release() {
	cn.mu.Lock()
	cn.nsess--
	close(cn.freed)
	cn.freed = make(chan struct{})
	cn.mu.Unlock()
}

// drop closes the TCP connection without a word (DropMidCommand).
func (cn *conn) drop() {
	cn.dropOnce.Do(func() {
		cn.s.logf("loomtest: %s: dropping connection (DropMidCommand)", cn.raw.RemoteAddr())
		cn.raw.Close()
	})
}

// requestAgent handles auth-agent-req@openssh.com. Like OpenSSH, it grants
// the first request on a connection and refuses the others.
func (cn *conn) requestAgent() bool {
	cn.s.agentReq.Add(1)
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.agentAsked {
		cn.s.logf("loomtest: %s: agent forwarding requested twice; refused", cn.raw.RemoteAddr())
		return false
	}
	cn.agentAsked = true
	dir, err := os.MkdirTemp("", "loomtest-agent-")
	if err != nil {
		cn.s.logf("loomtest: agent forwarding: %v", err)
		return false
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		cn.s.logf("loomtest: agent forwarding: %v", err)
		return false
	}
	cn.agentDir, cn.agentSock, cn.agentLn = dir, sock, ln
	cn.s.wg.Add(1)
	go cn.serveAgent(ln)
	return true
}

// agentSocket returns the forwarded agent's socket path, or "".
func (cn *conn) agentSocket() string {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.agentSock
}

// closeAgent stops agent forwarding when the connection ends.
func (cn *conn) closeAgent() {
	cn.mu.Lock()
	ln, dir := cn.agentLn, cn.agentDir
	cn.agentLn, cn.agentSock = nil, ""
	cn.mu.Unlock()
	if ln != nil {
		ln.Close()
		os.RemoveAll(dir)
	}
}

// serveAgent accepts connections on the forwarded agent socket.
func (cn *conn) serveAgent(ln net.Listener) {
	defer cn.s.wg.Done()
	for {
		uc, err := ln.Accept()
		if err != nil {
			return
		}
		cn.s.wg.Add(1)
		go cn.forwardAgent(uc)
	}
}

// forwardAgent relays one agent connection to the client over an
// auth-agent@openssh.com channel.
func (cn *conn) forwardAgent(uc net.Conn) {
	defer cn.s.wg.Done()
	defer uc.Close()
	ch, reqs, err := cn.sconn.OpenChannel("auth-agent@openssh.com", nil)
	if err != nil {
		cn.s.logf("loomtest: agent channel: %v", err)
		return
	}
	defer ch.Close()
	cn.s.wg.Add(2)
	go func() {
		defer cn.s.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	go func() {
		defer cn.s.wg.Done()
		io.Copy(ch, uc)
		ch.CloseWrite()
	}()
	io.Copy(uc, ch)
}

// directTCPIP serves a direct-tcpip channel (a client using this server as
// a jump host, or ssh -L): it dials the address asked for and relays.
func (cn *conn) directTCPIP(nc ssh.NewChannel) {
	defer cn.s.wg.Done()
	var req struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
		nc.Reject(ssh.ConnectionFailed, "loomtest: bad direct-tcpip request")
		return
	}
	addr := net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port)))
	out, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		out.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	cn.s.logf("loomtest: %s: direct-tcpip to %s", cn.raw.RemoteAddr(), addr)
	done := make(chan struct{}, 2)
	go func() { io.Copy(out, ch); out.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(ch, out); ch.CloseWrite(); done <- struct{}{} }()
	select {
	case <-done:
		<-done
	case <-cn.s.done:
	}
	ch.Close()
	out.Close()
}
