package cli

import (
	"io"
	"os"
)

// inputLeft reports whether r, read up to the end of a line, has more to
// give now: for a regular file, bytes past the offset; for a pipe (Unix),
// bytes already written into it; for a reader in memory, another byte.
// known is false where that cannot be told without waiting (a pipe whose
// writer has written nothing more yet, or any pipe off Unix).
func inputLeft(r io.Reader) (more, known bool) {
	f, ok := r.(*os.File)
	if !ok {
		var b [1]byte
		n, _ := r.Read(b[:])
		return n > 0, true
	}
	fi, err := f.Stat()
	if err != nil {
		return false, false
	}
	if fi.Mode().IsRegular() {
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return false, false
		}
		return fi.Size() > off, true
	}
	n, ok := pipeBuffered(f)
	if ok && n > 0 {
		return true, true
	}
	return false, false
}

// watchLeft calls said, once, if more input arrives on f later: for the
// one-line warning that it is not sent. It reads at most one byte.
func watchLeft(r io.Reader, said func()) {
	go func() {
		var b [1]byte
		if n, _ := r.Read(b[:]); n > 0 {
			said()
		}
	}()
}
