// Package peercred reads the credentials of the process at the other end
// of a Unix socket connection as the kernel reports them (SO_PEERCRED on
// Linux, LOCAL_PEERCRED and LOCAL_PEERPID on macOS). The connection holder
// and the OpenSSH master client use it to talk only to processes of the
// user's own uid.
package peercred

import (
	"errors"
	"net"
)

// ErrUnsupported is returned where this system's peer credentials are
// not read.
var ErrUnsupported = errors.New("peer credentials cannot be checked on this system")

// errNotUnix is returned for a connection that is not a Unix socket's.
var errNotUnix = errors.New("not a Unix socket connection")

// Of returns the uid and pid of the process at the other end of c.
func Of(c net.Conn) (uid, pid int, err error) {
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
	if err != nil {
		return -1, 0, err
	}
	return uid, pid, nil
}
