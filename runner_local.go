package loom

import (
	"os/exec"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/proctree"
)

// The local process tree: on Unix a process group of its own, on Windows a
// job object (see internal/proctree), so that a signal or a kill reaches
// every process a local command started.

// procGroup is a started local command and the processes it started.
type procGroup = *proctree.Tree

// localShell returns the command that runs cmd with the local POSIX shell
// (/bin/sh; on Windows sh.exe from PATH or Git for Windows).
func localShell(cmd string) (*exec.Cmd, error) { return proctree.Shell(cmd) }

// startGroup starts c as the root of a process tree of its own.
func startGroup(c *exec.Cmd) (procGroup, error) { return proctree.Start(c) }

// signalGroup sends sig to every process of g. A signal the system cannot
// send is not sent (on Windows INT, TERM, HUP and QUIT are a Ctrl-Break).
func signalGroup(g procGroup, sig ssh.Signal) { g.Signal(string(sig)) }

// killGroup ends every process of g at once.
func killGroup(g procGroup) { g.Kill() }
