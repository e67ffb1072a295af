// Package input gives commands their standard input: a Spool reads one
// source once and replays it whole to every reader (many hosts, one piped
// stdin), and Stoppable makes a reader whose pending Read can be ended when
// the command it feeds has ended, so that input meant for whatever reads
// the same source next (a terminal's next line) is not taken.
package input

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// DefaultMemory is how much of a Spool is kept in memory; the rest goes to
// a private temporary file.
const DefaultMemory = 8 << 20

// Spool is one input given to many readers: it reads its source once, as
// fast as the source gives data, whatever the readers do; the first bytes
// are kept in memory, the rest in a temporary file only this process can
// open (mode 0600, removed from its directory at once where the system
// allows, and by Close). Readers start from the first byte and wait for
// more. A read error of the source (or of the spool) reaches every reader
// after the bytes before it.
type Spool struct {
	maxMemory int
	src       io.Reader
	start     sync.Once

	mu     sync.Mutex
	more   *sync.Cond // broadcast when size, done, err or closed change
	mem    []byte
	spool  *os.File
	size   int64 // bytes read from src so far (mem, then spool)
	done   bool  // src is at its end (or failed: err)
	err    error
	closed bool
}

// New returns a Spool that replays what r gives, keeping the first
// maxMemory bytes in memory (DefaultMemory when 0 or less). r is read from
// the first call of Reader on, until its end.
func New(r io.Reader, maxMemory int) *Spool {
	if maxMemory <= 0 {
		maxMemory = DefaultMemory
	}
	in := &Spool{src: r, maxMemory: maxMemory}
	in.more = sync.NewCond(&in.mu)
	return in
}

// Reader returns a reader of the whole input from its first byte. Every
// call returns a new, independent reader.
func (in *Spool) Reader() io.Reader {
	in.start.Do(func() { go in.fill() })
	return &reader{in: in}
}

// Close stops reading the source, removes the spool file and makes readers
// return io.ErrClosedPipe.
func (in *Spool) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	in.closed = true
	in.more.Broadcast()
	if in.spool != nil {
		name := in.spool.Name()
		in.spool.Close()
		os.Remove(name) // already gone where open files may be removed
	}
	return nil
}

// fill copies the source into memory, then into the spool file.
func (in *Spool) fill() {
	limit := in.maxMemory
	buf := make([]byte, 64<<10)
	for {
		n, err := in.src.Read(buf)
		if n > 0 {
			if werr := in.add(buf[:n], limit); werr != nil {
				err = werr
			}
		}
		if err != nil {
			in.mu.Lock()
			if !errors.Is(err, io.EOF) && in.err == nil {
				in.err = err
			}
			in.done = true
			in.more.Broadcast()
			in.mu.Unlock()
			return
		}
		in.mu.Lock()
		closed := in.closed
		in.mu.Unlock()
		if closed {
			return
		}
	}
}

// add appends p to the input: to memory while it fits, then to the spool.
func (in *Spool) add(p []byte, limit int) error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return io.ErrClosedPipe
	}
	if in.spool == nil && len(in.mem)+len(p) <= limit {
		in.mem = append(in.mem, p...)
		in.size += int64(len(p))
		in.more.Broadcast()
		in.mu.Unlock()
		return nil
	}
	f := in.spool
	in.mu.Unlock()
	if f == nil {
		var err error
		if f, err = os.CreateTemp("", "loom-stdin-*"); err != nil { // 0600
			return fmt.Errorf("stdin spool: %w", err)
		}
		os.Remove(f.Name()) // on Unix the file lives on, unnamed, while open
		in.mu.Lock()
		if in.closed {
			in.mu.Unlock()
			f.Close()
			return io.ErrClosedPipe
		}
		in.spool = f
		in.mu.Unlock()
	}
	// Only this goroutine writes, and readers read below size only, so the
	// write needs no lock.
	if _, err := f.WriteAt(p, in.size-int64(len(in.mem))); err != nil {
		return fmt.Errorf("stdin spool: %w", err)
	}
	in.mu.Lock()
	in.size += int64(len(p))
	in.more.Broadcast()
	in.mu.Unlock()
	return nil
}

// reader is one replay of a Spool.
type reader struct {
	in      *Spool
	off     int64
	stopped bool // set by stop, under in.mu
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	in := r.in
	in.mu.Lock()
	for r.off >= in.size && !in.done && !in.closed && !r.stopped {
		in.more.Wait()
	}
	switch {
	case in.closed || r.stopped:
		in.mu.Unlock()
		return 0, io.ErrClosedPipe
	case r.off >= in.size:
		err := in.err
		in.mu.Unlock()
		if err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if r.off < int64(len(in.mem)) {
		n := copy(p, in.mem[r.off:])
		in.mu.Unlock()
		r.off += int64(n)
		return n, nil
	}
	f, avail := in.spool, in.size-r.off
	in.mu.Unlock()
	if int64(len(p)) > avail {
		p = p[:avail]
	}
	n, err := f.ReadAt(p, r.off-int64(len(in.mem)))
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	if err != nil {
		return n, fmt.Errorf("stdin spool: %w", err)
	}
	return n, nil
}

// Stop makes a pending or later Read return at once: the command it feeds
// has ended.
func (r *reader) Stop() {
	r.in.mu.Lock()
	r.stopped = true
	r.in.more.Broadcast()
	r.in.mu.Unlock()
}
