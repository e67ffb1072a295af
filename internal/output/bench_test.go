package output

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// benchOutput is 64 KB of 80-byte lines, as a chatty command prints them.
func benchOutput() []byte {
	line := strings.Repeat("x", 79) + "\n"
	return []byte(strings.Repeat(line, 64*1024/len(line)))
}

// BenchmarkLinesBulk: a host's output arriving in 32 KB reads (an SSH
// channel's window), cut into prefixed lines.
func BenchmarkLinesBulk(b *testing.B) {
	data := benchOutput()
	p := NewPrinter(io.Discard, io.Discard)
	l := &Lines{P: p, Prefix: "web0042.example.com | "}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		l.Write(data[:32*1024])
		l.Write(data[32*1024:])
	}
}

// BenchmarkLinesOnePerWrite: one short line per Write, as a command that
// prints a line now and then delivers it (the usual case: `uname -n`).
func BenchmarkLinesOnePerWrite(b *testing.B) {
	line := []byte("Linux web0042 6.1.0-18-amd64 #1 SMP Debian x86_64 GNU/Linux\n")
	p := NewPrinter(io.Discard, io.Discard)
	l := &Lines{P: p, Prefix: "web0042.example.com | "}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		l.Write(line)
	}
}

// BenchmarkLinesSplit: lines cut across writes (a read boundary in mid line).
func BenchmarkLinesSplit(b *testing.B) {
	data := benchOutput()
	p := NewPrinter(io.Discard, io.Discard)
	l := &Lines{P: p, Prefix: "web0042.example.com | "}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(data); off += 1000 { // 1000 is no multiple of 80
			l.Write(data[off:min(off+1000, len(data))])
		}
	}
}

// BenchmarkSanitizeClean: the check every line pays when it holds nothing to escape.
func BenchmarkSanitizeClean(b *testing.B) {
	line := []byte("Linux web0042 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64 GNU/Linux")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		Sanitize(line)
	}
}

// BenchmarkSanitizeEscapes: a line with colour escapes, which are shown, not obeyed.
func BenchmarkSanitizeEscapes(b *testing.B) {
	line := bytes.Repeat([]byte("\x1b[32mok\x1b[0m service running "), 4)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		Sanitize(line)
	}
}
