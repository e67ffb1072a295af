package loom

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/loomssh/loom/internal/sshmux"
)

// startPty runs cmd on the master with a remote pty. The master reads the
// remote terminal's modes and size from the descriptor it is given as
// stdin (as ssh passes its own terminal): so it is given the terminal side
// of a local pty, set up as the other runners ask for a remote one (no
// echo, the local size), and once the session is open the local pty is
// made raw, so that what the remote terminal writes comes through as it
// is. (As with ssh's own mux client, output in the moment between the two
// is cooked once more: the command has barely started then.)
func (r *muxRunner) startPty(ctx context.Context, cmd string, stdout io.Writer) (process, error) {
	ptm, pts, err := openPty()
	if err != nil {
		return nil, fmt.Errorf("a pty through an OpenSSH master: %w", err)
	}
	w, h := ptySize()
	fd := int(pts.Fd())
	unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(h), Col: uint16(w)})
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err == nil {
		t.Lflag &^= unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHONL
		t.Ispeed, t.Ospeed = unix.B38400, unix.B38400
		t.Cflag = t.Cflag&^unix.CBAUD | unix.B38400
		err = unix.IoctlSetTermios(fd, unix.TCSETS, t)
	}
	if err != nil {
		closeFiles(ptm, pts)
		return nil, fmt.Errorf("a pty through an OpenSSH master: %w", err)
	}
	s, done, err := r.session(ctx, sshmux.SessionRequest{Command: cmd, TTY: true, Term: ptyTerm(), Env: r.env}, pts, pts, pts)
	if err != nil {
		closeFiles(ptm, pts)
		return nil, err
	}
	raw := *t
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag = raw.Cflag&^(unix.CSIZE|unix.PARENB) | unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	unix.IoctlSetTermios(fd, unix.TCSETS, &raw)
	pts.Close() // the master has its own: the terminal ends when it closes them
	p := &muxProc{r: r, s: s, done: done, in: ptyInput{ptm}}
	p.copy(stdout, ptm)
	return p, nil
}

// ptyInput writes to a pty; closing it does nothing (the same descriptor
// reads the output; the end of a terminal's input is not a thing an SSH
// pty session has either).
type ptyInput struct{ f *os.File }

func (p ptyInput) Write(b []byte) (int, error) { return p.f.Write(b) }
func (p ptyInput) Close() error                { return nil }

// openPty opens a new pty pair: the controlling side (non-blocking, so
// that closing it ends a read) and the terminal.
func openPty() (ptm, pts *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	ptm = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		ptm.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		ptm.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		return nil, nil, err
	}
	return ptm, pts, nil
}
