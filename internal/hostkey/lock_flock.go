//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package hostkey

import (
	"errors"
	"os"
	"syscall"
)

// lock takes an exclusive flock on f, released when f is closed.
func lock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
