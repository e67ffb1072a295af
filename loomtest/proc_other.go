//go:build !unix

package loomtest

import (
	"errors"
	"os"
	"syscall"
)

// killSignal is what abort sends to a command.
const killSignal = syscall.SIGKILL

// signals maps the signal names a client may send to signals. Without
// process groups only KILL can be delivered.
var signals = map[string]syscall.Signal{
	"KILL": syscall.SIGKILL,
}

// procAttr returns no special attributes: there are no process groups here.
func procAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills p; other signals are not supported.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if sig != syscall.SIGKILL {
		return errors.New("loomtest: signals other than KILL are not supported on this system")
	}
	return p.Kill()
}

// exitInfo reports a command's exit code.
func exitInfo(ps *os.ProcessState) (code int, signal string, core bool) {
	if ps == nil {
		return 255, "", false
	}
	return ps.ExitCode(), "", false
}
