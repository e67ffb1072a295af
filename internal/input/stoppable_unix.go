//go:build unix

package input

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// stoppableFile makes a file's reads stoppable: each Read first polls the
// file together with a pipe of its own, and stop writes to that pipe, so a
// Read never stays pending in the file after stop.
func stoppableFile(r io.Reader) (io.Reader, func(), bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, nil, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	p, err := wakePipe()
	if err != nil {
		return nil, nil, false
	}
	fr := &fileReader{f: f, rc: rc, wake: p}
	return fr, fr.stop, true
}

// fileReader reads f, each Read polling f and the wake pipe. The pipe is
// closed by the first Read that returns an error (the copying then ends):
// stop never writes to it after that.
type fileReader struct {
	f    *os.File
	rc   interface{ Control(func(fd uintptr)) error }
	wake [2]int

	mu      sync.Mutex
	stopped bool
	closed  bool // the wake pipe is closed
}

func (r *fileReader) Read(p []byte) (n int, err error) {
	defer func() {
		if err != nil {
			r.release()
		}
	}()
	for {
		r.mu.Lock()
		stopped := r.stopped
		r.mu.Unlock()
		if stopped {
			return 0, ErrStopped
		}
		var ready, woken bool
		var perr error
		err := r.rc.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(r.wake[0]), Events: unix.POLLIN}}
			if _, perr = unix.Poll(fds, -1); perr != nil {
				return
			}
			woken = fds[1].Revents != 0
			ready = fds[0].Revents != 0
		})
		switch {
		case err != nil:
			return 0, err
		case errors.Is(perr, unix.EINTR):
			continue
		case perr != nil:
			return r.f.Read(p) // poll does not work here: read as before
		case woken:
			return 0, ErrStopped
		case ready:
			return r.f.Read(p)
		}
	}
}

// stop ends a pending Read and makes later ones fail.
func (r *fileReader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if !r.closed {
		unix.Write(r.wake[1], []byte{0})
	}
}

// release closes the wake pipe, once the reading is over.
func (r *fileReader) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		unix.Close(r.wake[0])
		unix.Close(r.wake[1])
	}
}
