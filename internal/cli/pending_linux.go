package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeBuffered is how many bytes wait in the pipe f (FIONREAD).
func pipeBuffered(f *os.File) (int, bool) {
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ)
	return n, err == nil
}
