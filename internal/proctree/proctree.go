// Package proctree runs a local command as the root of a process tree that
// can be signalled and stopped as a whole: on Unix a process group of its
// own, on Windows a job object. A shell that starts other programs is then
// stopped with everything it started, on Ctrl-C and on a timeout alike.
//
// Signals are named as in RFC 4254 section 6.10, without "SIG": "INT",
// "TERM", "HUP", "QUIT", "KILL". Windows has no signals: there "KILL" ends
// every process of the tree at once (TerminateJobObject), and the others
// send the tree a console Ctrl-Break, which a console program takes as an
// interrupt (the default handler exits); where no console is shared with
// the tree, they end it as "KILL" does. Wait reports the signal sent as the
// one the command died of, so that results read alike on every system.
package proctree

import (
	"errors"
	"os/exec"
)

// ErrUnknownSignal is returned for a signal this system cannot send.
var ErrUnknownSignal = errors.New("proctree: signal not supported on this system")

// Tree is a started command and every process it starts.
type Tree struct {
	cmd *exec.Cmd
	//lint:ignore U1000 the job object on Windows; nothing on Unix
	sys treeSys
}

// Start starts cmd (not started yet, its SysProcAttr unset) as the root of
// a tree of its own.
func Start(cmd *exec.Cmd) (*Tree, error) {
	t := &Tree{cmd: cmd}
	if err := t.start(); err != nil {
		return nil, err
	}
	return t, nil
}

// Signal sends sig to every process of the tree.
func (t *Tree) Signal(sig string) error { return t.signal(sig) }

// Kill ends every process of the tree at once.
func (t *Tree) Kill() error { return t.signal("KILL") }

// Wait waits for the command to exit (as exec.Cmd.Wait) and reports its
// exit code, or -1 and the name of the signal that ended it. err is an
// error other than the command's own exit status (an *exec.ExitError is not
// returned).
func (t *Tree) Wait() (code int, signal string, err error) {
	err = t.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.release()
		return -1, "", err
	}
	code, signal = t.exit()
	t.release()
	return code, signal, nil
}
