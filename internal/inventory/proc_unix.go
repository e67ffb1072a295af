//go:build unix

package inventory

import (
	"os/exec"
	"syscall"
)

// setProcessGroup runs the command in its own process group and makes a
// cancellation (timeout) kill the whole group, so that "sh -c 'sleep 10'"
// does not leave the sleep running.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// killGroup kills what is left of the command's process group (background
// processes still holding its output).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
