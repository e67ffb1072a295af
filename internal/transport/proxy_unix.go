//go:build unix

package transport

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts a ProxyCommand in a process group of its own, so
// that the terminal's Ctrl-C reaches Loom (which stops the run cleanly over
// the connection) rather than cutting the transport, and so that ending it
// ends the processes it started too.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// hangup sends SIGHUP to the command's process group, as ssh(1) sends its
// ProxyCommand SIGHUP when the connection ends.
func hangup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGHUP)
}

// kill kills the command's process group.
func kill(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
