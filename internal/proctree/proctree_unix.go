//go:build unix

package proctree

import (
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// treeSys is nothing more on Unix: the process group is the root's pid.
//
//lint:ignore U1000 the Windows build keeps its job object in it
type treeSys struct{}

// signals are the signals Signal sends.
var signals = map[string]syscall.Signal{
	"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL,
	"HUP": syscall.SIGHUP, "QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2, "ALRM": syscall.SIGALRM, "PIPE": syscall.SIGPIPE,
}

// Shell returns a command that runs script with the POSIX shell:
// /bin/sh -c script.
func Shell(script string) (*exec.Cmd, error) {
	return exec.Command("/bin/sh", "-c", script), nil
}

func (t *Tree) start() error {
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return t.cmd.Start()
}

func (t *Tree) signal(sig string) error {
	s, ok := signals[sig]
	if !ok {
		return ErrUnknownSignal
	}
	return syscall.Kill(-t.cmd.Process.Pid, s)
}

func (t *Tree) exit() (int, string) {
	ws, ok := t.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return -1, strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
	}
	return t.cmd.ProcessState.ExitCode(), ""
}

func (t *Tree) release() {}
