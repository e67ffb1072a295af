//go:build linux

// Package ptytest gives tests a real pseudo-terminal: Open returns a pty
// pair, Start runs a process with the pty as its controlling terminal, and
// Screen replays what the process wrote the way a terminal shows it.
package ptytest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Open returns a new pty pair: the controlling side (master) and the
// terminal side (slave) a process reads and writes.
func Open() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	ws := &unix.Winsize{Row: 40, Col: 200}
	unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) // on the master: the pty's size
	return master, slave, nil
}

// Start starts cmd in a new session with slave as its stdin, stdout,
// stderr and controlling terminal (its /dev/tty).
func Start(cmd *exec.Cmd, slave *os.File) error {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return cmd.Start()
}

// Echo reports whether the terminal echoes what is typed. (It does not
// call f.Fd, which would put f in blocking mode for good.)
func Echo(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var t *unix.Termios
	cerr := rc.Control(func(fd uintptr) { t, err = unix.IoctlGetTermios(int(fd), unix.TCGETS) })
	if cerr != nil {
		return false, cerr
	}
	if err != nil {
		return false, err
	}
	return t.Lflag&unix.ECHO != 0, nil
}
