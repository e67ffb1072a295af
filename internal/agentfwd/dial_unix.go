//go:build !windows

package agentfwd

import (
	"context"
	"net"
	"os"

	"golang.org/x/crypto/ssh/agent"
)

const noAgent = "SSH_AUTH_SOCK is not set"

func defaultSocket() string { return os.Getenv("SSH_AUTH_SOCK") }

func dialSystem(ctx context.Context, socket string) (net.Conn, agent.ExtendedAgent, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	return nc, nil, err
}
