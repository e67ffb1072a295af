//go:build !unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
)

// execProgram runs the compiled loomfile in this console and exits with
// its status: Windows cannot replace a process. The program gets Ctrl-C
// from the console itself, so this loom ignores it meanwhile.
func execProgram(path string, args []string) int {
	cmd := exec.Command(path, args...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signal.Ignore(os.Interrupt)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "loom: running the compiled loomfile %s: %v\n", path, err)
	return ExitUsage
}
