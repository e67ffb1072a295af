package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/loomssh/loom/internal/holder"
)

// Connections held across runs: --persist DURATION sends the run's
// commands through the user's background holder (internal/holder), which
// keeps each host's connection until it has had no run for DURATION;
// --persist-stop ends it. See docs/connections.md.

// persistFlags checks --persist and runs --persist-stop; done reports that
// the command is over, with code.
func persistFlags(o *options, sub string, env Env) (code int, done bool) {
	switch {
	case o.persist < 0:
		fmt.Fprintf(env.Stderr, "loom: --persist %v: want a positive duration, e.g. 10m\n", o.persist)
		return ExitUsage, true
	case o.persist > 0 && sub != "run":
		fmt.Fprintf(env.Stderr, "loom: --persist is for commands and tasks: %s connects directly (file transfer through the holder is not supported yet)\n", sub)
		return ExitUsage, true
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

// persist attaches the holder to the engine's Dialer when --persist asks
// for it. A holder that cannot be reached is said in one line, and the run
// connects directly.
func (e *engine) persist() {
	if e.o.persist <= 0 || e.o.dryRun {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		e.p.Printf(true, "loom: warning: --persist: %v; connecting directly\n", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := holder.Connect(ctx, holder.Options{
		Persist: e.o.persist,
		Start:   holder.StartProcess(exe, e.o.persist),
		Warn:    func(line string) { e.p.Printf(true, "warning: %s\n", line) },
	})
	if err != nil {
		e.p.Printf(true, "loom: warning: --persist: %v; connecting directly\n", err)
		return
	}
	holder.Use(e.d, c)
	e.held = c
}
