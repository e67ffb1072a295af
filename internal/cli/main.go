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
)

// Main runs the CLI for the current process: real streams, the terminal
// for prompts, and Ctrl-C handling (the first interrupts the run, the
// second exits at once).
func Main() int {
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
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		stdin = os.Stdin // piped input is forwarded (to a single host)
	}
	_, noColor := os.LookupEnv("NO_COLOR")
	return Run(ctx, os.Args[1:], Env{
		Stdin:    stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Prompt:   loom.Terminal(),
		Color:    !noColor && term.IsTerminal(int(os.Stdout.Fd())) && os.Getenv("TERM") != "dumb",
		Progress: term.IsTerminal(int(os.Stderr.Fd())) && os.Getenv("TERM") != "dumb",
	})
}
