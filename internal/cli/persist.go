package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/loomssh/loom/internal/holder"
	"github.com/loomssh/loom/internal/sshconfig"
)

// Connections held across runs (internal/holder, docs/connections.md): a
// host is held by the user's background holder when --persist DURATION
// says so (every host), when its ssh_config does (ControlMaster yes or
// auto with ControlPersist); loom.yaml's settings: persist: and
// LOOM_PERSIST are --persist's (settings.go).
// --persist-stop ends the holder; with -H/-R, only those hosts' held
// connections (ssh -O exit).

// persistFlags checks --persist and runs --persist-stop; done reports that
// the command is over, with code.
func persistFlags(ctx context.Context, o *options, env Env) (code int, done bool) {
	switch {
	case o.persist < 0:
		fmt.Fprintf(env.Stderr, "loom: --persist %v: want a positive duration, e.g. 10m\n", o.persist)
		return ExitUsage, true
	case o.persistStop && (len(o.hosts.vals) > 0 || len(o.roles.vals) > 0):
		return persistDrop(ctx, o, env), true
	case o.persistStop:
		return persistStop(env), true
	}
	return 0, false
}

// persistStop stops the holder, if one runs.
func persistStop(env Env) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := holder.Connect(ctx, holder.Options{}) // no Start: never starts one
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom: --persist-stop: no connection holder is running (%v)\n", err)
		return ExitOK
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(env.Stderr, "loom: --persist-stop: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintln(env.Stderr, "loom: connection holder stopped")
	return ExitOK
}

// persistDrop closes the held connections of the hosts -H/-R name, one
// line per host, and leaves the holder and its other connections be.
func persistDrop(ctx context.Context, o *options, env Env) int {
	hosts, err := selectHosts(ctx, o)
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom: --persist-stop: %v\n", err)
		return ExitUsage
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := holder.Connect(cctx, holder.Options{})
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom: --persist-stop: no connection holder is running (%v)\n", err)
		return ExitOK
	}
	defer c.Close()
	for _, h := range hosts {
		alias := h.Name
		if t, err := sshconfig.ParseTarget(h.Name); err == nil {
			alias = t.Host
		}
		conns, err := c.Drop(cctx, alias)
		switch {
		case err != nil:
			fmt.Fprintf(env.Stderr, "loom: --persist-stop: %s: %v\n", h.Name, err)
			return ExitFailed
		case len(conns) == 0:
			fmt.Fprintf(env.Stderr, "loom: %s: no held connection\n", h.Name)
		default:
			fmt.Fprintf(env.Stderr, "loom: %s: held connection closed (%s)\n", h.Name, strings.Join(conns, ", "))
		}
	}
	return ExitOK
}

// persist attaches a holder client to the engine's Dialer: it connects to
// (or starts) the holder only when a host is to be held. A holder that
// cannot be reached is said in one line, and the run connects directly.
func (e *engine) persist() {
	if e.o.dryRun {
		return
	}
	o := holder.Options{
		Persist: e.o.persist,
		Warn:    func(line string) { e.p.Printf(true, "loom: warning: %s\n", line) },
	}
	if exe, err := os.Executable(); err == nil {
		o.Start = holder.StartProcess(exe)
	}
	c := holder.Lazy(o)
	holder.Use(e.d, c)
	e.held = c
}
