package output

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestLinesNeverMix(t *testing.T) {
	var out bytes.Buffer
	sink := NewSink(&out)
	var wg sync.WaitGroup
	for h := 0; h < 20; h++ {
		wg.Add(1)
		go func(h int) {
			defer wg.Done()
			l := &Lines{Sink: sink, Prefix: fmt.Sprintf("h%02d | ", h)}
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
	l := &Lines{Sink: NewSink(&out), Prefix: "p "}
	l.Write([]byte("a\r\nb"))
	l.Write(bytes.Repeat([]byte("x"), MaxLine+10))
	l.Close()
	got := strings.Split(out.String(), "\n")
	if got[0] != "p a" || !strings.HasPrefix(got[1], "p bxxx") || len(got[1]) != 2+MaxLine || got[2] != "p "+strings.Repeat("x", 11) {
		t.Fatalf("got %q...", out.String()[:20])
	}
}
