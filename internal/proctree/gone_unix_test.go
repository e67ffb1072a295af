//go:build unix

package proctree

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// gone reports whether process pid ends within d. It is not our child,
// so it is polled.
func gone(t *testing.T, pid int, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
	}
	return false
}
