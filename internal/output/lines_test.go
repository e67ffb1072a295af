package output

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLinesNeverMix(t *testing.T) {
	var out bytes.Buffer
	p := NewPrinter(&out, &out)
	var wg sync.WaitGroup
	for h := 0; h < 20; h++ {
		wg.Add(1)
		go func(h int) {
			defer wg.Done()
			l := &Lines{P: p, Prefix: fmt.Sprintf("h%02d | ", h)}
			for i := 0; i < 200; i++ {
				// write each line in three pieces
				s := fmt.Sprintf("line %d of host %02d\n", i, h)
				l.Write([]byte(s[:3]))
				l.Write([]byte(s[3:9]))
				l.Write([]byte(s[9:]))
			}
			l.Write([]byte("tail without newline"))
			l.Close()
		}(h)
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 20*201 {
		t.Fatalf("got %d lines", len(lines))
	}
	for _, ln := range lines {
		var h1, h2, i int
		if n, _ := fmt.Sscanf(ln, "h%02d | line %d of host %02d", &h1, &i, &h2); n == 3 {
			if h1 != h2 {
				t.Fatalf("mixed line %q", ln)
			}
			continue
		}
		if !strings.HasSuffix(ln, "| tail without newline") {
			t.Fatalf("unexpected line %q", ln)
		}
	}
}

func TestLinesCRLFAndLong(t *testing.T) {
	var out bytes.Buffer
	l := &Lines{P: NewPrinter(&out, &out), Prefix: "p "}
	l.Write([]byte("a\r\nb"))
	l.Write(bytes.Repeat([]byte("x"), MaxLine+10))
	l.Close()
	got := strings.Split(out.String(), "\n")
	if got[0] != "p a" || !strings.HasPrefix(got[1], "p bxxx") || len(got[1]) != 2+MaxLine || got[2] != "p "+strings.Repeat("x", 11) {
		t.Fatalf("got %q...", out.String()[:20])
	}
}

func TestProgressErasedBeforeLines(t *testing.T) {
	var out, errs bytes.Buffer
	p := NewPrinter(&out, &errs)
	// Wait for the progress line to be on screen: the second call of the
	// status function comes after the first line was drawn.
	drawn := make(chan struct{})
	var calls atomic.Int32
	stop := p.Progress(5*time.Millisecond, func() string {
		if calls.Add(1) == 2 {
			close(drawn)
		}
		return "[progress]"
	})
	select {
	case <-drawn:
	case <-time.After(time.Minute):
		t.Fatal("the progress line was never drawn")
	}
	p.Line(true, "h | ", []byte("an error line"))
	stop()
	s := errs.String()
	if !strings.Contains(s, "[progress]") {
		t.Fatalf("progress never drawn: %q", s)
	}
	// The line starts after an erase, never glued to the progress text.
	if strings.Contains(s, "[progress]h | ") || !strings.Contains(s, "\r\033[Kh | an error line\n") {
		t.Fatalf("line not separated from progress: %q", s)
	}
	if !strings.HasSuffix(s, "\r\033[K") && !strings.HasSuffix(s, "an error line\n") {
		t.Fatalf("progress left on screen: %q", s)
	}
}
