package transport

import (
	"path"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/loomssh/loom/internal/agentfwd"
	"github.com/loomssh/loom/internal/sshconfig"
)

// forwardTo reports whether h gets the agent: asked for (-A, ForwardAgent in
// ssh_config) and, when AgentHosts is set, named there. Jump hosts never
// get it: only Dial's final target is set up.
func (d *Dialer) forwardTo(h *sshconfig.Host) bool {
	if !d.ForwardAgent && !h.ForwardAgent {
		return false
	}
	if len(d.AgentHosts) == 0 {
		return true
	}
	for _, p := range d.AgentHosts {
		for _, name := range []string{h.Alias, h.HostName} {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
	}
	d.logf("%s: not forwarding the agent: host not in the agent host list", h.Alias)
	return false
}

// agentSocket is the local agent forwarded to h.
func (d *Dialer) agentSocket(h *sshconfig.Host) string {
	if h.ForwardAgentSocket != "" {
		return h.ForwardAgentSocket
	}
	switch h.IdentityAgent {
	case "", "SSH_AUTH_SOCK", "none":
	default:
		return h.IdentityAgent
	}
	if d.AgentSocket != "" {
		return d.AgentSocket
	}
	return agentfwd.DefaultSocket()
}

// upstream returns the run's pooled connections to the agent at sock.
func (d *Dialer) upstream(sock string) *agentfwd.Upstream {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.upstreams == nil {
		d.upstreams = map[string]*agentfwd.Upstream{}
	}
	u, ok := d.upstreams[sock]
	if !ok {
		u = agentfwd.NewUpstream(sock, d.AgentConns)
		d.upstreams[sock] = u
	}
	return u
}

// AgentFor returns the filtering agent h gets when its agent channels
// reach this process by another way than a connection of this Dialer's
// (the connection holder relays them): the same filter, event log and
// per-host decision as a direct connection's. Nil: h does not get the
// agent (not asked for, not in AgentHosts, or no agent: said once).
func (d *Dialer) AgentFor(h *sshconfig.Host) *agentfwd.Agent {
	d.init()
	if !d.forwardTo(h) {
		return nil
	}
	return d.newAgent(h)
}

// newAgent is h's filtering agent, or nil (with a warning) without an
// agent to forward.
func (d *Dialer) newAgent(h *sshconfig.Host) *agentfwd.Agent {
	sock := d.agentSocket(h)
	if sock == "" {
		d.warnf("%s: agent forwarding asked for, but there is no agent (%s)", h.Alias, agentfwd.NoAgent())
		return nil
	}
	return agentfwd.New(d.upstream(sock), h.Alias, agentfwd.Policy{Keys: d.AgentKeys}, func(e agentfwd.Event) {
		d.logf("%s", e)
		if d.OnAgentEvent != nil {
			d.OnAgentEvent(e)
		}
	})
}

// setupForwarding serves the filtering agent on c's auth-agent channels;
// the request itself goes with the first session (see Client.NewSession).
func (d *Dialer) setupForwarding(c *Client, h *sshconfig.Host) {
	a := d.newAgent(h)
	if a == nil {
		return
	}
	if err := agentfwd.Serve(c.Client, a); err != nil {
		d.warnf("%s: agent forwarding: %v", h.Alias, err)
		return
	}
	c.agent = a
	c.warnf = d.warnf
}

// Agent returns the filtering agent forwarded to this connection, or nil.
func (c *Client) Agent() *agentfwd.Agent { return c.agent }

// requestAgent asks the server, once per connection, to forward the agent
// on session s; sshd grants auth-agent-req only once per connection, and
// every later session sees the same SSH_AUTH_SOCK. Sessions opened while
// the request is in flight wait for it, so every command sees the agent.
func (c *Client) requestAgent(s *ssh.Session) {
	if c.agent == nil {
		return
	}
	c.agentMu.Lock()
	defer c.agentMu.Unlock()
	if c.agentAsked {
		return
	}
	c.agentAsked = true
	if err := agent.RequestAgentForwarding(s); err != nil {
		c.warnf("%s: the server refused agent forwarding (AllowAgentForwarding no?); commands run without the agent", c.Host.Alias)
	}
}
