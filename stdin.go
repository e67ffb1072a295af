package loom

import (
	"errors"
	"io"
)

// stoppable returns a reader for a command's stdin and a function that ends
// a Read pending in it once the command has ended, so that the copying
// goroutine does not go on reading (and lose) input meant for whatever
// reads the same source next: the next command, or a password prompt on
// the terminal. waits reports whether the stop takes effect: then the
// caller can wait for the copying to end.
//
// Inputs (Group.Stdin) and files (os.Stdin, a pipe, a terminal; on Unix)
// can be stopped. Another reader that blocks keeps its goroutine until its
// Read returns; what that Read returns is then dropped.
func stoppable(r io.Reader) (rd io.Reader, stop func(), waits bool) {
	if ir, ok := r.(*inputReader); ok {
		return ir, ir.stop, true
	}
	if rd, stop, ok := stoppableFile(r); ok {
		return rd, stop, true
	}
	return r, func() {}, false
}

// errStopped is what a stopped Read returns.
var errStopped = errors.New("stdin: the command ended")
