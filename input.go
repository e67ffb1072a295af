package loom

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// DefaultInputMemory is how much of an Input is kept in memory; the rest is
// spooled to a private temporary file.
const DefaultInputMemory = 8 << 20

// Input is one standard input given to many commands: it reads its source
// once and each Reader replays all of it from the start, so that
//
//	in := loom.NewInput(os.Stdin)
//	defer in.Close()
//	g := &loom.Group{Hosts: hosts, Stdin: in}
//	g.Run(ctx, "tar", "-x", "-C", "/srv")
//
// sends the same bytes to every host. The source is read as fast as it
// gives data, independently of how fast the commands read: the first
// MaxMemory bytes are kept in memory and the rest in a temporary file that
// only this process can open (mode 0600, removed from its directory at
// once where the system allows, and by Close), so gigabytes of input cost
// disk, not memory. Readers may start before the source ends; they wait for
// more. A read error of the source (or of the spool) reaches every Reader
// after the bytes before it, so a command never sees a cut input as whole.
type Input struct {
	// MaxMemory is how many bytes are kept in memory (default
	// DefaultInputMemory). Set it before the first Reader.
	MaxMemory int

	src   io.Reader
	start sync.Once

	mu     sync.Mutex
	more   *sync.Cond // broadcast when size, done, err or closed change
	mem    []byte
	spool  *os.File
	size   int64 // bytes read from src so far (mem, then spool)
	done   bool  // src is at its end (or failed: err)
	err    error
	closed bool
}

// NewInput returns an Input that replays what r gives. r is read from the
// first call of Reader on, until its end.
func NewInput(r io.Reader) *Input {
	in := &Input{src: r}
	in.more = sync.NewCond(&in.mu)
	return in
}

// Reader returns a reader of the whole input from its first byte. Every
// call returns a new, independent reader.
func (in *Input) Reader() io.Reader {
	in.start.Do(func() { go in.fill() })
	return &inputReader{in: in}
}

// Close stops reading the source, removes the spool file and makes readers
// return io.ErrClosedPipe.
func (in *Input) Close() error {
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
func (in *Input) fill() {
	limit := in.MaxMemory
	if limit <= 0 {
		limit = DefaultInputMemory
	}
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
func (in *Input) add(p []byte, limit int) error {
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

// inputReader is one replay of an Input.
type inputReader struct {
	in      *Input
	off     int64
	stopped bool // set by stop, under in.mu
}

func (r *inputReader) Read(p []byte) (int, error) {
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

// stop makes a pending or later Read return at once: the command it feeds
// has ended.
func (r *inputReader) stop() {
	r.in.mu.Lock()
	r.stopped = true
	r.in.more.Broadcast()
	r.in.mu.Unlock()
}
