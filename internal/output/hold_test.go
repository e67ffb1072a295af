package output

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a writer the test reads while the printer writes.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHoldKeepsTheTerminalForAPrompt: Hold erases the progress line; while
// held, the progress line is not redrawn and lines are kept back, in order;
// Release writes them and the progress line comes back.
func TestHoldKeepsTheTerminalForAPrompt(t *testing.T) {
	var out, errs syncBuf
	p := NewPrinter(&out, &errs)
	drawn := make(chan struct{}, 100)
	var mu sync.Mutex
	held := false
	stop := p.Progress(time.Millisecond, func() string {
		mu.Lock()
		if held {
			t.Error("the progress line was drawn while held")
		}
		mu.Unlock()
		select {
		case drawn <- struct{}{}:
		default:
		}
		return "[progress]"
	})
	defer stop()
	<-drawn
	p.Hold()
	mu.Lock()
	held = true
	mu.Unlock()
	if s := errs.String(); !strings.HasSuffix(s, "[progress]\r\033[K") {
		t.Fatalf("progress not erased by Hold: %q", s)
	}
	before := errs.String()
	p.Line(false, "h1 | ", []byte("one"))
	p.Line(true, "h2 ! ", []byte("two"))
	p.Line(false, "h1 | ", []byte("three"))
	time.Sleep(20 * time.Millisecond) // twenty ticks of the progress line: none may draw
	if errs.String() != before || out.String() != "" {
		t.Fatalf("written while held: %q %q", out.String(), strings.TrimPrefix(errs.String(), before))
	}
	mu.Lock()
	held = false
	mu.Unlock()
	p.Release()
	if out.String() != "h1 | one\nh1 | three\n" || !strings.HasSuffix(errs.String(), "h2 ! two\n") {
		t.Fatalf("after Release: %q %q", out.String(), errs.String())
	}
	for len(drawn) > 0 {
		<-drawn
	}
	<-drawn // the progress line is back
}

// TestHoldBounded: past MaxHeld, a write waits for the Release instead of
// growing without bound.
func TestHoldBounded(t *testing.T) {
	var out syncBuf
	p := NewPrinter(&out, &out)
	p.Hold()
	big := make([]byte, MaxHeld-10)
	p.Write(false, big)
	wrote := make(chan struct{})
	go func() {
		p.Write(false, make([]byte, 100))
		close(wrote)
	}()
	select {
	case <-wrote:
		t.Fatal("a write past MaxHeld did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	p.Release()
	<-wrote
	if n := len(out.String()); n != MaxHeld-10+100 {
		t.Fatalf("%d bytes written, want %d", n, MaxHeld-10+100)
	}
}
