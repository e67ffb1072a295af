package output

import (
	"fmt"
	"unicode/utf8"
)

// Sanitize makes one line of a remote host's output safe to print on the
// operator's terminal: control characters (escape sequences above all,
// which could move the cursor, retitle the window or fake other hosts'
// lines) are shown as ^X or \u0085 instead of being obeyed. Tabs are kept;
// invalid UTF-8 is shown as \xNN. It returns line itself when nothing needs
// changing.
func Sanitize(line []byte) []byte {
	clean := true
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRune(line[i:])
		if unsafeRune(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return line
	}
	out := make([]byte, 0, len(line)+16)
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRune(line[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out = fmt.Appendf(out, `\x%02x`, line[i])
		case r < 0x20 && r != '\t':
			out = append(out, '^', byte(r)+'@')
		case r == 0x7f:
			out = append(out, '^', '?')
		case r >= 0x80 && r < 0xa0:
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, line[i:i+n]...)
		}
		i += n
	}
	return out
}

func unsafeRune(r rune, n int) bool {
	return r == utf8.RuneError && n == 1 || r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0
}
