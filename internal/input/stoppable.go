package input

import (
	"errors"
	"io"
)

// Stoppable returns a reader for a command's stdin and a function that ends
// a Read pending in it once the command has ended, so that the copying
// goroutine does not go on reading (and lose) input meant for whatever
// reads the same source next: the next command, or a password prompt on
// the terminal. waits reports whether the stop takes effect: then the
// caller can wait for the copying to end.
//
// A Spool's readers and files (os.Stdin, a pipe, a terminal; on Unix)
// can be stopped. Another reader that blocks keeps its goroutine until its
// Read returns; what that Read returns is then dropped.
func Stoppable(r io.Reader) (rd io.Reader, stop func(), waits bool) {
	if ir, ok := r.(*reader); ok {
		return ir, ir.Stop, true
	}
	if rd, stop, ok := stoppableFile(r); ok {
		return rd, stop, true
	}
	return r, func() {}, false
}

// ErrStopped is what a stopped Read returns.
var ErrStopped = errors.New("stdin: the command ended")
