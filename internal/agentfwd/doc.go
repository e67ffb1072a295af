// Package agentfwd is the client side of safe SSH agent forwarding.
//
// Forwarding the user's ssh-agent to a host lets anyone with root on that host
// use the agent for as long as the connection lasts. Instead of forwarding the
// whole agent, Loom puts a filtering agent between each host and the user's
// real agent:
//
//   - An [Upstream] hands out connections to the real agent (SSH_AUTH_SOCK),
//     pooled and capped, because ssh-agent serves one request per connection
//     at a time and hundreds of hosts may sign at once.
//   - An [Agent] is the filtering agent for one host. It lists and signs, only
//     with the keys a [Policy] allows, and refuses everything else: adding,
//     removing and locking keys, and extensions. Every request is recorded as
//     an [Event].
//   - [Serve] answers the host's auth-agent@openssh.com channels with an Agent.
//
// A caller that forwards the agent to a host does, once per ssh.Client:
//
//	a := agentfwd.New(up, host, policy, logEvent)
//	if err := agentfwd.Serve(client, a); err != nil { ... }
//	// then, on the first session only (sshd grants it once per connection):
//	err := agent.RequestAgentForwarding(session)
//
// x/crypto cannot send session-bind@openssh.com (golang/go#77146), so the
// real agent sees every forwarded request as local use and `ssh-add -h`
// destination constraints do not apply through this package; the Policy is
// the restriction that does.
package agentfwd
