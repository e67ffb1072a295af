// Package output turns the byte streams of many hosts into whole lines that
// never mix: each line is written in one piece, prefixed with its host.
package output

import (
	"bytes"
	"io"
	"sync"
)

// Sink is one destination shared by every host (stdout, say). Its lock
// makes each line one atomic write.
type Sink struct {
	mu sync.Mutex
	w  io.Writer
}

// NewSink wraps w.
func NewSink(w io.Writer) *Sink { return &Sink{w: w} }

// WriteLine writes prefix, line and a newline as one write.
func (s *Sink) WriteLine(prefix string, line []byte) {
	b := make([]byte, 0, len(prefix)+len(line)+1)
	b = append(b, prefix...)
	b = append(b, line...)
	b = append(b, '\n')
	s.mu.Lock()
	s.w.Write(b)
	s.mu.Unlock()
}

// Write writes p as it is, under the sink's lock.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Lines is an io.Writer for one host's stream: it buffers up to a newline
// and hands whole lines, prefixed, to the Sink. Close flushes a last line
// that had no newline. A line longer than MaxLine is split.
type Lines struct {
	Sink   *Sink
	Prefix string

	mu  sync.Mutex
	buf []byte
}

// MaxLine bounds the bytes held for one unfinished line.
const MaxLine = 64 * 1024

// Write implements io.Writer.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.Sink.WriteLine(l.Prefix, bytes.TrimSuffix(l.buf[:i], []byte{'\r'}))
		l.buf = l.buf[i+1:]
	}
	for len(l.buf) > MaxLine {
		l.Sink.WriteLine(l.Prefix, l.buf[:MaxLine])
		l.buf = l.buf[MaxLine:]
	}
	if len(l.buf) == 0 {
		l.buf = nil // let a large buffer go
	}
	return len(p), nil
}

// Close writes out a last line without newline.
func (l *Lines) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.Sink.WriteLine(l.Prefix, bytes.TrimSuffix(l.buf, []byte{'\r'}))
		l.buf = nil
	}
	return nil
}
