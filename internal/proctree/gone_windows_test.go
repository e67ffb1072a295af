//go:build windows

package proctree

import (
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// gone reports whether process pid ends within d.
func gone(t *testing.T, pid int, d time.Duration) bool {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return true // no such process any more
	}
	defer windows.CloseHandle(h)
	ev, err := windows.WaitForSingleObject(h, uint32(d.Milliseconds()))
	return err == nil && ev == windows.WAIT_OBJECT_0
}
