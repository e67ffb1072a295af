//go:build unix

package loomtest

import (
	"os"
	"syscall"
)

// killSignal is what abort sends to a command's process group.
const killSignal = syscall.SIGKILL

// signals maps the signal names of RFC 4254 section 6.10 to signals.
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT,
	"ALRM": syscall.SIGALRM,
	"FPE":  syscall.SIGFPE,
	"HUP":  syscall.SIGHUP,
	"ILL":  syscall.SIGILL,
	"INT":  syscall.SIGINT,
	"KILL": syscall.SIGKILL,
	"PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV,
	"TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// procAttr puts each command in a process group of its own, so that a signal
// reaches everything the command started.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to the process group p leads.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}

// exitInfo reports how a command ended: its exit code, or the name (without
// "SIG") of the signal that killed it and whether it dumped core.
func exitInfo(ps *os.ProcessState) (code int, signal string, core bool) {
	if ps == nil {
		return 255, "", false
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		for name, sig := range signals {
			if sig == ws.Signal() {
				return -1, name, ws.CoreDump()
			}
		}
		// What OpenSSH sends for a signal RFC 4254 does not name.
		return -1, "SIG@openssh.com", ws.CoreDump()
	}
	return ps.ExitCode(), "", false
}
