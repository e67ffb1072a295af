// Package watch filters a command's output stream as it passes: it removes
// or masks exact tokens (a sudo prompt, a marker, a secret that must never
// be shown) and calls back when a token or a pattern appears, so that
// prompts can be answered on the command's stdin.
package watch

import (
	"bytes"
	"io"
	"regexp"
	"sync"
)

// Token is an exact byte string to find in the stream.
type Token struct {
	Text    string
	Replace string // what the output shows instead of Text
	OnMatch func() // called (synchronously) each time Text passes; may be nil
	// Active, if set, is asked before each match: while it returns false
	// the token is not looked for and its text passes unchanged (a sudo
	// prompt is answered only until sudo is done; after that the same text
	// is the command's output).
	Active func() bool
}

func (t *Token) off() bool { return t.Text == "" || t.Active != nil && !t.Active() }

// Pattern is a regular expression watched for in the output; the text is
// passed on unchanged. Each match is reported once.
type Pattern struct {
	Re      *regexp.Regexp
	OnMatch func()
}

// maxWindow bounds the text kept for pattern matching.
const maxWindow = 4096

// Writer passes what is written to it on to W, with Tokens replaced.
// It holds back at most the longest token's length minus one byte while a
// token might still be completing; Flush releases it. Writer is safe for
// concurrent use, so stdout and stderr may share one.
type Writer struct {
	W        io.Writer
	Tokens   []Token
	Patterns []Pattern

	mu     sync.Mutex
	held   []byte // a tail that may be the start of a token
	window []byte // recent output, for patterns
}

// Write implements io.Writer. It always reports len(p) written unless W fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append(w.held, p...)
	w.held = nil
	var out []byte
	fed := 0
	feed := func() { // patterns see each byte once, tokens already replaced
		w.see(out[fed:])
		fed = len(out)
	}
	for {
		i, t := w.first(buf)
		if t == nil {
			break
		}
		out = append(out, buf[:i]...)
		out = append(out, t.Replace...)
		buf = buf[i+len(t.Text):]
		feed() // patterns see the text before the token before its callback runs
		if t.OnMatch != nil {
			t.OnMatch()
		}
	}
	// Keep back the longest suffix of buf that is a prefix of some token.
	keep := w.partial(buf)
	out = append(out, buf[:len(buf)-keep]...)
	w.held = append([]byte(nil), buf[len(buf)-keep:]...)
	feed()
	if len(out) > 0 {
		if _, err := w.W.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// see feeds new output to the patterns; each match is reported once
// because the window is cut after it.
func (w *Writer) see(out []byte) {
	if len(w.Patterns) == 0 || len(out) == 0 {
		return
	}
	w.window = append(w.window, out...)
	for {
		best, end := -1, 0
		for i, p := range w.Patterns {
			if loc := p.Re.FindIndex(w.window); loc != nil && (best < 0 || loc[1] < end) {
				best, end = i, loc[1]
			}
		}
		if best < 0 {
			break
		}
		w.window = w.window[end:]
		if f := w.Patterns[best].OnMatch; f != nil {
			f()
		}
	}
	if len(w.window) > maxWindow {
		w.window = append([]byte(nil), w.window[len(w.window)-maxWindow:]...)
	}
}

// first finds the earliest token in buf.
func (w *Writer) first(buf []byte) (int, *Token) {
	at, found := -1, (*Token)(nil)
	for i := range w.Tokens {
		t := &w.Tokens[i]
		if t.off() {
			continue
		}
		if j := bytes.Index(buf, []byte(t.Text)); j >= 0 && (at < 0 || j < at) {
			at, found = j, t
		}
	}
	return at, found
}

// partial returns the length of the longest suffix of buf that is a proper
// prefix of a token.
func (w *Writer) partial(buf []byte) int {
	best := 0
	for i := range w.Tokens {
		t := &w.Tokens[i]
		if t.off() {
			continue
		}
		n := len(t.Text) - 1
		if n > len(buf) {
			n = len(buf)
		}
		for ; n > best; n-- {
			if bytes.HasSuffix(buf, []byte(t.Text[:n])) {
				best = n
				break
			}
		}
	}
	return best
}

// Flush writes out any held-back bytes (call it when the stream ends).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.held) == 0 {
		return nil
	}
	held := w.held
	w.held = nil
	w.see(held)
	_, err := w.W.Write(held)
	return err
}

// Stop flushes what is held back, then drops everything written from now
// on (W is no longer written to): for a command Loom has stopped waiting
// for, whose output may still arrive while its Result is read.
func (w *Writer) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.held) > 0 {
		w.see(w.held)
		w.W.Write(w.held)
		w.held = nil
	}
	w.W = io.Discard
}

// bufPool holds copy buffers: io.Copy into a Writer would otherwise
// allocate 32 KiB per stream per command, which adds up over thousands of
// hosts.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// ReadFrom implements io.ReaderFrom, so io.Copy uses a pooled buffer.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		m, err := r.Read(buf)
		if m > 0 {
			n += int64(m)
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
