//go:build !unix && !windows

package proctree

import (
	"errors"
	"os/exec"
)

type treeSys struct{}

// Shell returns an error: there is no known shell on this system.
func Shell(string) (*exec.Cmd, error) {
	return nil, errors.New("local commands are not supported on this system")
}

func (t *Tree) start() error { return t.cmd.Start() }

func (t *Tree) signal(sig string) error {
	if sig == "KILL" {
		return t.cmd.Process.Kill()
	}
	return ErrUnknownSignal
}

func (t *Tree) exit() (int, string) { return t.cmd.ProcessState.ExitCode(), "" }

func (t *Tree) release() {}
