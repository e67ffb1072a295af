package agentfwd

import (
	"context"
	"fmt"
	"net"

	"golang.org/x/crypto/ssh/agent"
)

// DefaultSocket returns the agent to use when none is configured:
// $SSH_AUTH_SOCK. On Windows, when it is unset, the OpenSSH for Windows
// agent's named pipe (\\.\pipe\openssh-ssh-agent) when it is listening,
// else "pageant" when Pageant is running, else "". On macOS launchd sets
// SSH_AUTH_SOCK for every login session.
func DefaultSocket() string { return defaultSocket() }

// NoAgent says, in a few words, why DefaultSocket found no agent.
func NoAgent() string { return noAgent }

// Dial connects to the agent at socket: a Unix socket path; on Windows
// also a named pipe (\\.\pipe\NAME or //./pipe/NAME) or "pageant" for
// PuTTY's Pageant. The connection's deadlines bound each request, except
// Pageant's, which are bounded by a timeout of their own (5 minutes, for a
// key that asks the user to confirm). Close the connection when done.
func Dial(ctx context.Context, socket string) (agent.ExtendedAgent, net.Conn, error) {
	nc, ag, err := dialSystem(ctx, socket)
	if err != nil {
		return nil, nil, err
	}
	if ag == nil {
		ag = agent.NewClient(nc)
	}
	return ag, nc, nil
}

// dialConn connects to the agent at socket. ag is nil for an agent that
// speaks the agent protocol on nc; otherwise (Pageant) nc only stands in
// for a connection and ag is the agent.
func dialConn(ctx context.Context, socket string) (nc net.Conn, ag agent.ExtendedAgent, err error) {
	nc, ag, err = dialSystem(ctx, socket)
	if err != nil {
		return nil, nil, fmt.Errorf("agentfwd: connecting to the agent: %w", err)
	}
	return nc, ag, nil
}
