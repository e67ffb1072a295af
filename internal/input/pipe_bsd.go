//go:build unix && !linux

package input

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// wakePipe makes a non-blocking, close-on-exec pipe. Without pipe2 (macOS)
// the flags are set after the pipe is made, under syscall.ForkLock so that
// no process started meanwhile inherits it (as os.Pipe does).
func wakePipe() ([2]int, error) {
	var p [2]int
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := unix.Pipe(p[:]); err != nil {
		return p, err
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return p, err
	}
	if err := unix.SetNonblock(p[1], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return p, err
	}
	return p, nil
}
