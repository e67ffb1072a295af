package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/shquote"
)

// sshUsage checks loom ssh HOST [COMMAND...] (or -H HOST) and returns the
// host pattern and the command ("" for the login shell).
func sshUsage(o *options) (host, command string, err error) {
	args := o.args
	switch {
	case len(o.hosts.vals) == 0 && len(o.roles.vals) == 0 && len(args) == 0:
		return "", "", fmt.Errorf("ssh: which host? loom ssh HOST [COMMAND]")
	case len(o.hosts.vals) == 0 && len(o.roles.vals) == 0:
		host, args = args[0], args[1:]
		o.hosts.vals = []string{host}
	}
	switch len(args) {
	case 0:
	case 1:
		command = args[0]
	default:
		command = shquote.Join(args)
	}
	return host, command, nil
}

// interactive runs command ("" for the login shell) on the one host with
// the terminal (loom.Conn.Interactive): loom ssh HOST, or -t with one host
// when stdin is a terminal. The command's exit status is loom's.
func (e *engine) interactive(ctx context.Context, hosts []loom.Host, command string) int {
	g := e.group(hosts)
	return e.runGroup(ctx, "run", g, func(*report) func(*loom.Conn) error {
		return func(c *loom.Conn) error {
			for _, v := range e.o.envs.vals {
				name, value, _ := strings.Cut(v, "=")
				c = c.Env(name, value)
			}
			return c.Interactive(command).Err
		}
	})
}
