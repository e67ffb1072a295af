// Package output turns the byte streams of many hosts into whole lines that
// never mix: each line is written in one piece, prefixed with its host, and
// a progress line on a terminal is erased before any line and redrawn after.
// While a prompt is on the terminal (Hold), nothing is drawn at all.
package output

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// Printer is the run's stdout and stderr, shared by every host. Its lock
// makes each line one write, and keeps the progress line out of the way.
type Printer struct {
	mu    sync.Mutex
	out   io.Writer
	err   io.Writer
	shown bool // the progress line is on screen

	holds  int        // Hold calls not released: a prompt is on the terminal
	held   []heldLine // writes held back meanwhile, in order
	heldN  int        // their bytes
	resume *sync.Cond // broadcast when the holds end
}

type heldLine struct {
	toErr bool
	b     []byte
}

// MaxHeld bounds the bytes of output held back while a prompt is on the
// terminal; a write beyond it waits for the prompt to be answered.
const MaxHeld = 1 << 20

// NewPrinter writes lines to stdout and stderr.
func NewPrinter(stdout, stderr io.Writer) *Printer { return &Printer{out: stdout, err: stderr} }

// Line writes prefix, line and a newline as one write, to stderr if toErr.
func (p *Printer) Line(toErr bool, prefix string, line []byte) {
	b := make([]byte, 0, len(prefix)+len(line)+1)
	b = append(b, prefix...)
	b = append(b, line...)
	b = append(b, '\n')
	p.Write(toErr, b)
}

// Printf writes formatted text, to stderr if toErr.
func (p *Printer) Printf(toErr bool, format string, args ...any) {
	p.Write(toErr, []byte(fmt.Sprintf(format, args...)))
}

// Write writes b as it is, after erasing the progress line. While a prompt
// is on the terminal (Hold), b is kept and written after it.
func (p *Printer) Write(toErr bool, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.holds > 0 && p.heldN > 0 && p.heldN+len(b) > MaxHeld {
		p.cond().Wait()
	}
	if p.holds > 0 {
		p.held = append(p.held, heldLine{toErr, bytes.Clone(b)})
		p.heldN += len(b)
		return
	}
	p.erase()
	p.write(toErr, b)
}

func (p *Printer) write(toErr bool, b []byte) {
	if toErr {
		p.err.Write(b)
	} else {
		p.out.Write(b)
	}
}

func (p *Printer) cond() *sync.Cond {
	if p.resume == nil {
		p.resume = sync.NewCond(&p.mu)
	}
	return p.resume
}

// Hold clears the progress line and keeps the terminal free for a prompt:
// the progress line is not redrawn, and what is written is held back until
// every Hold is released.
func (p *Printer) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	p.holds++
}

// Release ends a Hold; after the last one the held-back output is written
// and the progress line comes back.
func (p *Printer) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holds == 0 {
		return
	}
	p.holds--
	if p.holds > 0 {
		return
	}
	for _, h := range p.held {
		p.write(h.toErr, h.b)
	}
	p.held, p.heldN = nil, 0
	p.cond().Broadcast()
}

func (p *Printer) erase() {
	if p.shown {
		io.WriteString(p.err, "\r\033[K")
		p.shown = false
	}
}

// Progress shows status() on the last line of stderr (a terminal), redrawn
// every interval, until stop is called; stop erases it.
func (p *Printer) Progress(interval time.Duration, status func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.mu.Lock()
				if p.holds > 0 {
					p.mu.Unlock()
					continue
				}
				p.erase()
				io.WriteString(p.err, status())
				p.shown = true
				p.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		p.mu.Lock()
		p.erase()
		p.mu.Unlock()
	}
}

// Lines is an io.Writer for one host's stream: it buffers up to a newline
// and hands whole lines, prefixed, to the Printer. Close writes a last line
// that had no newline. A line longer than MaxLine is split.
type Lines struct {
	P      *Printer
	Stderr bool
	Prefix string
	// Raw passes control characters through; by default each line is
	// Sanitized, so a remote host cannot drive the operator's terminal.
	Raw bool

	mu  sync.Mutex
	buf []byte
}

// MaxLine bounds the bytes held for one unfinished line.
const MaxLine = 64 * 1024

// Write implements io.Writer.
func (l *Lines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(bytes.TrimSuffix(l.buf[:i], []byte{'\r'}))
		l.buf = l.buf[i+1:]
	}
	for len(l.buf) > MaxLine {
		l.line(l.buf[:MaxLine])
		l.buf = l.buf[MaxLine:]
	}
	if len(l.buf) == 0 {
		l.buf = nil // let a large buffer go
	}
	return len(b), nil
}

// Close writes out a last line without newline.
func (l *Lines) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.line(bytes.TrimSuffix(l.buf, []byte{'\r'}))
		l.buf = nil
	}
	return nil
}

func (l *Lines) line(b []byte) {
	if !l.Raw {
		b = Sanitize(b)
	}
	l.P.Line(l.Stderr, l.Prefix, b)
}
