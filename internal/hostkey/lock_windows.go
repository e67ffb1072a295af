//go:build windows

package hostkey

import (
	"os"

	"golang.org/x/sys/windows"
)

// lock takes an exclusive lock on f (LockFileEx, as flock elsewhere),
// released when f is closed.
func lock(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &ol)
}
