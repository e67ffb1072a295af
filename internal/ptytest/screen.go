package ptytest

import "strings"

// Screen is what a terminal shows of a byte stream, enough for tests:
// printable text, carriage return, newline, backspace, and "erase to the
// end of the line" (ESC [ K); other escape sequences (colours) are dropped.
type Screen struct {
	lines []string
	col   int
}

// Write replays b.
func (s *Screen) Write(b []byte) (int, error) {
	if len(s.lines) == 0 {
		s.lines = []string{""}
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		cur := &s.lines[len(s.lines)-1]
		switch {
		case c == '\r':
			s.col = 0
		case c == '\n':
			s.lines = append(s.lines, "")
			s.col = 0
		case c == '\b':
			if s.col > 0 {
				s.col--
			}
		case c == 0x1b && i+1 < len(b) && b[i+1] == '[':
			j := i + 2
			for j < len(b) && (b[j] < 0x40 || b[j] > 0x7e) {
				j++
			}
			if j < len(b) && b[j] == 'K' && s.col < len(*cur) {
				*cur = (*cur)[:s.col]
			}
			i = j
		case c < 0x20:
		default:
			line := []byte(*cur)
			for len(line) < s.col {
				line = append(line, ' ')
			}
			if s.col < len(line) {
				line[s.col] = c
			} else {
				line = append(line, c)
			}
			*cur = string(line)
			s.col++
		}
	}
	return len(b), nil
}

// Last is the line the cursor is on.
func (s *Screen) Last() string {
	if len(s.lines) == 0 {
		return ""
	}
	return s.lines[len(s.lines)-1]
}

// String is the whole screen, lines joined by newlines.
func (s *Screen) String() string { return strings.Join(s.lines, "\n") }
