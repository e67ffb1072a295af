//go:build unix

package cli

import (
	"fmt"
	"os"
	"syscall"
)

// execProgram replaces this process with the compiled loomfile: its exit
// status, signals and terminal are then the program's own.
func execProgram(path string, args []string) int {
	err := syscall.Exec(path, append([]string{os.Args[0]}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "loom: running the compiled loomfile %s: %v\n", path, err)
	return ExitUsage
}
