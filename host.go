package loom

import (
	"context"
	"errors"
	"fmt"

	"github.com/loomssh/loom/internal/sshconfig"
)

// Host is one target of a Group with its own settings, from an inventory or
// from any Go code (a database query, a cloud API...).
type Host struct {
	// Name is the target as for Dial: a name or ssh_config alias, or
	// user@host:port.
	Name string
	// User and Port override ssh_config and the Dialer's User and Port for
	// this host (a user or port in Name beats them).
	User string
	Port int
	// ProxyJump overrides ssh_config's ProxyJump for this host ("none" for
	// a direct connection).
	ProxyJump string
	// ForwardAgent forwards the agent to this host (see Dialer.ForwardAgent).
	ForwardAgent bool
	// Roles the host belongs to.
	Roles []string
	// Vars are free-form values a task can read with Conn.Var.
	Vars map[string]string
}

// Hosts returns a Host for each name.
func Hosts(names ...string) []Host {
	hs := make([]Host, len(names))
	for i, n := range names {
		hs[i] = Host{Name: n}
	}
	return hs
}

// target returns the Dial target and the -o settings for h.
func (h Host) target() (string, []string, error) {
	t, err := sshconfig.ParseTarget(h.Name)
	if err != nil {
		return "", nil, err
	}
	if t.User == "" {
		t.User = h.User
	}
	if t.Port == 0 {
		t.Port = h.Port
	}
	name := t.String()
	var set []string
	if h.ProxyJump != "" {
		set = append(set, "ProxyJump="+h.ProxyJump)
	}
	if h.ForwardAgent {
		set = append(set, "ForwardAgent=yes")
	}
	return name, set, nil
}

// DialHost connects to h with its own settings.
func (d *Dialer) DialHost(ctx context.Context, h Host) (*Conn, error) {
	target, set, err := h.target()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	c, err := d.dial(ctx, target, set)
	if err != nil {
		var ce *ConnectError
		if errors.As(err, &ce) {
			ce.Host = h.Name // as the user named it: "10.0.0.5:2222", not "10.0.0.5"
		}
		return nil, err
	}
	c.h.name = h.Name
	c.h.vars = h.Vars
	return c, nil
}

// ResolveHost is Resolve for a Host with its own settings.
func (d *Dialer) ResolveHost(h Host) (*HostConfig, error) {
	target, set, err := h.target()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	hc, err := d.resolve(target, set)
	if err != nil {
		return nil, err
	}
	hc.Alias = h.Name
	return hc, nil
}

// Var returns the host's variable name ("" if unset); see Host.Vars.
func (c *Conn) Var(name string) string { return c.h.vars[name] }
