package loom

import (
	"io"
	"sync"

	"github.com/loomssh/loom/internal/input"
)

// DefaultInputMemory is how much of an Input is kept in memory; the rest is
// spooled to a private temporary file.
const DefaultInputMemory = input.DefaultMemory

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
	once  sync.Once
	spool *input.Spool
}

// NewInput returns an Input that replays what r gives. r is read from the
// first call of Reader on, until its end.
func NewInput(r io.Reader) *Input { return &Input{src: r} }

func (in *Input) start() *input.Spool {
	in.once.Do(func() { in.spool = input.New(in.src, in.MaxMemory) })
	return in.spool
}

// Reader returns a reader of the whole input from its first byte. Every
// call returns a new, independent reader.
func (in *Input) Reader() io.Reader { return in.start().Reader() }

// Close stops reading the source, removes the spool file and makes readers
// return io.ErrClosedPipe.
func (in *Input) Close() error { return in.start().Close() }
