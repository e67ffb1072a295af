//go:build unix

package holder

import (
	"io/fs"
	"net"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// lockFile takes an exclusive lock on path without waiting; ok is false
// when another process holds it. The lock lasts as long as f is open.
func lockFile(path string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

// detach makes cmd a process of its own session, so that it outlives the
// run that started it and the terminal's signals do not reach it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// peerUID returns the uid and pid of the process at the other end of a
// Unix socket connection, as the kernel reports them.
func peerUID(c net.Conn) (uid, pid int, err error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, 0, errNotUnix
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cerr error
	err = raw.Control(func(fd uintptr) { uid, pid, cerr = sockPeer(int(fd)) })
	if err == nil {
		err = cerr
	}
	return uid, pid, err
}

// redirectStderr makes f the process's standard error.
func redirectStderr(f *os.File) { unix.Dup2(int(f.Fd()), 2) }

func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

const supported = true
