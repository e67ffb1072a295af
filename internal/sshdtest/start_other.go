//go:build !linux

package sshdtest

import "testing"

// Start skips the test: the package supports only Linux for now.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	t.Skip("sshdtest: starting sshd is only implemented on Linux")
	return nil
}

// CanSudo reports false: the package supports only Linux for now.
func CanSudo() (ok bool, why string) {
	return false, "sshdtest: sudo tests are only implemented on Linux"
}
