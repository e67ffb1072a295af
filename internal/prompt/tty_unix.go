//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package prompt

import "golang.org/x/sys/unix"

// noEcho turns the terminal's echo off, keeping line editing and Ctrl-C,
// and returns the function that puts the settings back.
func noEcho(fd int) (restore func(), err error) {
	t, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	old := *t
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, t); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, ioctlSetTermios, &old) }, nil
}
