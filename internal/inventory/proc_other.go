//go:build !unix

package inventory

import "os/exec"

// setProcessGroup does nothing here: the command alone is killed on
// cancellation.
func setProcessGroup(cmd *exec.Cmd) {}

// killGroup does nothing here.
func killGroup(cmd *exec.Cmd) {}
