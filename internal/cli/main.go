package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/loomfile"
)

// Main runs the CLI for the current process: real streams, the terminal
// for prompts, and Ctrl-C handling (the first interrupts the run, the
// second exits at once).
func Main() int { return mainWith(nil) }

// MainProgram is Main for a compiled loomfile, with its tasks built in:
// table is the task table (JSON) the loom command read from the
// loomfiles, and funcs are their functions. Run with CheckArg, it only
// checks that the two agree.
func MainProgram(table string, funcs []TaskFunc) int {
	prog, err := newProgram(table, funcs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return ExitUsage
	}
	if len(os.Args) == 2 && os.Args[1] == loomfile.CheckArg {
		return ExitOK
	}
	return mainWith(prog)
}

func mainWith(prog *program) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "\nloom: interrupted: stopping (press Ctrl-C again to exit at once)")
		cancel()
		<-sigs
		os.Exit(ExitInterrupted)
	}()
	var stdin io.Reader
	if pipedIn(os.Stdin) {
		stdin = os.Stdin // forwarded to a single host; to many with --stdin
	}
	_, noColor := os.LookupEnv("NO_COLOR")
	return runWith(ctx, os.Args[1:], Env{
		Exec:     execProgram,
		Stdin:    stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Prompt:   loom.Terminal(),
		Color:    !noColor && term.IsTerminal(int(os.Stdout.Fd())) && os.Getenv("TERM") != "dumb",
		Progress: term.IsTerminal(int(os.Stderr.Fd())) && os.Getenv("TERM") != "dumb",
		Terminal: term.IsTerminal(int(os.Stdin.Fd())),
	}, prog)
}

// pipedIn reports whether f holds input for the command: a pipe, a file or
// a device other than a terminal or /dev/null (and not a closed stdin).
func pipedIn(f *os.File) bool {
	if term.IsTerminal(int(f.Fd())) {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
		return false
	}
	return true
}
