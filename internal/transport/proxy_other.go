//go:build !unix

package transport

import "os/exec"

// setProcessGroup does nothing where there are no process groups.
func setProcessGroup(cmd *exec.Cmd) {}

// hangup ends the command: without signals, it is killed.
func hangup(cmd *exec.Cmd) { cmd.Process.Kill() }

// kill kills the command.
func kill(cmd *exec.Cmd) { cmd.Process.Kill() }
