package watch

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

func TestTokensSplitAcrossWrites(t *testing.T) {
	var out bytes.Buffer
	hits := 0
	w := &Writer{W: &out, Tokens: []Token{{Text: "[PROMPT]", OnMatch: func() { hits++ }}, {Text: "s3cret", Replace: "***"}}}
	input := "hello [PRO" + "MPT]world s3" + "cret end [PR"
	for _, chunk := range []string{"hello [PRO", "MPT]world s3", "cret end [PR"} {
		w.Write([]byte(chunk))
	}
	if got := out.String(); got != "hello world *** end " {
		t.Fatalf("before flush: %q (input %q)", got, input)
	}
	w.Flush()
	if got := out.String(); got != "hello world *** end [PR" {
		t.Fatalf("after flush: %q", got)
	}
	if hits != 1 {
		t.Fatalf("prompt seen %d times, want 1", hits)
	}
}

func TestTokenByteByByte(t *testing.T) {
	var out bytes.Buffer
	hits := 0
	w := &Writer{W: &out, Tokens: []Token{{Text: "abcabd", OnMatch: func() { hits++ }}}}
	for _, b := range []byte("xabcabcabdy abcabd") {
		w.Write([]byte{b})
	}
	w.Flush()
	if out.String() != "xabcy " || hits != 2 {
		t.Fatalf("got %q hits=%d", out.String(), hits)
	}
}

func TestPatternOncePerMatch(t *testing.T) {
	var out bytes.Buffer
	n := 0
	w := &Writer{W: &out, Patterns: []Pattern{{Re: regexp.MustCompile(`Continue\? \[y/N\]`), OnMatch: func() { n++ }}}}
	w.Write([]byte("Contin"))
	w.Write([]byte("ue? [y/N] "))
	w.Write([]byte("ok\nContinue? [y/N] "))
	if n != 2 {
		t.Fatalf("pattern matched %d times, want 2", n)
	}
	if !strings.Contains(out.String(), "Continue? [y/N] ok") {
		t.Fatalf("text changed: %q", out.String())
	}
}

func FuzzWriter(f *testing.F) {
	f.Add("hello [P][PROMPT] s3cret", 3)
	f.Fuzz(func(t *testing.T, s string, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		var out bytes.Buffer
		w := &Writer{W: &out, Tokens: []Token{{Text: "[PROMPT]"}, {Text: "s3cret", Replace: "******"}}}
		for i := 0; i < len(s); i += chunk {
			j := min(i+chunk, len(s))
			w.Write([]byte(s[i:j]))
		}
		w.Flush()
		want := strings.ReplaceAll(s, "[PROMPT]", "")
		want = strings.ReplaceAll(want, "s3cret", "******")
		// Token removal can create new tokens across the seam; the
		// writer never re-scans replaced output, like a one-pass replace.
		one := strings.NewReplacer("[PROMPT]", "", "s3cret", "******").Replace(s)
		if out.String() != one && out.String() != want {
			t.Fatalf("got %q want %q", out.String(), one)
		}
		if strings.Contains(out.String(), "s3cret") && !strings.Contains(one, "s3cret") {
			t.Fatalf("secret leaked: %q", out.String())
		}
	})
}

func TestReadFromOneByteAtATime(t *testing.T) {
	var out bytes.Buffer
	hits := 0
	w := &Writer{W: &out, Tokens: []Token{{Text: "[P]", OnMatch: func() { hits++ }}}}
	n, err := io.Copy(w, iotest.OneByteReader(strings.NewReader("a[P]b[P]c")))
	w.Flush()
	if err != nil || n != 9 || out.String() != "abc" || hits != 2 {
		t.Fatalf("n=%d err=%v out=%q hits=%d", n, err, out.String(), hits)
	}
}

func TestTokenActive(t *testing.T) {
	var done bool
	var out strings.Builder
	var prompts int
	w := &Writer{W: &out, Tokens: []Token{
		{Text: "PROMPT", OnMatch: func() { prompts++ }, Active: func() bool { return !done }},
		{Text: "MARK\n", OnMatch: func() { done = true }, Active: func() bool { return !done }},
	}}
	// The marker and a later prompt-like text in one write: only the first
	// prompt is a prompt; after the marker both pass unchanged.
	w.Write([]byte("PROMPTMARK\nout PROMPT MARK\nPROM"))
	w.Write([]byte("PT\n"))
	w.Flush()
	if prompts != 1 || out.String() != "out PROMPT MARK\nPROMPT\n" {
		t.Fatalf("prompts %d, output %q", prompts, out.String())
	}
}
