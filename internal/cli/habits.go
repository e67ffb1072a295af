package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/loomssh/loom"
)

// checkHabits refuses what another tool's habit means otherwise in Loom,
// and checks the values of -J, -L, --remote-forward, -e and --sudo-user.
func checkHabits(o *options) error {
	for _, r := range o.roles.vals {
		if forwardSpec.MatchString(r) {
			return fmt.Errorf("-R %s: -R selects roles in loom; for ssh's remote forward use --remote-forward %s", r, r)
		}
	}
	if o.set["f"] && o.command {
		hint := ""
		if _, err := strconv.Atoi(o.taskFile); err == nil {
			hint = fmt.Sprintf("; for pdsh's fan-out use -P %s", o.taskFile)
		}
		return fmt.Errorf("-f %s: -f names the loomfile, which a command after -- does not use%s", o.taskFile, hint)
	}
	if o.jump != "" {
		for _, kv := range o.sshOpts.vals {
			if k, _, _ := strings.Cut(kv, "="); strings.EqualFold(strings.TrimSpace(k), "ProxyJump") {
				return fmt.Errorf("-J %s and -o %s: give the jump hosts once", o.jump, kv)
			}
		}
	}
	for _, v := range o.envs.vals {
		name, _, ok := strings.Cut(v, "=")
		if !ok || !envName.MatchString(name) {
			return fmt.Errorf("-e %s: want NAME=VALUE, e.g. -e LANG=C", v)
		}
	}
	for _, v := range o.localFwds.vals {
		if _, _, err := parseForward(v); err != nil {
			return fmt.Errorf("-L %s: %v", v, err)
		}
	}
	for _, v := range o.remoteFwds.vals {
		if _, _, err := parseForward(v); err != nil {
			return fmt.Errorf("--remote-forward %s: %v", v, err)
		}
	}
	if o.sudoUser != "" {
		if err := checkSudoUser(o.sudoUser); err != nil {
			return fmt.Errorf("--%v", err)
		}
		o.sudo = true
	}
	return nil
}

// warnHabits warns, in one line, about a flag whose value looks like
// another tool's meaning: pssh's -p is the parallelism, loom's the port.
func warnHabits(w io.Writer, o *options, hosts int) {
	if o.set["p"] && hosts > 1 && o.port < 1024 && o.port != 22 {
		fmt.Fprintf(w, "%s: warning: -p %d is the remote port (as ssh -p); for pssh's parallelism use -P %d\n", o.name, o.port, o.port)
	}
}

var (
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	forwardSpec = regexp.MustCompile(`^([^:]*:)?[0-9]+:[^:]+:[0-9]+$|^[0-9]+:\[`)
)

// parseForward splits an ssh -L/-R spec, [bind:]port:host:hostport (an
// IPv6 address in brackets), into the listening address (bind defaults
// to 127.0.0.1, as ssh's default of localhost) and the address connected
// to.
func parseForward(spec string) (listen, connect string, err error) {
	var parts []string
	for rest := spec; rest != ""; {
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]")
			if end < 0 {
				return "", "", errors.New("unclosed [ in an address")
			}
			parts = append(parts, rest[1:end])
			rest = strings.TrimPrefix(rest[end+1:], ":")
			continue
		}
		p, r, _ := strings.Cut(rest, ":")
		parts = append(parts, p)
		rest = r
	}
	bind := "127.0.0.1"
	switch len(parts) {
	case 3:
	case 4:
		bind, parts = parts[0], parts[1:]
		if bind == "" || bind == "*" {
			bind = ""
		}
	default:
		return "", "", errors.New("want [bind:]port:host:hostport, e.g. 8080:localhost:80")
	}
	for _, p := range []string{parts[0], parts[2]} {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			return "", "", fmt.Errorf("port %q: want 0 to 65535", p)
		}
	}
	if parts[1] == "" {
		return "", "", errors.New("no host to connect to")
	}
	return net.JoinHostPort(bind, parts[0]), net.JoinHostPort(parts[1], parts[2]), nil
}

// withForwards opens the -L and --remote-forward tunnels on c for the
// time work runs.
func (e *engine) withForwards(work func(*loom.Conn) error) func(*loom.Conn) error {
	if len(e.o.localFwds.vals) == 0 && len(e.o.remoteFwds.vals) == 0 {
		return work
	}
	return func(c *loom.Conn) error {
		var tunnels []*loom.Tunnel
		defer func() {
			for _, t := range tunnels {
				t.Close()
			}
		}()
		for _, v := range e.o.localFwds.vals {
			listen, connect, _ := parseForward(v)
			t, err := c.ForwardLocal(listen, connect)
			if err != nil {
				return c.Fail(fmt.Errorf("-L %s: %w", v, err))
			}
			tunnels = append(tunnels, t)
		}
		for _, v := range e.o.remoteFwds.vals {
			listen, connect, _ := parseForward(v)
			t, err := c.ForwardRemote(listen, connect)
			if err != nil {
				return c.Fail(fmt.Errorf("--remote-forward %s: %w", v, err))
			}
			tunnels = append(tunnels, t)
		}
		return work(c)
	}
}

// dedupe drops the hosts that are another spelling of one before them
// (the same name, resolving to the same user, address, port and jump
// hosts), saying so: web1 and root@web1:22 are one host, run on once.
// Two names for one machine (aliases in ssh_config) stay two hosts.
func dedupe(w io.Writer, name string, hosts []loom.Host, configs []*loom.HostConfig) ([]loom.Host, []*loom.HostConfig) {
	seen := map[string]string{}
	var hs []loom.Host
	var cs []*loom.HostConfig
	for i, h := range hosts {
		c := configs[i]
		k := fmt.Sprintf("%s %s@%s:%d via %s", bareName(h.Name), c.User, c.HostName, c.Port, strings.Join(c.ProxyJump, ","))
		if first, ok := seen[k]; ok {
			fmt.Fprintf(w, "%s: %s is the same target as %s (%s@%s:%d): running on it once\n", name, h.Name, first, c.User, c.HostName, c.Port)
			continue
		}
		seen[k] = h.Name
		hs, cs = append(hs, h), append(cs, c)
	}
	return hs, cs
}

// bareName is a target without its user@ and :port: web1 for
// root@web1:22, ::1 for [::1]:22.
func bareName(target string) string {
	if i := strings.LastIndex(target, "@"); i >= 0 {
		target = target[i+1:]
	}
	if h, _, err := net.SplitHostPort(target); err == nil {
		return h
	}
	return strings.Trim(target, "[]")
}
